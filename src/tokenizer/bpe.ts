// A byte-level BPE tokenizer for small demo models: a deterministic trainer, its own encoder/decoder, and export to
// the standard Hugging Face tokenizer.json / tokenizer_config.json (loadable by @huggingface/tokenizers and by
// transformers). Layout of the vocabulary: ids 0..255 are the 256 bytes (id = byte value), then one id per merge in
// merge order, then the special tokens (by default <|endoftext|>, <|im_start|>, <|im_end|>) as the last ids.
// Pre-tokenisation is Qwen2's (see bytelevel.ts); no normaliser, so decode(encode(text)) == text for any string.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { BYTE_TO_CHAR, CHAR_TO_BYTE, QWEN2_SPLIT_PATTERN, preTokenize } from "./bytelevel.ts";

export const DEFAULT_SPECIAL_TOKENS: readonly string[] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/** A ChatML chat template (Jinja) with a default system prompt, as Qwen2-Instruct models use. */
export const CHATML_TEMPLATE =
  "{%- if messages[0]['role'] != 'system' -%}" +
  "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}" +
  "{%- endif -%}" +
  "{%- for message in messages -%}" +
  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}" +
  "{%- endfor -%}" +
  "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

export interface BpeTrainOptions {
  /** Total vocabulary size including the 256 byte tokens and the special tokens. */
  vocabSize: number;
  /** Appended after the learned tokens, in this order. */
  specialTokens?: readonly string[];
  /** Pairs seen fewer times than this are not merged (default 2); training may then stop below vocabSize. */
  minFrequency?: number;
}

// Pair keys: a * 2^21 + b (ids below 2^21, keys below 2^42: exact in a double).
const KEY_BASE = 2097152;
const MAX_IDS = KEY_BASE;

