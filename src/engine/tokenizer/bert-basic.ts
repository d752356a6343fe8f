// The pre-tokenizer transformers 4.30's CLIPTokenizer falls back to when ftfy is NOT installed:
// BasicTokenizer(do_lower_case=True) from the BERT tokenizer, whose tokens are joined with spaces.
// Ref: transformers 4.30 models/bert/tokenization_bert.py BasicTokenizer (clean text, spaces around
// CJK ideographs, NFC, whitespace split, lowercase + strip accents (NFD minus Mn), split on every
// punctuation character). Only used for the `hf_slow_no_ftfy` variant, which shows how set-ups
// without ftfy tokenize differently (café -> cafe, don't -> don ' t).

const CONTROL_OR_INVALID = /[\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}]/u;
const BERT_WHITESPACE = /[ \t\n\r\p{Zs}]/u;
const PUNCT = /[\p{P}]/u;

function isBertWhitespace(ch: string): boolean {
  return BERT_WHITESPACE.test(ch);
}

function isBertControl(ch: string): boolean {
  if (ch === '\t' || ch === '\n' || ch === '\r') return false;
  return CONTROL_OR_INVALID.test(ch);
}

function isBertPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (
    (cp >= 33 && cp <= 47) ||
    (cp >= 58 && cp <= 64) ||
    (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) {
    return true;
  }
  return PUNCT.test(ch);
}

function isCjkIdeograph(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

const COMBINING_MARK = /\p{Mn}/gu;

export function bertBasicTokenize(text: string): string[] {
  let cleaned = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd || isBertControl(ch)) continue;
    if (isBertWhitespace(ch)) cleaned += ' ';
    else if (isCjkIdeograph(cp)) cleaned += ` ${ch} `;
    else cleaned += ch;
  }
  const out: string[] = [];
  for (const raw of cleaned.normalize('NFC').split(/[ \t\n\r]+/)) {
    if (!raw) continue;
    const token = raw.toLowerCase().normalize('NFD').replace(COMBINING_MARK, '');
    let current = '';
    for (const ch of token) {
      if (isBertPunctuation(ch)) {
        if (current) out.push(current);
        out.push(ch);
        current = '';
      } else current += ch;
    }
    if (current) out.push(current);
  }
  return out;
}
