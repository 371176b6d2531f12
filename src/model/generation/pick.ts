// The last step of choosing a token, after the logits processors: the most likely token (greedy), or a draw from
// softmax(scores / T) over the tokens the processors left (scores above -Infinity), with one uniform number.
import type { Rng } from "../../util/random.ts";
import { NOTHING_TO_SAMPLE, rowMax } from "./processors.ts";
import { UserError } from "../../util/errors.ts";

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

/**
 * Draws a token from one row's scores [vocab] at `temperature`: weights exp((l - max) / T) of the tokens above
 * -Infinity, normalised, accumulated in id order until they pass one uniform number from `rng`.
 */
export function drawToken(row: Float32Array, temperature: number, rng: Rng): number {
  const max = rowMax(row);
  let sum = 0;
  let last = -1;
  for (let i = 0; i < row.length; i++) {
    const l = row[i]!;
    if (l > -Infinity) {
      const e = Math.exp((l - max) / temperature);
      sum += e;
      if (e > 0) last = i;
    }
  }
  if (!(sum > 0)) throw new UserError(NOTHING_TO_SAMPLE);
  const u = rng.float();
  let cum = 0;
  for (let i = 0; i < row.length; i++) {
    const l = row[i]!;
    if (l > -Infinity) {
      cum += Math.exp((l - max) / temperature) / sum;
      if (u < cum) return i;
    }
  }
  return last;
}
