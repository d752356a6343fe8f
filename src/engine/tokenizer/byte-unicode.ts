// Ref: openai/CLIP simple_tokenizer.py `bytes_to_unicode` (the GPT-2 byte-level BPE mapping).
// Every byte gets a printable unicode character so BPE can work on strings: the 188 printable
// latin-1 bytes map to themselves, the remaining 68 to U+0100 + n in byte order.

function buildByteEncoder(): string[] {
  const printable = new Set<number>();
  const ranges: [number, number][] = [
    [0x21, 0x7e], // '!'..'~'
    [0xa1, 0xac], // '¡'..'¬'
    [0xae, 0xff], // '®'..'ÿ'
  ];
  for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) printable.add(b);
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(printable.has(b) ? b : 256 + extra++);
  }
  return table;
}

/** byte value (0..255) -> the unicode character standing for it in vocab.json / merges.txt. */
export const BYTE_ENCODER: readonly string[] = buildByteEncoder();

/** Inverse of BYTE_ENCODER. */
export const BYTE_DECODER: ReadonlyMap<string, number> = new Map(BYTE_ENCODER.map((ch, b) => [ch, b]));

const utf8 = new TextEncoder();

/** UTF-8 bytes of `text`, each replaced by its byte-level character. */
export function toByteLevel(text: string): string {
  let out = '';
  for (const b of utf8.encode(text)) out += BYTE_ENCODER[b];
  return out;
}

/** Inverse of toByteLevel (invalid UTF-8 becomes U+FFFD, like errors="replace"). */
export function fromByteLevel(text: string): string {
  const bytes: number[] = [];
  for (const ch of text) {
    const b = BYTE_DECODER.get(ch);
    if (b !== undefined) bytes.push(b);
  }
  return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
}
