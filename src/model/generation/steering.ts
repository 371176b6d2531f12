// Context steering (docs/decoding.md, Context steering): a logits processor over tied rows. A leader row holds the
// stream that reads a context, its one follower the same query without it; both share every sampled token. Per step,
// with each stream's scores z and temperature T (after the repetition penalty and the temperature processor):
//
//   lp_c = log_softmax(z_c / T_c),  lp_0 = log_softmax(z_0 / T_0)
//   lp   = log_softmax(lp_c + lambda * (lp_c - lp_0))
//
// written into the leader's row, whose temperature becomes 1, so top-k / top-p and the draw work on lp itself.
// lambda = 0 gives lp_c, lambda = -1 gives lp_0 (the sum is exactly the one stream's, before the final
// normalisation), and identical streams give lp_c for any lambda. A token at -Infinity in a stream whose weight (1 + lambda for lp_c, -lambda for lp_0) is
// not zero stays at -Infinity: a token forbidden in either stream is forbidden in the mix, and no -Inf - -Inf (NaN)
// or +Infinity can arise. Everything is computed in float64; very negative finite scores just get tiny weights.
//
// Each stream's log-normaliser is a constant over the vocabulary, and so is any multiple of it; the final
// log_softmax removes constants. So the mix is formed from x = (z - max z) / T of each stream, without normalising
// either first: one pass of exp per step instead of three.

import { UserError } from "../../util/errors.ts";
import { NOTHING_TO_SAMPLE, rowMax, rowScores, type LogitsBatch, type LogitsProcessor } from "./processors.ts";

/** One stream's scores as the mix reads them: row [vocab], its max (finite) and temperature. */
interface Stream {
  row: Float32Array;
  max: number;
  temperature: number;
}

function stream(row: Float32Array, temperature: number): Stream {
  const max = rowMax(row);
  if (!(max > -Infinity)) throw new UserError(NOTHING_TO_SAMPLE);
  return { row, max, temperature };
}

/**
 * The steered log-probabilities [vocab] of one step into `out` (float32): log_softmax(x_c + lambda * (x_c - x_0))
 * with x = (z - max) / T of each stream, which equals log_softmax(lp_c + lambda * (lp_c - lp_0)). `c` may be null
 * when lambda = -1 (it has weight 0) and `o` when lambda = 0. `mix` [vocab] is scratch.
 */
export function steerInto(c: Stream | null, o: Stream | null, lambda: number, out: Float32Array, mix: Float64Array): void {
  const V = out.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) {
    let s: number;
    // -Infinity (and NaN) scores are forbidden tokens: x = -Infinity.
    const zc = c ? c.row[i]! : 0;
    const z0 = o ? o.row[i]! : 0;
    const xc = c ? (zc > -Infinity ? (zc - c.max) / c.temperature : -Infinity) : 0;
    const x0 = o ? (z0 > -Infinity ? (z0 - o.max) / o.temperature : -Infinity) : 0;
    if (!c) s = x0;
    else if (!o) s = xc;
    else if (xc === -Infinity || x0 === -Infinity) s = -Infinity;
    // Two equal forms; each is exact at its end (lambda = 0 or -1) and both give xc when xc === x0.
    else s = lambda >= -0.5 ? xc + lambda * (xc - x0) : x0 + (1 + lambda) * (xc - x0);
    mix[i] = s;
    if (s > max) max = s;
  }
  if (max === Infinity) throw new UserError(`context steering: lambda ${lambda} overflows`);
  if (!(max > -Infinity)) throw new UserError(NOTHING_TO_SAMPLE);
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
  private mix = new Float64Array(0);

  constructor(readonly lambda: number) {
    checkLambda(lambda);
  }

  process(batch: LogitsBatch): void {
    const leader = batch.leader;
    if (!leader) return;
    if (this.mix.length !== batch.vocab) this.mix = new Float64Array(batch.vocab);
    const lambda = this.lambda;
    for (let f = 0; f < batch.rows; f++) {
      const l = leader[f]!;
      if (l === f) continue;
      const c = lambda === -1 ? null : stream(rowScores(batch, l), batch.temperature[l]!);
      const o = lambda === 0 ? null : stream(rowScores(batch, f), batch.temperature[f]!);
      steerInto(c, o, lambda, rowScores(batch, l), this.mix);
      batch.temperature[l] = 1;
    }
  }
}
