// CLIP BPE tokenizer (Stable Diffusion 1.x / 2.x text encoders).
// Ref: openai/CLIP clip/simple_tokenizer.py and transformers 4.30 CLIPTokenizer (slow), which agree on
// every prompt of refs/tokenizer.json when ftfy is installed. Steps: text cleanup (text-cleanup.ts),
// literal special tokens kept whole, CLIP's regex split, UTF-8 bytes -> byte-level characters, BPE with
// merges.txt, vocab.json lookup; then [BOS] + ids + [EOS], truncated / padded to 77.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bertBasicTokenize } from './bert-basic.ts';
import { BytePairEncoder } from './bpe.ts';
import { toByteLevel } from './byte-unicode.ts';
import { unescapeHtml } from './html-entities.ts';
import { fixText, whitespaceClean } from './text-cleanup.ts';

export const BOS_TOKEN = '<|startoftext|>';
export const EOS_TOKEN = '<|endoftext|>';
export const CLIP_MAX_LENGTH = 77;

/**
 * - `hf_slow_ftfy` (default): transformers' CLIPTokenizer with ftfy installed, what real SD set-ups use.
 * - `openai_clip`: openai/CLIP SimpleTokenizer (also html-unescapes twice; special-token text matched
 *   after lowercasing).
 * - `hf_slow_no_ftfy`: transformers 4.30 without ftfy (BERT BasicTokenizer pre-split).
 */
export type ClipTokenizerVariant = 'hf_slow_ftfy' | 'openai_clip' | 'hf_slow_no_ftfy';

export interface ClipEncoding {
  /** Exactly `maxLength` ids: [BOS] ids [EOS], cut to maxLength with the last kept id forced to EOS, padded with PAD. */
  inputIds: Int32Array;
  /** [BOS] ids [EOS] without truncation or padding. */
  untruncatedIds: number[];
  /** Token strings of untruncatedIds (byte-level characters, "</w>" marks a word end). */
  tokens: string[];
}

/** A JSON object from an optional file ({} when the file is absent); a malformed file is an error naming it. */
function readJsonObject(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${file}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** A special token as transformers writes it: a string, or an AddedToken object with `content`. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
    return (v as { content: string }).content;
  return undefined;
}

// CLIP's pre-tokenizer pattern; Python's `regex` module with IGNORECASE, \p{L} letters, \p{N} numbers.
const CLIP_SPLIT_RE = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

export interface ClipTokenizerFiles {
  vocab: Record<string, number>;
  merges: string[];
}