/** Max-heap of (count, key): larger count first, then smaller key (so ties break deterministically). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!;
    this.counts[i] = this.counts[j]!;
    this.counts[j] = c;
    const k = this.keys[i]!;
    this.keys[i] = this.keys[j]!;
    this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): [number, number] {
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lastC = this.counts.pop()!;
    const lastK = this.keys.pop()!;
    if (this.counts.length > 0) {
      this.counts[0] = lastC;
      this.keys[0] = lastK;
      let i = 0;
      const n = this.counts.length;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < n && this.before(l, m)) m = l;
        if (r < n && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

export interface AddedToken {
  id: number;
  content: string;
}

export class BpeTokenizer {
  /** id -> token in byte-level characters (specials as their plain text). */
  readonly tokens: string[];
  /** Merges in rank order, as pairs of byte-level token strings. */
  readonly merges: [string, string][];
  readonly specialTokens: AddedToken[];
  private readonly ids = new Map<string, number>();
  private readonly mergeRank = new Map<number, number>();
  private readonly mergeResult = new Map<number, number>();
  private readonly specialIds = new Map<string, number>();
  private readonly specialRegex: RegExp | null;
  private readonly cache = new Map<string, number[]>();

  /** `tokens`: the non-special vocabulary by id (bytes first); `merges`: pairs of tokens, rank order. */
  constructor(tokens: string[], merges: [string, string][], specialTokens: readonly string[]) {
    this.tokens = [...tokens];
    this.merges = merges.map(([a, b]) => [a, b]);
    tokens.forEach((t, i) => {
      if (this.ids.has(t)) throw new UserError(`BPE vocabulary has token ${JSON.stringify(t)} twice`);
      this.ids.set(t, i);
    });
    merges.forEach(([a, b], rank) => {
      const ia = this.ids.get(a);
      const ib = this.ids.get(b);
      const ic = this.ids.get(a + b);
      if (ia === undefined || ib === undefined || ic === undefined) {
        throw new UserError(`BPE merge ${rank} (${JSON.stringify(a)}, ${JSON.stringify(b)}) uses or makes a token not in the vocabulary`);
      }
      const key = ia * KEY_BASE + ib;
      if (!this.mergeRank.has(key)) {
        this.mergeRank.set(key, rank);
        this.mergeResult.set(key, ic);
      }
    });
    this.specialTokens = specialTokens.map((content, i) => ({ id: tokens.length + i, content }));
    for (const s of this.specialTokens) {
      this.specialIds.set(s.content, s.id);
      this.tokens.push(s.content);
    }
    const escaped = [...specialTokens].sort((x, y) => y.length - x.length).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    this.specialRegex = escaped.length ? new RegExp(`(${escaped.join("|")})`, "u") : null;
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  tokenToId(token: string): number | undefined {
    return this.specialIds.get(token) ?? this.ids.get(token);
  }

  /** Token ids of a text; special token strings in the text become their ids. */
  encode(text: string): number[] {
    const out: number[] = [];
    const parts = this.specialRegex ? text.split(this.specialRegex) : [text];
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i % 2 === 1) {
        out.push(this.specialIds.get(part)!);
        continue;
      }
      for (const piece of preTokenize(part)) {
        for (const id of this.encodePiece(piece)) out.push(id);
      }
    }
    return out;
  }

  private encodePiece(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    let ids = Array.from(new TextEncoder().encode(piece), (b) => this.ids.get(BYTE_TO_CHAR[b]!)!);
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = this.mergeRank.get(ids[i]! * KEY_BASE + ids[i + 1]!);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = ids[best]!;
      const b = ids[best + 1]!;
      const c = this.mergeResult.get(a * KEY_BASE + b)!;
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
          next.push(c);
          i++;
        } else {
          next.push(ids[i]!);
        }
      }
      ids = next;
    }
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }

  /** Text of token ids (invalid UTF-8 sequences become U+FFFD, as the Hugging Face decoders do). */
  decode(ids: readonly number[]): string {
    let text = "";
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) text += new TextDecoder("utf-8").decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const tok = this.tokens[id];
      if (tok === undefined) throw new UserError(`token id ${id} is outside the vocabulary (size ${this.vocabSize})`);
      if (id >= this.tokens.length - this.specialTokens.length) {
        flush();
        text += tok;
      } else {
        for (const ch of tok) bytes.push(CHAR_TO_BYTE.get(ch)!);
      }
    }
    flush();
    return text;
  }

  /** The standard Hugging Face tokenizer.json of this tokenizer. */
  toTokenizerJson(): Record<string, unknown> {
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false };
    const vocab: Record<string, number> = {};
    const nSpecial = this.specialTokens.length;
    for (let i = 0; i < this.tokens.length - nSpecial; i++) vocab[this.tokens[i]!] = i;
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: this.specialTokens.map((s) => ({
        id: s.id,
        content: s.content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: QWEN2_SPLIT_PATTERN }, behavior: "Isolated", invert: false },
          byteLevel,
        ],
      },
      post_processor: byteLevel,
      decoder: byteLevel,
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        merges: this.merges.map(([a, b]) => [a, b]),
      },
    };
  }

  /** tokenizer_config.json: ChatML template, eos <|im_end|>, pad <|endoftext|> (when those specials exist). */
  toTokenizerConfig(opts: { modelMaxLength?: number; chatTemplate?: string } = {}): Record<string, unknown> {
    const has = (s: string) => this.specialIds.has(s);
    const decoder: Record<string, unknown> = {};
    for (const s of this.specialTokens) {
      decoder[String(s.id)] = { content: s.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
    }
    return {
      add_bos_token: false,
      add_prefix_space: false,
      added_tokens_decoder: decoder,
      additional_special_tokens: this.specialTokens.map((s) => s.content).filter((c) => c !== "<|endoftext|>"),
      bos_token: null,
      chat_template: opts.chatTemplate ?? CHATML_TEMPLATE,
      clean_up_tokenization_spaces: false,
      eos_token: has("<|im_end|>") ? "<|im_end|>" : has("<|endoftext|>") ? "<|endoftext|>" : null,
      errors: "replace",
      model_max_length: opts.modelMaxLength ?? 32768,
      pad_token: has("<|endoftext|>") ? "<|endoftext|>" : null,
      split_special_tokens: false,
      tokenizer_class: "Qwen2Tokenizer",
      unk_token: null,
    };
  }

  /** Rebuilds a tokenizer from a tokenizer.json written by toTokenizerJson (or any byte-level BPE of that shape). */
  static fromTokenizerJson(json: Record<string, unknown>, source = "tokenizer.json"): BpeTokenizer {
    const model = json.model as Record<string, unknown> | undefined;
    if (!model || model.type !== "BPE" || typeof model.vocab !== "object" || !Array.isArray(model.merges)) {
      throw new UserError(`${source}: not a BPE tokenizer.json (model.type, model.vocab, model.merges expected)`);
    }
    const vocab = model.vocab as Record<string, number>;
    const tokens: string[] = [];
    for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
    for (let i = 0; i < tokens.length; i++) {
      if (tokens[i] === undefined) throw new UserError(`${source}: vocabulary ids are not contiguous (no token ${i})`);
    }
    const merges = (model.merges as unknown[]).map((m) => (Array.isArray(m) ? [m[0], m[1]] : String(m).split(" ")) as [string, string]);
    const added = ((json.added_tokens as { id: number; content: string }[]) ?? []).slice().sort((a, b) => a.id - b.id);
    added.forEach((a, i) => {
      if (a.id !== tokens.length + i) throw new UserError(`${source}: added token ${a.content} has id ${a.id}, expected ${tokens.length + i}`);
    });
    return new BpeTokenizer(tokens, merges, added.map((a) => a.content));
  }
}

/**
 * Trains a byte-level BPE on `texts` (deterministic: same texts and options give the same tokenizer).
 * Special token strings occurring in the texts are not learned from.
 */
