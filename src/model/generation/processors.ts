// Logits processors: each one changes the next-token scores of a batch of rows in place, and a list of them is
// applied in order (repetition penalty, temperature, top-k, top-p: the order of Hugging Face `generate`). A processor
// sees the whole batch, so one that mixes rows (e.g. a guided row and its unguided twin) fits the same list.
//
// Removed tokens get the score -Infinity. The temperature does not rescale the logits: it multiplies the row's
// `temperature`, by which every later step divides (l - max) when it forms probabilities, so the weights are exactly
// exp((l - max) / T) however many processors run.
//
// Top-k keeps every token whose logit is at least the k-th largest (ties at the boundary are kept). Top-p keeps, in
// order of decreasing probability, each token while the probability of the tokens ranked above it is below p (so the
// most likely token is always kept); equal probabilities rank by lower id first.
//
// Tied rows: a row may take its token from another row of the batch (its leader) instead of sampling its own. Such a
// follower is only read, by a processor that mixes it into its leader (context steering); the processors that shape
// a distribution to sample from (top-k, top-p) skip it.

import { UserError } from "../../util/errors.ts";

/** Next-token scores of the live rows of a batch, as processors see and change them. */
export interface LogitsBatch {
  /** [rows, vocab] scores, changed in place. */
  logits: Float32Array;
  rows: number;
  vocab: number;
  /** Per row: the temperature its probabilities are formed with (1 until a temperature processor runs). */
  temperature: Float64Array;
  /** Per row: the ids it has seen so far (prompt + generated). */
  history: (row: number) => readonly number[];
  /** Per row: the row whose token it takes (itself when it samples); absent when every row samples its own. */
  leader?: Int32Array;
}

export interface LogitsProcessor {
  process(batch: LogitsBatch): void;
}

/** Row `r` of the batch: a view [vocab] of its scores. */
export function rowScores(batch: LogitsBatch, r: number): Float32Array {
  return batch.logits.subarray(r * batch.vocab, (r + 1) * batch.vocab);
}

/** Whether row `r` samples its own token (not tied to another row). */
export function samples(batch: LogitsBatch, r: number): boolean {
  return batch.leader === undefined || batch.leader[r] === r;
}

/** HF repetition penalty: for each distinct id a row has seen, logit > 0 -> logit / p, else logit * p. */
export class RepetitionPenalty implements LogitsProcessor {
  /** seen[id] === stamp: the id was already penalised in this row (no per-step set to allocate). */
  private seen = new Uint32Array(0);
  private stamp = 0;

  constructor(readonly penalty: number) {
    if (!Number.isFinite(penalty) || penalty <= 0) throw new UserError(`repetition penalty must be a number > 0, got ${penalty}`);
  }

  process(batch: LogitsBatch): void {
    if (this.penalty === 1) return;
    if (this.seen.length !== batch.vocab) this.seen = new Uint32Array(batch.vocab);
    const p = this.penalty;
    for (let r = 0; r < batch.rows; r++) {
      if (++this.stamp === 0xffffffff) {
        this.seen.fill(0);
        this.stamp = 1;
      }
      const row = rowScores(batch, r);
      for (const id of batch.history(r)) {
        if (id < 0 || id >= row.length || this.seen[id] === this.stamp) continue;
        this.seen[id] = this.stamp;
        const v = row[id]!;
        row[id] = v < 0 ? v * p : v / p;
      }
    }
  }
}

/** Divides the logits by `temperature` (> 0) when probabilities are formed. */
export class Temperature implements LogitsProcessor {
  constructor(readonly temperature: number) {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new UserError(`temperature must be a number > 0 here, got ${temperature}`);
  }

  process(batch: LogitsBatch): void {
    for (let r = 0; r < batch.rows; r++) batch.temperature[r] = batch.temperature[r]! * this.temperature;
  }
}

