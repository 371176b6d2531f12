// Context steering (docs/decoding.md, Context steering): a logits processor over tied rows. A leader row holds the
// stream that reads a context, its one follower the same query without it; both share every sampled token. Per step,
// with each stream's scores z and temperature T (after the repetition penalty and the temperature processor):
//
//   lp_c = log_softmax(z_c / T_c),  lp_0 = log_softmax(z_0 / T_0)
//   lp   = log_softmax(lp_c + lambda * (lp_c - lp_0))
//
// written into the leader's row, whose temperature becomes 1, so top-k / top-p and the draw work on lp itself.
// lambda = 0 gives lp_c, lambda = -1 gives lp_0 (each exactly, before the final normalisation), and identical streams
// give lp_c for any lambda. A token at -Infinity in a stream whose weight (1 + lambda for lp_c, -lambda for lp_0) is
// not zero stays at -Infinity: a token forbidden in either stream is forbidden in the mix, and no -Inf - -Inf (NaN)
// or +Infinity can arise. Everything is computed in float64; very negative finite scores just get tiny weights.

import { UserError } from "../../util/errors.ts";
import { NOTHING_TO_SAMPLE, rowMax, rowScores, type LogitsBatch, type LogitsProcessor } from "./processors.ts";

/** log_softmax(row / temperature) into `out` [vocab], in float64 (-Infinity stays -Infinity). */
export function logSoftmaxInto(row: Float32Array, temperature: number, out: Float64Array): void {
  const max = rowMax(row);
  if (!(max > -Infinity)) throw new UserError(NOTHING_TO_SAMPLE);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const l = row[i]!;
    const x = l > -Infinity ? (l - max) / temperature : -Infinity;
    out[i] = x;
    sum += Math.exp(x);
  }
  const lse = Math.log(sum);
  for (let i = 0; i < row.length; i++) out[i] = out[i]! - lse;
}

/**
 * The steered log-probabilities [vocab] of one step from the two streams' log-probabilities (float64), into `out`
 * (float32) normalised: log_softmax(lp_c + lambda * (lp_c - lp_0)). `lpC` may be null when lambda = -1 (unused) and
 * `lp0` when lambda = 0.
 */
export function steerInto(lpC: Float64Array | null, lp0: Float64Array | null, lambda: number, out: Float32Array, mix: Float64Array): void {
  const V = out.length;
  const wC = 1 + lambda;
  const w0 = -lambda;
  let max = -Infinity;
  for (let i = 0; i < V; i++) {
    let s: number;
    if (wC === 0) s = lp0![i]!;
    else if (w0 === 0) s = lpC![i]!;
    else {
      const c = lpC![i]!;
      const o = lp0![i]!;
      // Two equal forms; each is exact at its end (lambda = 0 or -1) and both give c when c === o.
      if (c === -Infinity || o === -Infinity) s = -Infinity;
      else s = lambda >= -0.5 ? c + lambda * (c - o) : o + wC * (c - o);
    }
    mix[i] = s;
    if (s > max) max = s;
  }
  if (!(max > -Infinity) || max === Infinity) throw new UserError(max === Infinity ? `context steering: lambda ${lambda} overflows` : NOTHING_TO_SAMPLE);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(mix[i]! - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < V; i++) out[i] = mix[i]! - lse;
}

/** Checks a steering strength: any finite number. */
export function checkLambda(lambda: number): number {
  if (!Number.isFinite(lambda)) throw new UserError(`context steering lambda must be a finite number, got ${lambda}`);
  return lambda;
}

/** The context-steering processor: each leader row with a follower gets the steered log-probabilities. */
export class ContextSteering implements LogitsProcessor {
  private lpC = new Float64Array(0);
  private lp0 = new Float64Array(0);
  private mix = new Float64Array(0);

  constructor(readonly lambda: number) {
    checkLambda(lambda);
  }

  process(batch: LogitsBatch): void {
    const leader = batch.leader;
    if (!leader) return;
    const V = batch.vocab;
    if (this.mix.length !== V) {
      this.lpC = new Float64Array(V);
      this.lp0 = new Float64Array(V);
      this.mix = new Float64Array(V);
    }
    for (let f = 0; f < batch.rows; f++) {
      const l = leader[f]!;
      if (l === f) continue;
      const lambda = this.lambda;
      if (lambda !== -1) logSoftmaxInto(rowScores(batch, l), batch.temperature[l]!, this.lpC);
      if (lambda !== 0) logSoftmaxInto(rowScores(batch, f), batch.temperature[f]!, this.lp0);
      steerInto(lambda === -1 ? null : this.lpC, lambda === 0 ? null : this.lp0, lambda, rowScores(batch, l), this.mix);
      batch.temperature[l] = 1;
    }
  }
}
