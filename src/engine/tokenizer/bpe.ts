// Byte-pair encoding of one pre-split word with a merge-rank table.
// Ref: Sennrich et al. 2016 "Neural Machine Translation of Rare Words with Subword Units"; the CLIP
// variant (openai/CLIP simple_tokenizer.py `bpe`) marks the end of a word by appending "</w>" to its
// last symbol and repeatedly merges the adjacent pair with the lowest rank (earliest in merges.txt),
// all occurrences of it left to right, until no ranked pair is left.

const END_OF_WORD = '</w>';

export class BytePairEncoder {
  private readonly ranks: Map<string, number>;
  private readonly cache = new Map<string, string[]>();
  private readonly maxCacheEntries: number;

  /** `merges` in priority order, each "left right". */
  constructor(merges: readonly string[], maxCacheEntries = 50_000) {
    this.ranks = new Map(merges.map((m, i) => [m, i]));
    this.maxCacheEntries = maxCacheEntries;
  }

  /** Symbols of `word` (already in byte-level characters) after all merges. */
  encode(word: string): string[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const chars = Array.from(word);
    if (chars.length === 0) return [];
    const symbols = chars.slice(0, -1);
    symbols.push(chars[chars.length - 1] + END_OF_WORD);
    const result = this.mergeAll(symbols);
    if (this.cache.size >= this.maxCacheEntries) this.cache.clear();
    this.cache.set(word, result);
    return result;
  }

  private mergeAll(symbols: string[]): string[] {
    while (symbols.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestPair = '';
      for (let i = 0; i + 1 < symbols.length; i++) {
        const pair = `${symbols[i]} ${symbols[i + 1]}`;
        const r = this.ranks.get(pair);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          bestPair = pair;
        }
      }
      if (bestRank === Number.POSITIVE_INFINITY) break;
      const [left, right] = bestPair.split(' ');
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i += 2;
        } else {
          merged.push(symbols[i]);
          i += 1;
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