/** The k-th largest value of `values` (1 <= k <= length), by a bounded min-heap. */
export function kthLargest(values: Float32Array, k: number, heap: Float64Array = new Float64Array(k)): number {
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

/** Keeps the tokens whose logit is at least the k-th largest (k = 0 or k >= vocab: all). */
export class TopK implements LogitsProcessor {
  private heap: Float64Array;

  constructor(readonly k: number) {
    if (!Number.isInteger(k) || k < 0) throw new UserError(`top-k must be an integer >= 0, got ${k}`);
    this.heap = new Float64Array(k);
  }

  process(batch: LogitsBatch): void {
    if (this.k === 0 || this.k >= batch.vocab) return;
    for (let r = 0; r < batch.rows; r++) {
      if (!samples(batch, r)) continue;
      const row = rowScores(batch, r);
      const floor = kthLargest(row, this.k, this.heap);
      for (let i = 0; i < row.length; i++) if (!(row[i]! >= floor)) row[i] = -Infinity;
    }
  }
}

/** The largest score of a row (-Infinity when none is a number above -Infinity). */
export function rowMax(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  return max;
}

export const NOTHING_TO_SAMPLE = "cannot sample: every logit is -Infinity or NaN";

/** Keeps the smallest set of most likely tokens whose probability reaches p (p = 1: all). */
export class TopP implements LogitsProcessor {
  /** Scratch of one row: weights exp((l - max) / T), candidate ids (in id order) and their weights. */
  private w = new Float64Array(0);
  private cand = new Int32Array(0);
  private candW = new Float64Array(0);

  constructor(readonly p: number) {
    if (!Number.isFinite(p) || p <= 0 || p > 1) throw new UserError(`top-p must be in (0, 1], got ${p}`);
  }

  process(batch: LogitsBatch): void {
    if (this.p >= 1) return;
    const V = batch.vocab;
    if (this.w.length !== V) {
      this.w = new Float64Array(V);
      this.cand = new Int32Array(V);
      this.candW = new Float64Array(V);
    }
    for (let r = 0; r < batch.rows; r++) if (samples(batch, r)) this.processRow(rowScores(batch, r), batch.temperature[r]!);
  }

  private processRow(row: Float32Array, temperature: number): void {
    const V = row.length;
    const { w, cand, candW } = this;
    const max = rowMax(row);
    let total = 0;
    for (let i = 0; i < V; i++) {
      const l = row[i]!;
      const e = l > -Infinity ? Math.exp((l - max) / temperature) : 0;
      w[i] = e;
      total += e;
    }
    if (!(total > 0)) throw new UserError(NOTHING_TO_SAMPLE);
    const target = this.p * total;
    // Candidates: tokens with weight >= c. Once their mass reaches the target, nothing below c can be kept (the mass
    // ranked above such a token is already >= target), so only the candidates need sorting.
    let c = 1e-4;
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
    // target. Sorting the weights alone finds its length and its last weight tau: it holds every token above tau and
    // the lowest-id tokens at tau. Ties share one value, so the running sum is the same whichever tied id comes first.
    const sorted = candW.subarray(0, n).sort(); // ascending: read from the end
    let above = 0;
    let j = n - 1;
    while (j >= 0 && above < target) above += sorted[j--]!;
    const tau = sorted[j + 1]!;
    let ties = 0;
    for (let k = j + 1; k < n; k++) if (sorted[k] === tau) ties++;
    for (let i = 0; i < V; i++) {
      const wi = w[i]!;
      if (wi > tau) continue;
      if (wi === tau && ties > 0) {
        ties--;
        continue;
      }
      row[i] = -Infinity;
    }
  }
}

export interface ProcessorOptions {
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
}

/**
 * The processors of a set of sampling options, in HF order. Greedy decoding (greedy, or temperature 0) keeps only the
 * repetition penalty: the others never change which token is the most likely. A processor that mixes rows (`mixer`,
 * e.g. ContextSteering) goes after the temperature and before top-k / top-p, so it sees each row's own distribution
 * and the tokens left to sample come from the mixed one.
 */
export function samplingProcessors(opts: ProcessorOptions, mixer?: LogitsProcessor): LogitsProcessor[] {
  const { temperature = 1, topK = 0, topP = 1, repetitionPenalty = 1 } = opts;
  const list: LogitsProcessor[] = [];
  if (repetitionPenalty !== 1) list.push(new RepetitionPenalty(repetitionPenalty));
  const greedy = opts.greedy === true || temperature === 0;
  if (!greedy && temperature !== 1) list.push(new Temperature(temperature));
  if (mixer) list.push(mixer);
  if (greedy) return list;
  if (topK > 0) list.push(new TopK(topK));
  if (topP < 1) list.push(new TopP(topP));
  return list;
}
