// Which checkpoint is good to go back to after training diverged. The checkpoint of step s is good when training had
// not yet gone wrong by then: no more of its weights are non-finite than of the run's initial weights, its largest
// |weight| is at most WEIGHT_GROWTH times the initial one, and the loss of step s is finite and not diverging (at
// most max(LOSS_GROWTH x, LOSS_SLACK +) the lowest loss of the steps before it). The newest good checkpoint is never
// pruned, and a resumed run starts from it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { listCheckpoints, type TrainerState } from "./checkpoint.ts";

export const WEIGHT_GROWTH = 100;
export const LOSS_GROWTH = 2;
export const LOSS_SLACK = 1;

/** What a checkpoint records about its weights (TrainerState.health). */
export interface CheckpointHealth {
  /** Weights that are NaN or infinite, and the largest |weight| of the others. */
  nonFinite: number;
  maxAbsWeight: number;
  /** The same of the run's initial weights. */
  baseNonFinite: number;
  baseMaxAbs: number;
}

/** The largest finite |value| and the count of non-finite values. */
export function weightStats(arrays: Iterable<Float32Array>): { max: number; nonFinite: number } {
  let max = 0;
  let nonFinite = 0;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v)) nonFinite++;
      else if (Math.abs(v) > max) max = Math.abs(v);
    }
  }
  return { max, nonFinite };
}

/** Losses by step. */
export type LossLog = ReadonlyMap<number, number>;

/** Why the checkpoint at `step` is not good, or null when it is. */
export function checkpointProblem(step: number, health: CheckpointHealth | undefined, losses: LossLog): string | null {
  if (health) {
    if (health.nonFinite > health.baseNonFinite) return `${health.nonFinite - health.baseNonFinite} of its weights became NaN or infinite`;
    if (health.maxAbsWeight > WEIGHT_GROWTH * Math.max(health.baseMaxAbs, 1e-6)) {
      return `its largest |weight| is ${health.maxAbsWeight.toExponential(2)}, over ${WEIGHT_GROWTH} x the initial ${health.baseMaxAbs.toExponential(2)}`;
    }
  }
  const loss = losses.get(step);
  if (loss === undefined) return null;
  if (!Number.isFinite(loss)) return `its loss was ${loss}`;
  let best = Infinity;
  for (const [s, l] of losses) if (s < step && Number.isFinite(l) && l < best) best = l;
  if (Number.isFinite(best) && loss > Math.max(LOSS_GROWTH * best, best + LOSS_SLACK)) {
    return `its loss ${loss.toPrecision(4)} is diverging from the best ${best.toPrecision(4)} before it`;
  }
  return null;
}

/** The newest good checkpoint of `root` and the newer ones that are not, with why. */
export function judgeCheckpoints(root: string, losses: LossLog): { good: { step: number; dir: string } | null; bad: { step: number; dir: string; why: string }[] } {
  const bad: { step: number; dir: string; why: string }[] = [];
  for (const c of listCheckpoints(root).reverse()) {
    let health: CheckpointHealth | undefined;
    try {
      health = (JSON.parse(readFileSync(join(c.dir, "trainer.json"), "utf8")) as TrainerState).health;
    } catch {
      continue;
    }
    const why = checkpointProblem(c.step, health, losses);
    if (why === null) return { good: c, bad };
    bad.push({ ...c, why });
  }
  return { good: null, bad };
}
