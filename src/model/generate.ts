// Text generation on a Decoder: sampling each row's next token, stopping on end-of-sequence ids, stop strings or a
// token budget, and streaming the text as it becomes final.
//
// Streaming text: a token's text is handed out once it is certain, i.e. not inside an incomplete UTF-8 character
// and not possibly the start of a stop string. A stop string ends generation and is not part of the text. The
// end-of-sequence token is not part of the ids or the text.

import { Sampler, type SamplingOptions, validateSampling } from "./sampling.ts";
import { StreamingDecoder, type TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { Decoder } from "./decode.ts";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate per row (default 256). */
  maxNewTokens?: number;
  /** Seed of the sampler; row i of a batch uses seed + i (default 0). */
  seed?: number;
  /** Token ids that end a row (default none). */
  eosIds?: readonly number[];
  /** Texts that end a row when they appear in its output (needs a tokenizer). */
  stopStrings?: readonly string[];
}

export type FinishReason = "eos" | "stop" | "length";

/** One streamed piece: the token just generated and the text that became final with it. */
export interface GeneratedPiece {
  /** The token id; null for the closing piece that carries text held back until the end. */
  id: number | null;
  text: string;
}

export interface GenerationResult {
  /** Generated ids (without the end-of-sequence token). */
  ids: number[];
  /** Their text (empty without a tokenizer), cut before a stop string. */
  text: string;
  finishReason: FinishReason;
}

export interface BatchEvent {
  row: number;
  piece: GeneratedPiece;
}

/** Turns ids into final text pieces, holding back what may still change (partial characters, stop-string starts). */
export class TextAssembler {
  private pending = "";
  private readonly stream: StreamingDecoder | null;
  text = "";
  stopped = false;

  constructor(tokenizer: TextTokenizer | null, private readonly stops: readonly string[] = []) {
    if (stops.length && !tokenizer) throw new UserError("stop strings need a tokenizer");
    if (stops.some((s) => s.length === 0)) throw new UserError("stop strings must not be empty");
    this.stream = tokenizer ? new StreamingDecoder(tokenizer, { skipSpecialTokens: true }) : null;
  }

  /** Adds a token; returns the text that became final. After a stop string is seen, `stopped` is true. */
  push(id: number): string {
    if (!this.stream || this.stopped) return "";
    this.pending += this.stream.push(id);
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.stopped = true;
      return this.emit(this.pending.slice(0, cut));
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return this.emit(this.pending.slice(0, this.pending.length - hold), hold);
  }

  /** Everything still held back (at the end of generation). */
  flush(): string {
    if (!this.stream || this.stopped) return "";
    this.pending += this.stream.flush();
    return this.emit(this.pending);
  }

  private emit(text: string, keep = 0): string {
    this.pending = keep > 0 ? this.pending.slice(this.pending.length - keep) : "";
    this.text += text;
    return text;
  }
}

function checkOptions(opts: GenerateOptions): number {
  validateSampling(opts);
  const max = opts.maxNewTokens ?? 256;
  if (!Number.isInteger(max) || max < 0) throw new UserError(`max new tokens must be an integer >= 0, got ${max}`);
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed)) throw new UserError(`seed must be an integer, got ${seed}`);
  return max;
}

/**
 * Generates for a batch of prompts (ids) at once, yielding each row's pieces as they come; returns every row's
 * result. `decoder` must read ids and return last-position logits; it is reset by the prefill.
 */
export async function* generateEvents(
  decoder: Decoder,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
): AsyncGenerator<BatchEvent, GenerationResult[]> {
  const max = checkOptions(opts);
  const eos = new Set(opts.eosIds ?? []);
  const seed = opts.seed ?? 0;
  const rows = prompts.map((p, r) => ({
    sampler: new Sampler(opts, seed + r),
    history: [...p],
    ids: [] as number[],
    text: new TextAssembler(tokenizer, opts.stopStrings ?? []),
    finish: null as FinishReason | null,
  }));
  if (max === 0) return rows.map(() => ({ ids: [], text: "", finishReason: "length" as const }));
  let out = await decoder.prefill(prompts);
  let active = rows.map((_, r) => r); // decoder row i is prompt active[i]
  while (active.length) {
    const next: number[] = [];
    const keep: number[] = [];
    for (let i = 0; i < active.length; i++) {
      const r = active[i]!;
      const row = rows[r]!;
      const id = row.sampler.next(out.logits[i]!, row.history);
      if (eos.has(id)) {
        row.finish = "eos";
        const rest = row.text.flush();
        if (rest) yield { row: r, piece: { id: null, text: rest } };
        continue;
      }
      row.ids.push(id);
      row.history.push(id);
      let text = row.text.push(id);
      if (row.text.stopped) row.finish = "stop";
      else if (row.ids.length >= max) {
        row.finish = "length";
        text += row.text.flush();
      }
      yield { row: r, piece: { id, text } };
      if (!row.finish) {
        next.push(id);
        keep.push(i);
      }
    }
    if (keep.length === 0) break;
    if (keep.length < active.length) decoder.keepRows(keep);
    active = keep.map((i) => active[i]!);
    out = await decoder.step(next);
  }
  return rows.map((row) => ({ ids: row.ids, text: row.text.text, finishReason: row.finish ?? "length" }));
}

/** Generates for a batch of prompts; `onPiece` sees each row's pieces as they come. */
export async function generateBatch(
  decoder: Decoder,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
  onPiece?: (event: BatchEvent) => void,
): Promise<GenerationResult[]> {
  const it = generateEvents(decoder, prompts, opts, tokenizer);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    onPiece?.(r.value);
  }
}

/** Streams one prompt's generation: `for await (const { id, text } of generate(...))`; returns the result. */
export async function* generate(
  decoder: Decoder,
  prompt: readonly number[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
): AsyncGenerator<GeneratedPiece, GenerationResult> {
  const it = generateEvents(decoder, [prompt], opts, tokenizer);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value[0]!;
    yield r.value.piece;
  }
}
