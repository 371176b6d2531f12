// Learning-rate schedules: linear warm-up from 0 over the first `warmupSteps` steps, then cosine or linear decay to 0
// at `totalSteps`. Same values as transformers' get_cosine_schedule_with_warmup / get_linear_schedule_with_warmup:
// step s (0-based, the s-th optimiser update) uses
//   lr * s / W                                     for s < W
//   lr * 0.5 * (1 + cos(pi * (s - W) / (T - W)))   (cosine) or lr * (T - s) / (T - W) (linear) otherwise.
import { UserError } from "../util/errors.ts";

export type ScheduleKind = "cosine" | "linear" | "constant";
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ["cosine", "linear", "constant"];

export interface ScheduleOptions {
  /** Peak learning rate. */
  lr: number;
  totalSteps: number;
  warmupSteps: number;
  kind: ScheduleKind;
}

/** Warm-up steps for a ratio of the total, rounded up as transformers does (ratio 0 -> 0 steps). */
export function warmupStepsFor(ratio: number, totalSteps: number): number {
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw new UserError(`--warmup-ratio must be in [0, 1], got ${ratio}`);
  return Math.ceil(ratio * totalSteps);
}

/** Learning rate of the s-th update (s = 0, 1, ..., totalSteps - 1). */
export function learningRate(s: number, o: ScheduleOptions): number {
  const { lr, totalSteps: T, warmupSteps: W } = o;
  if (s < W) return (lr * s) / Math.max(1, W);
  if (o.kind === "constant") return lr;
  const span = Math.max(1, T - W);
  const progress = Math.min(1, (s - W) / span);
  if (o.kind === "linear") return lr * Math.max(0, 1 - progress);
  return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
}
