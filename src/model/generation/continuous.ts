// Continuous batching: a generation session whose batch takes requests while it runs. Each request is a row with its
// own prompt, sampling options, seed, stop ids and strings and token budget; it joins the running batch at the next
// step boundary (the step model's addRowsLogits) and leaves it when it finishes or is cancelled (keepRows), so many
// concurrent requests share every step. A row's tokens depend only on its own prompt, options and seed: they are
// those of `generate` for that prompt alone (up to float rounding of the batched products).
//
// Optionally a row also reports, per token, how much the model's extra inputs changed its prediction (for FlyThinker:
// the thought), from one more model step without them (see `UnthoughtModel`).

import type { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { Sampler } from "../sampling.ts";
import { UserError } from "../../util/errors.ts";
import { GenerationRow } from "./row.ts";
import { checkOptions, type GeneratedPiece, type GenerateOptions, type GenerationResult } from "./session.ts";
import { StoppingCriteria, type FinishReason } from "./stopping.ts";
import type { JoinableStepModel } from "./step-model.ts";

/** A step model that can also predict the same step without its extra inputs (FlyThinker's thoughts). */
export interface UnthoughtModel {
  /** Logits [rows, vocab] of these tokens (one per live row) without the extra inputs; the cache is unchanged. */
  unthoughtLogits(tokens: readonly number[]): Promise<Float32Array>;
}

/** How much the extra inputs changed one token's prediction. */
export interface Influence {
  /** KL(p_with || p_without) of the next-token distributions (softmax of the raw logits), in nats. */
  kl: number;
  /** log p_with(token) - log p_without(token) of the token emitted. */
  logprobDelta: number;
}

export interface RowEvent {
  piece: GeneratedPiece;
  finish?: FinishReason;
  /** Present for rows that asked for it, from their second token on (the first comes from the prompt's prefill). */
  influence?: Influence;
}

export interface ContinuousRequest {
  prompt: readonly number[];
  /** Sampling, budget, stop ids and strings; `seed` is this row's own seed. `processors` are not supported. */
  options: GenerateOptions;
  /** Report each token's influence (one more model step per step while such a row is in the batch). */
  influence?: boolean;
  onEvent?: (event: RowEvent) => void;
  /** Polled at every step boundary: once true, the row leaves the batch (its result says cancelled). */
  cancelled?: () => boolean;
}

export interface ContinuousResult extends GenerationResult {
  cancelled: boolean;
}

/** What one model call of the batcher did (for metrics). */
export interface BatchStepInfo {
  kind: "prefill" | "join" | "step";
  /** Rows in the call (joining rows for prefill and join). */
  rows: number;
  ms: number;
}

export interface ContinuousOptions {
  /** Most rows in the batch at once (default 8); the others wait in order. */
  maxBatch?: number;
  onStep?: (info: BatchStepInfo) => void;
}

interface Pending {
  req: ContinuousRequest;
  row: GenerationRow;
  sampler: Sampler;
  criteria: StoppingCriteria;
  resolve: (r: ContinuousResult) => void;
  reject: (e: unknown) => void;
  /** Logits [vocab] of this row's current step without the extra inputs (rows asking for influence). */
  base: Float32Array | null;
}

/** log-sum-exp of a row of logits (float64). */
function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - max);
  return max + Math.log(s);
}

/** KL(softmax(withLogits) || softmax(withoutLogits)) and the change in `token`'s log-probability. */
export function influenceOf(withLogits: Float32Array, withoutLogits: Float32Array, token: number): Influence {
  const a = logSumExp(withLogits);
  const b = logSumExp(withoutLogits);
  let kl = 0;
  for (let i = 0; i < withLogits.length; i++) {
    const lp = withLogits[i]! - a;
    if (lp === -Infinity) continue;
    kl += Math.exp(lp) * (lp - (withoutLogits[i]! - b));
  }
  return { kl: Math.max(0, kl), logprobDelta: withLogits[token]! - a - (withoutLogits[token]! - b) };
}

export class ContinuousBatcher {
  private waiting: Pending[] = [];
  private live: Pending[] = [];
  private running = false;
  private idle: (() => void)[] = [];
  readonly maxBatch: number;

  constructor(
    readonly model: JoinableStepModel & Partial<UnthoughtModel>,
    readonly tokenizer: TextTokenizer | null,
    private readonly options: ContinuousOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 8;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new Error(`maxBatch must be an integer >= 1, got ${this.maxBatch}`);
  }

  /** Requests waiting for a row. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Rows in the running batch. */
  get active(): number {
    return this.live.length;
  }