export function trainBpe(texts: Iterable<string> | string, opts: BpeTrainOptions): BpeTokenizer {
  const specials = opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS;
  const minFreq = opts.minFrequency ?? 2;
  const numMerges = opts.vocabSize - 256 - specials.length;
  if (!Number.isInteger(opts.vocabSize) || numMerges < 0 || opts.vocabSize > MAX_IDS) {
    throw new UserError(
      `BPE vocabulary size must be an integer from ${256 + specials.length} (bytes + special tokens) to ${MAX_IDS}, got ${opts.vocabSize}`,
    );
  }

  // 1. Count pre-tokens.
  const wordCounts = new Map<string, number>();
  const escaped = specials.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const specialSplit = escaped.length ? new RegExp(escaped.join("|"), "u") : null;
  for (const text of typeof texts === "string" ? [texts] : texts) {
    for (const part of specialSplit ? text.split(specialSplit) : [text]) {
      for (const piece of preTokenize(part)) wordCounts.set(piece, (wordCounts.get(piece) ?? 0) + 1);
    }
  }
  const enc = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, c] of [...wordCounts.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    words.push(Array.from(enc.encode(w)));
    freqs.push(c);
  }

  // 2. Pair statistics.
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  for (let wi = 0; wi < words.length; wi++) {
    const w = words[wi]!;
    const f = freqs[wi]!;
    for (let i = 0; i + 1 < w.length; i++) {
      const key = w[i]! * KEY_BASE + w[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      let s = where.get(key);
      if (!s) where.set(key, (s = new Set()));
      s.add(wi);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, key);

  // 3. Merge loop. The heap is lazy: an entry whose count is out of date is re-pushed with the current count when it
  //    surfaces, and every pair whose count grew during a merge (those next to the merged token) is pushed anew.
  const tokens: string[] = BYTE_TO_CHAR.slice();
  const tokenIds = new Map(tokens.map((t, i) => [t, i]));
  const merges: [string, string][] = [];
  while (tokens.length < 256 + numMerges && heap.size > 0) {
    const [count, key] = heap.pop();
    const current = pairCount.get(key) ?? 0;
    if (current !== count) {
      if (current > 0) heap.push(current, key);
      continue;
    }
    if (count < minFreq) break;
    const a = Math.floor(key / KEY_BASE);
    const b = key - a * KEY_BASE;
    // Two different merges can spell the same string ("a"+"bc", "ab"+"c"): they then share one token.
    const merged = tokens[a]! + tokens[b]!;
    let z = tokenIds.get(merged);
    if (z === undefined) {
      z = tokens.length;
      tokens.push(merged);
      tokenIds.set(merged, z);
    }
    merges.push([tokens[a]!, tokens[b]!]);
    const before = new Map<number, number>();
    const touch = (k: number, delta: number) => {
      const old = pairCount.get(k) ?? 0;
      if (!before.has(k)) before.set(k, old);
      const v = old + delta;
      if (v === 0) pairCount.delete(k);
      else pairCount.set(k, v);
    };
    const affected = [...(where.get(key) ?? [])].sort((x, y) => x - y);
    where.delete(key);
    for (const wi of affected) {
      const w = words[wi]!;
      const f = freqs[wi]!;
      let found = false;
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === a && w[i + 1] === b) found = true;
      if (!found) continue;
      for (let i = 0; i + 1 < w.length; i++) touch(w[i]! * KEY_BASE + w[i + 1]!, -f);
      const nw: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          nw.push(z);
          i++;
        } else {
          nw.push(w[i]!);
        }
      }
      words[wi] = nw;
      for (let i = 0; i + 1 < nw.length; i++) {
        const k = nw[i]! * KEY_BASE + nw[i + 1]!;
        touch(k, f);
        if (nw[i] === z || nw[i + 1] === z) {
          let s = where.get(k);
          if (!s) where.set(k, (s = new Set()));
          s.add(wi);
        }
      }
    }
    for (const [k, old] of before) {
      const now = pairCount.get(k) ?? 0;
      if (now > old) heap.push(now, k);
    }
  }
  return new BpeTokenizer(tokens, merges, specials);
}

/** tokenizer.json and tokenizer_config.json of a trained tokenizer, as file name -> text (for saveCheckpoint). */
export function tokenizerFiles(tok: BpeTokenizer, opts: { modelMaxLength?: number; chatTemplate?: string } = {}): Record<string, string> {
  return {
    "tokenizer.json": JSON.stringify(tok.toTokenizerJson(), null, 2) + "\n",
    "tokenizer_config.json": JSON.stringify(tok.toTokenizerConfig(opts), null, 2) + "\n",
  };
}

/** Writes tokenizer.json and tokenizer_config.json into `dir` (each atomically). */
export function writeTokenizerFiles(dir: string, tok: BpeTokenizer, opts: { modelMaxLength?: number; chatTemplate?: string } = {}): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(tokenizerFiles(tok, opts))) atomicWriteBytes(join(dir, name), text);
}