export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly maxLength: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly bpe: BytePairEncoder;
  private readonly specialTokens: string[];

  constructor(files: ClipTokenizerFiles, options: { maxLength?: number; padToken?: string } = {}) {
    this.encoder = new Map(Object.entries(files.vocab));
    this.decoder = [];
    for (const [tok, id] of this.encoder) this.decoder[id] = tok;
    this.bpe = new BytePairEncoder(files.merges);
    this.bosId = this.requireId(BOS_TOKEN);
    this.eosId = this.requireId(EOS_TOKEN);
    this.padId = this.requireId(options.padToken ?? EOS_TOKEN);
    this.maxLength = options.maxLength ?? CLIP_MAX_LENGTH;
    this.specialTokens = [BOS_TOKEN, EOS_TOKEN];
  }

  /**
   * Loads `vocab.json` + `merges.txt` from a folder (diffusers `tokenizer/` layout), with `model_max_length`
   * from `tokenizer_config.json` and the pad token from `special_tokens_map.json`, else `tokenizer_config.json`,
   * else EOS. transformers applies special_tokens_map.json after the config, so it wins; that is how SD 2.x
   * pads with "!" (id 0) although its tokenizer_config.json says <|endoftext|>.
   */
  static fromFolder(dir: string): ClipTokenizer {
    const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
    const lines = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n');
    const merges = lines.filter((l, i) => l.length > 0 && !(i === 0 && l.startsWith('#version')));
    const cfg = readJsonObject(join(dir, 'tokenizer_config.json'));
    const maxLength =
      typeof cfg.model_max_length === 'number' && cfg.model_max_length < 1e6
        ? cfg.model_max_length
        : undefined;
    const padToken =
      tokenContent(readJsonObject(join(dir, 'special_tokens_map.json')).pad_token) ??
      tokenContent(cfg.pad_token);
    return new ClipTokenizer({ vocab, merges }, { maxLength, padToken });
  }

  private requireId(token: string): number {
    const id = this.encoder.get(token);
    if (id === undefined) throw new Error(`tokenizer vocabulary has no ${token}`);
    return id;
  }

  get vocabSize(): number {
    return this.encoder.size;
  }

  idToToken(id: number): string | undefined {
    return this.decoder[id];
  }

  /** Token ids of `text` without BOS/EOS. */
  encodeIds(text: string, variant: ClipTokenizerVariant = 'hf_slow_ftfy'): number[] {
    return this.tokenize(text, variant).map((t) => this.encoder.get(t) ?? this.eosId);
  }

  /** Token strings of `text` without BOS/EOS. */
  tokenize(text: string, variant: ClipTokenizerVariant = 'hf_slow_ftfy'): string[] {
    if (variant === 'openai_clip') {
      // SimpleTokenizer: basic_clean (fix_text + html.unescape twice + strip), whitespace_clean, lower;
      // its regex also matches the special tokens.
      const cleaned = whitespaceClean(unescapeHtml(unescapeHtml(fixText(text)))).toLowerCase();
      return this.splitSpecial(cleaned).flatMap((seg) =>
        seg.special ? [seg.text] : this.bpeWords(seg.text),
      );
    }
    // transformers: added (special) tokens are split out first, the rest goes through _tokenize.
    return this.splitSpecial(text).flatMap((seg) => {
      if (seg.special) return [seg.text];
      const cleaned =
        variant === 'hf_slow_no_ftfy'
          ? bertBasicTokenize(seg.text).join(' ')
          : whitespaceClean(fixText(seg.text)).toLowerCase();
      return this.bpeWords(cleaned);
    });
  }

  private splitSpecial(text: string): { text: string; special: boolean }[] {
    const out: { text: string; special: boolean }[] = [];
    let rest = text;
    while (rest.length > 0) {
      let best = -1;
      let bestTok = '';
      for (const tok of this.specialTokens) {
        const at = rest.indexOf(tok);
        if (at >= 0 && (best < 0 || at < best)) {
          best = at;
          bestTok = tok;
        }
      }
      if (best < 0) {
        out.push({ text: rest, special: false });
        break;
      }
      if (best > 0) out.push({ text: rest.slice(0, best), special: false });
      out.push({ text: bestTok, special: true });
      rest = rest.slice(best + bestTok.length);
    }
    return out;
  }

  private bpeWords(cleaned: string): string[] {
    const out: string[] = [];
    for (const m of cleaned.matchAll(CLIP_SPLIT_RE)) {
      for (const sym of this.bpe.encode(toByteLevel(m[0]))) out.push(sym);
    }
    return out;
  }

  /** Full CLIP encoding: 77 padded ids plus the untruncated sequence. */
  encode(text: string, variant: ClipTokenizerVariant = 'hf_slow_ftfy'): ClipEncoding {
    const tokens = [BOS_TOKEN, ...this.tokenize(text, variant), EOS_TOKEN];
    const untruncatedIds = tokens.map((t) => this.encoder.get(t) ?? this.eosId);
    return { inputIds: this.padIds(untruncatedIds), untruncatedIds, tokens };
  }

  /** [BOS] ids [EOS] -> exactly maxLength ids (truncate keeping EOS last, then pad). */
  padIds(withSpecials: readonly number[]): Int32Array {
    const out = new Int32Array(this.maxLength).fill(this.padId);
    if (withSpecials.length > this.maxLength) {
      out.set(withSpecials.slice(0, this.maxLength));
      out[this.maxLength - 1] = this.eosId;
    } else out.set(withSpecials);
    return out;
  }
}