  /**
   * Queues a request; resolves with its result once it finished (or was cancelled). Bad options throw here (a
   * UserError naming the option), before anything is queued.
   */
  submit(req: ContinuousRequest): Promise<ContinuousResult> {
    const { options } = req;
    if (options.processors) throw new Error("continuous batching takes sampling options, not processors");
    const seed = checkOptions(options);
    const stops = options.stopStrings ?? [];
    const criteria = new StoppingCriteria(options.eosIds ?? [], options.maxNewTokens ?? 256, stops);
    const row = new GenerationRow(req.prompt, this.tokenizer, stops);
    if (req.prompt.length === 0) throw new UserError("the prompt is empty (no tokens)");
    for (const id of req.prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= this.model.vocabSize) throw new UserError(`token id ${id} is outside the vocabulary (size ${this.model.vocabSize})`);
    }
    if (criteria.maxNewTokens === 0) return Promise.resolve({ ids: [], text: "", finishReason: "length", cancelled: false });
    const sampler = new Sampler(options, seed);
    return new Promise((resolve, reject) => {
      this.waiting.push({ req, row, sampler, criteria, resolve, reject, base: null });
      // The loop starts on the next turn of the event loop, so requests made together prefill together.
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.loop());
      }
    });
  }

  /** Resolves once no request is queued or running. */
  whenIdle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async timed<T>(kind: BatchStepInfo["kind"], rows: number, call: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const out = await call();
    this.options.onStep?.({ kind, rows, ms: performance.now() - t0 });
    return out;
  }

  private async loop(): Promise<void> {
    const V = this.model.vocabSize;
    let logits: Float32Array = new Float32Array(0); // [live, vocab]
    while (this.live.length + this.waiting.length > 0) {
      try {
        logits = await this.admit(logits);
        // Choose every live row's token; rows that finish or were cancelled leave.
        const keep: number[] = [];
        const next: number[] = [];
        this.live.forEach((p, i) => {
          if (p.req.cancelled?.()) {
            p.resolve({ ids: p.row.ids, text: p.row.text, finishReason: p.row.finish ?? "length", cancelled: true });
            return;
          }
          const scores = logits.subarray(i * V, (i + 1) * V);
          const id = p.sampler.next(scores, p.row.history);
          const influence = p.base ? influenceOf(scores, p.base, id) : undefined;
          const e = p.row.accept(id, p.criteria);
          p.req.onEvent?.(influence && e.piece.id !== null ? { ...e, influence } : e);
          if (e.finish) p.resolve({ ids: p.row.ids, text: p.row.text, finishReason: e.finish, cancelled: false });
          else {
            keep.push(i);
            next.push(id);
          }
        });
        if (keep.length === 0) {
          this.live = [];
          logits = new Float32Array(0);
          continue;
        }
        if (keep.length < this.live.length) {
          await this.model.keepRows(keep);
          this.live = keep.map((i) => this.live[i]!);
        }
        const wantBase = this.model.unthoughtLogits !== undefined && this.live.some((p) => p.req.influence);
        const base = wantBase ? (await this.model.unthoughtLogits!(next)).slice() : null;
        logits = await this.timed("step", next.length, () => this.model.stepLogits(next));
        this.live.forEach((p, i) => (p.base = base && p.req.influence ? base.subarray(i * V, (i + 1) * V) : null));
      } catch (err) {
        // A failed model call fails the rows in the batch; queued requests start a fresh batch.
        for (const p of this.live) p.reject(err);
        this.live = [];
        logits = new Float32Array(0);
      }
    }
    this.running = false;
    for (const f of this.idle.splice(0)) f();
  }

  /** Moves waiting requests into the batch (up to maxBatch): their logits are appended after the live rows'. */
  private async admit(logits: Float32Array): Promise<Float32Array> {
    // Requests cancelled while they waited leave without a model call.
    this.waiting = this.waiting.filter((p) => {
      if (!p.req.cancelled?.()) return true;
      p.resolve({ ids: [], text: "", finishReason: "length", cancelled: true });
      return false;
    });
    const room = this.maxBatch - this.live.length;
    if (room <= 0 || this.waiting.length === 0) return logits;
    const joining = this.waiting.splice(0, room);
    const prompts = joining.map((p) => p.req.prompt);
    let fresh: Float32Array;
    try {
      fresh = this.live.length === 0
        ? await this.timed("prefill", prompts.length, () => this.model.prefillLogits(prompts))
        : await this.timed("join", prompts.length, () => this.model.addRowsLogits(prompts));
    } catch (err) {
      for (const p of joining) p.reject(err);
      throw err;
    }
    const all = new Float32Array(logits.length + fresh.length);
    all.set(logits);
    all.set(fresh, logits.length);
    this.live.push(...joining);
    return all;
  }
}
