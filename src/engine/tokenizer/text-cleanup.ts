// Text normalisation applied before CLIP's regex split.
// Ref: transformers 4.30 CLIPTokenizer._tokenize (with ftfy installed):
//   whitespace_clean(ftfy.fix_text(text)).lower()
// and openai/CLIP simple_tokenizer.py basic_clean (fix_text, then html.unescape twice).
// `fixText` implements the parts of ftfy 6.1 `fix_text` (default config) that change ordinary prompts,
// in ftfy's order: HTML unescape (only when the text has no '<', ftfy's "auto" mode), terminal escape
// removal, C1 controls read as Windows-1252, Latin ligatures, full-width characters, curly quotes,
// line breaks, control characters, NFC. Not implemented: ftfy's mojibake detection
// (`fix_encoding`: re-decoding text that was UTF-8 read as Latin-1/cp1252), which needs its large
// statistical "badness" heuristic; prompts typed by users almost never carry mojibake.

import { cp1252C1, unescapeHtml } from './html-entities.ts';

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC
const TERMINAL_ESCAPE_RE = /\x1b\[[0-9;]*[A-Za-z]/g;
const C1_RE = /[\x80-\x9f]/g;
const LIGATURES: Record<string, string> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LIGATURE_RE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');
// Full-width ASCII, the ideographic space, and half-width katakana / hangul (ftfy: NFKC on these only).
const WIDTH_RE = /[\u3000\uff01-\uff5e\uff61-\uffdc\uffe0-\uffee]/g;
const SINGLE_QUOTE_RE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE_RE = /[\u201c-\u201f]/g;
const LINE_BREAK_RE = /\r\n|[\r\u2028\u2029\u0085]/g;

/** ftfy chardata.CONTROL_CHARS: C0 controls except tab, LF, FF, CR; DEL; deprecated format chars; BOM; tags. */
function isFtfyControl(cp: number): boolean {
  return (
    (cp <= 0x1f && cp !== 0x09 && cp !== 0x0a && cp !== 0x0c && cp !== 0x0d) ||
    cp === 0x7f ||
    (cp >= 0x206a && cp <= 0x206f) ||
    cp === 0xfeff ||
    (cp >= 0xfff9 && cp <= 0xfffc) ||
    (cp >= 0x1d173 && cp <= 0x1d17a) ||
    (cp >= 0xe0000 && cp <= 0xe007f)
  );
}

function removeControlChars(text: string): string {
  let out = '';
  for (const ch of text) if (!isFtfyControl(ch.codePointAt(0)!)) out += ch;
  return out;
}

export function fixText(text: string): string {
  if (!text.includes('<')) text = unescapeHtml(text);
  text = text.replace(TERMINAL_ESCAPE_RE, '');
  text = text.replace(C1_RE, (c) => {
    const cp = cp1252C1(c.codePointAt(0)!);
    return cp === undefined ? c : String.fromCodePoint(cp);
  });
  text = text.replace(LIGATURE_RE, (c) => LIGATURES[c]);
  text = text.replace(WIDTH_RE, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
  text = text.replace(SINGLE_QUOTE_RE, "'").replace(DOUBLE_QUOTE_RE, '"');
  text = text.replace(LINE_BREAK_RE, '\n');
  text = removeControlChars(text);
  return text.normalize('NFC');
}

// Python's `\s` / str.isspace() for str patterns (JS `\s` differs: it lacks \x1c-\x1f and \x85, has \ufeff).
export const PY_WHITESPACE =
  '\\t\\n\\x0b\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITESPACE_RUN_RE = new RegExp(`[${PY_WHITESPACE}]+`, 'g');
const EDGE_WHITESPACE_RE = new RegExp(`^[${PY_WHITESPACE}]+|[${PY_WHITESPACE}]+$`, 'g');

/** CLIP's whitespace_clean: every whitespace run becomes one space, then strip. */
export function whitespaceClean(text: string): string {
  return text.replace(WHITESPACE_RUN_RE, ' ').replace(EDGE_WHITESPACE_RE, '');
}
