// Choosing the next token from logits, with the semantics of Hugging Face `generate`: the repetition penalty first
// (on every distinct id of the prompt and the text so far, positive logits divided by the penalty, negative ones
// multiplied), then greedy choice, or temperature -> top-k -> top-p and a draw from what is left.
//
// Top-k keeps every token whose logit is at least the k-th largest (ties at the boundary are kept). Top-p keeps, in
// order of decreasing probability, each token while the probability of the tokens ranked above it is below p (so the
// most likely token is always kept); equal probabilities rank by lower id first. Draws use the seeded `Rng`, so a
// seed reproduces a run exactly.

import { Rng } from "../util/random.ts";
import { UserError } from "../util/errors.ts";

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

/** HF repetition penalty, in place: for each distinct id in `history`, logit > 0 -> logit / p, else logit * p. */
export function applyRepetitionPenalty(logits: Float32Array, history: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set<number>();
  for (const id of history) {
    if (seen.has(id) || id < 0 || id >= logits.length) continue;
    seen.add(id);
    const v = logits[id]!;
    logits[id] = v < 0 ? v * penalty : v / penalty;
  }
}

/** Index of the largest value (the first one on ties; NaN never wins). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestV) {
      bestV = v;
      best = i;
    }
  }
  return best;
}

/** The k-th largest value of `values` (k >= 1, k <= length), by a bounded min-heap. */
function kthLargest(values: Float32Array, k: number): number {
  const heap = new Float64Array(k);
  let n = 0;
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && heap[l]! < heap[m]!) m = l;
      if (r < n && heap[r]! < heap[m]!) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (n < k) {
      let j = n++;
      heap[j] = v;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (heap[p]! <= heap[j]!) break;
        const t = heap[p]!;
        heap[p] = heap[j]!;
        heap[j] = t;
        j = p;
      }
    } else if (v > heap[0]!) {
      heap[0] = v;
      siftDown(0);
    }
  }
  return heap[0]!;
}

export interface Distribution {
  /** Token ids that may be drawn, in increasing order. */
  ids: Int32Array;
  /** Their probabilities (sum 1). */
  probs: Float64Array;
}

/**
 * The distribution a sampled token is drawn from: softmax(logits / temperature) restricted by top-k and top-p and
 * renormalised. `logits` should already carry the repetition penalty. Temperature must be > 0.
 */
export function samplingDistribution(logits: Float32Array, opts: SamplingOptions): Distribution {
  const V = logits.length;
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const topP = opts.topP ?? 1;
  if (!(temperature > 0)) throw new UserError(`samplingDistribution needs a temperature > 0, got ${temperature}`);
  let floor = -Infinity;
  if (topK > 0 && topK < V) floor = kthLargest(logits, topK);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i]! > max) max = logits[i]!;
  // Unnormalised weights exp((l - max) / T) of the tokens top-k keeps.
  const w = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    const l = logits[i]!;
    if (l >= floor && l > -Infinity) {
      const e = Math.exp((l - max) / temperature);
      w[i] = e;
      total += e;
    }
  }
  if (!(total > 0)) throw new UserError("cannot sample: every logit is -Infinity or NaN");
  let keep: Int32Array;
  if (topP < 1) {
    const target = topP * total;
    // Candidates: tokens with weight >= c. Once their mass reaches the target, nothing below c can be kept (the mass
    // ranked above such a token is already >= target), so only the candidates need sorting.
    let c = 1e-4;
    const cand = new Int32Array(V); // candidate ids, in id order
    const candW = new Float64Array(V); // their weights
    let n = 0;
    for (;;) {
      n = 0;
      let mass = 0;
      for (let i = 0; i < V; i++) {
        const wi = w[i]!;
        if (wi >= c && wi > 0) {
          cand[n] = i;
          candW[n++] = wi;
          mass += wi;
        }
      }
      if (mass >= target || c === 0) break;
      c = c > 1e-300 ? c * 1e-4 : 0;
    }
    // The kept set is the shortest prefix of the candidates ranked by (weight desc, id asc) whose mass reaches the
    // target. Sorting the weights alone (a numeric typed-array sort) finds its length and its last weight tau: it
    // holds every token above tau and the lowest-id tokens at tau. Ties share one value, so the running sum is the
    // same whichever tied id comes first.
    const sorted = candW.subarray(0, n).sort(); // ascending: read from the end
    let above = 0;
    let j = n - 1;
    while (j >= 0 && above < target) above += sorted[j--]!;
    const tau = sorted[j + 1]!;
    let ties = 0;
    for (let k = j + 1; k < n; k++) if (sorted[k] === tau) ties++;
    const kept: number[] = [];
    for (let k = 0; k < n; k++) {
      const i = cand[k]!;
      if (w[i]! > tau) kept.push(i);
      else if (w[i] === tau && ties > 0) {
        kept.push(i);
        ties--;
      }
    }
    keep = Int32Array.from(kept);
  } else {
    let n = 0;
    for (let i = 0; i < V; i++) if (w[i]! > 0) n++;
    keep = new Int32Array(n);
    n = 0;
    for (let i = 0; i < V; i++) if (w[i]! > 0) keep[n++] = i;
  }
  const probs = new Float64Array(keep.length);
  let sum = 0;
  for (let j = 0; j < keep.length; j++) sum += w[keep[j]!]!;
  for (let j = 0; j < keep.length; j++) probs[j] = w[keep[j]!]! / sum;
  return { ids: keep, probs };
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

  constructor(
    readonly options: SamplingOptions = {},
    seed = 0,
  ) {
    validateSampling(options);
    this.rng = new Rng(seed);
  }

  /**
   * The next token given the logits of the last position and the ids so far (prompt + output, for the repetition
   * penalty). `logits` is not modified.
   */
  next(logits: Float32Array, history: readonly number[] = []): number {
    const penalty = this.options.repetitionPenalty ?? 1;
    let scores = logits;
    if (penalty !== 1) {
      scores = logits.slice();
      applyRepetitionPenalty(scores, history, penalty);
    }
    if (isGreedy(this.options)) return argmax(scores);
    return draw(samplingDistribution(scores, this.options), this.rng);
  }
}
