// Prompt-weighting ("attention") syntax of AUTOMATIC1111's stable-diffusion-webui, used by `use_lpw`.
// Ref: stable-diffusion-webui modules/prompt_parser.py `parse_prompt_attention` (and the copy in
// diffusers' community lpw_stable_diffusion pipeline):
//   (text)       weight x 1.1          [text]       weight / 1.1
//   (text:1.3)   weight x 1.3          \( \) \[ \] \\  literal characters
//   nesting multiplies; an unclosed ( or [ applies to the rest of the prompt; BREAK (upper case, as
//   a separate word) starts a new 75-token chunk; adjacent fragments with equal weight are merged.

export interface PromptFragment {
  text: string;
  weight: number;
  /** true for a BREAK marker (text '' and weight -1 in A1111's list). */
  isBreak?: boolean;
}

export interface ParseOptions {
  /** Recognise BREAK as a chunk separator (default true). */
  breakKeyword?: boolean;
}

// Escapes, brackets, ":weight)" closers, plain text runs, and a lone ':'.
const ATTENTION_RE = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()[\]:]+|:/g;
const BREAK_RE = /\s*\bBREAK\b\s*/;

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

export function parsePromptAttention(text: string, opts: ParseOptions = {}): PromptFragment[] {
  const useBreak = opts.breakKeyword ?? true;
  const res: PromptFragment[] = [];
  const round: number[] = [];
  const square: number[] = [];
  const multiplyFrom = (start: number, m: number) => {
    for (let p = start; p < res.length; p++) res[p].weight *= m;
  };
  for (const match of text.matchAll(ATTENTION_RE)) {
    const tok = match[0];
    const weight = match[1];
    if (tok.startsWith('\\')) {
      res.push({ text: tok.slice(1), weight: 1 });
    } else if (tok === '(') {
      round.push(res.length);
    } else if (tok === '[') {
      square.push(res.length);
    } else if (weight !== undefined && round.length > 0 && Number.isFinite(Number(weight))) {
      multiplyFrom(round.pop()!, Number(weight));
    } else if (tok === ')' && round.length > 0) {
      multiplyFrom(round.pop()!, ROUND);
    } else if (tok === ']' && square.length > 0) {
      multiplyFrom(square.pop()!, SQUARE);
    } else {
      const parts = useBreak ? tok.split(BREAK_RE) : [tok];
      parts.forEach((part, i) => {
        if (i > 0) res.push({ text: 'BREAK', weight: -1, isBreak: true });
        res.push({ text: part, weight: 1 });
      });
    }
  }
  for (const pos of round) multiplyFrom(pos, ROUND);
  for (const pos of square) multiplyFrom(pos, SQUARE);
  if (res.length === 0) return [{ text: '', weight: 1 }];
  // Merge runs of identical weights (BREAK markers never merge: their weight -1 is unique to them).
  for (let i = 0; i + 1 < res.length; ) {
    if (res[i].weight === res[i + 1].weight && !res[i].isBreak && !res[i + 1].isBreak) {
      res[i].text += res[i + 1].text;
      res.splice(i + 1, 1);
    } else i++;
  }
  return res;
}
