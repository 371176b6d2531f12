// Choosing the next token from logits, with the semantics of Hugging Face `generate`: the repetition penalty first
// (on every distinct id of the prompt and the text so far, positive logits divided by the penalty, negative ones
// multiplied), then greedy choice, or temperature -> top-k -> top-p and a draw from what is left. The work is done by
// the logits processors of generation/processors.ts; this file gives them a one-row face (options, a distribution,
// a seeded sampler). Draws use the seeded `Rng`, so a seed reproduces a run exactly.

import { Rng } from "../util/random.ts";
import { UserError } from "../util/errors.ts";
import { NOTHING_TO_SAMPLE, RepetitionPenalty, TopK, TopP, rowMax, samplingProcessors, type LogitsBatch, type LogitsProcessor } from "./generation/processors.ts";
import { argmax, drawToken } from "./generation/pick.ts";

export { argmax } from "./generation/pick.ts";

export interface SamplingOptions {
  /** Always take the most likely token (temperature, top-k and top-p are ignored). Default false. */
  greedy?: boolean;
  /** Logits are divided by it before sampling. 0 means greedy. Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = off). Default 0. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 = off). Default 1. */
  topP?: number;
  /** > 1 discourages tokens already present in the prompt or the output (1 = off). Default 1. */
  repetitionPenalty?: number;
}

/** Throws a UserError naming the first option out of range. */
export function validateSampling(opts: SamplingOptions): void {
  const { temperature = 1, topK = 0, topP = 1, repetitionPenalty = 1 } = opts;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new UserError(`temperature must be a number >= 0, got ${temperature}`);
  }
  if (!Number.isInteger(topK) || topK < 0) throw new UserError(`top-k must be an integer >= 0, got ${topK}`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) throw new UserError(`top-p must be in (0, 1], got ${topP}`);
  if (!Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw new UserError(`repetition penalty must be a number > 0, got ${repetitionPenalty}`);
  }
}

export function isGreedy(opts: SamplingOptions): boolean {
  return opts.greedy === true || opts.temperature === 0;
}

/** A batch of one row over `logits` (changed in place) for the processors. */
function oneRow(logits: Float32Array, history: readonly number[], temperature = 1): LogitsBatch {
  return { logits, rows: 1, vocab: logits.length, temperature: Float64Array.of(temperature), history: () => history };
}

/** HF repetition penalty, in place: for each distinct id in `history`, logit > 0 -> logit / p, else logit * p. */
export function applyRepetitionPenalty(logits: Float32Array, history: Iterable<number>, penalty: number): void {
  new RepetitionPenalty(penalty).process(oneRow(logits, [...history]));
}

export interface Distribution {
  /** Token ids that may be drawn, in increasing order. */
  ids: Int32Array;
  /** Their probabilities (sum 1). */
  probs: Float64Array;
}

/**
 * The distribution a sampled token is drawn from: softmax(logits / temperature) restricted by top-k and top-p and
 * renormalised. `logits` should already carry the repetition penalty (it is not modified). Temperature must be > 0.
 */
export function samplingDistribution(logits: Float32Array, opts: SamplingOptions): Distribution {
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new UserError(`samplingDistribution needs a temperature > 0, got ${temperature}`);
  const scores = logits.slice();
  const batch = oneRow(scores, [], temperature);
  new TopK(opts.topK ?? 0).process(batch);
  new TopP(opts.topP ?? 1).process(batch);
  const max = rowMax(scores);
  const kept: number[] = [];
  const weights: number[] = [];
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const l = scores[i]!;
    const e = l > -Infinity ? Math.exp((l - max) / temperature) : 0;
    if (e > 0) {
      kept.push(i);
      weights.push(e);
      sum += e;
    }
  }
  if (!(sum > 0)) throw new UserError(NOTHING_TO_SAMPLE);
  return { ids: Int32Array.from(kept), probs: Float64Array.from(weights, (w) => w / sum) };
}

/** Draws an id from a distribution with one uniform number from `rng`. */
export function draw(dist: Distribution, rng: Rng): number {
  const u = rng.float();
  let cum = 0;
  for (let j = 0; j < dist.ids.length; j++) {
    cum += dist.probs[j]!;
    if (u < cum) return dist.ids[j]!;
  }
  return dist.ids[dist.ids.length - 1]!;
}

/** Picks next tokens for one sequence: options fixed, its own seeded generator. */
export class Sampler {
  readonly rng: Rng;
  private readonly processors: LogitsProcessor[];

  constructor(
    readonly options: SamplingOptions = {},
    seed = 0,
  ) {
    validateSampling(options);
    this.rng = new Rng(seed);
    this.processors = samplingProcessors(options);
  }

  /**
   * The next token given the logits of the last position and the ids so far (prompt + output, for the repetition
   * penalty). `logits` is not modified.
   */
  next(logits: Float32Array, history: readonly number[] = []): number {
    const batch = oneRow(logits.slice(), history);
    for (const p of this.processors) p.process(batch);
    if (isGreedy(this.options)) return argmax(batch.logits);
    return drawToken(batch.logits, batch.temperature[0]!, this.rng);
  }
}
