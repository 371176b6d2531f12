// The demo's choice of the CoS strength: every lambda of the grid decodes the same validation records (never test
// users), and the one with the best mean ROUGE-1 wins (the smaller lambda on a tie). The choice and every lambda's
// scores go into the report.
import { join } from "node:path";
import { COS_LAMBDA_GRID } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { scoreAll } from "../eval/score.ts";
import { generateMethod, type MethodGeneration } from "./generate.ts";
import type { Progress } from "./progress.ts";

export interface CosLambdaChoice {
  lambda: number;
  /** Validation records and users the grid was scored on. */
  records: number;
  users: number;
  /** Mean ROUGE-1 and METEOR of each lambda, in grid order. */
  scores: { lambda: number; rouge1: number; meteor: number }[];
}

/** The lambda with the best ROUGE-1 (ties: the first, i.e. the smaller one in an increasing grid). */
export function bestLambda(scores: readonly { lambda: number; rouge1: number }[]): number {
  let best = scores[0]!;
  for (const s of scores) if (s.rouge1 > best.rouge1) best = s;
  return best.lambda;
}

/** Decodes `records` with CoS at each lambda of `grid` (predictions written to DIR/lambda-X.jsonl) and chooses. */
export async function chooseCosLambda(
  dir: string,
  records: readonly PersonalRecord[],
  g: Omit<MethodGeneration, "baseline" | "cosLambda">,
  progress?: (lambda: number) => Progress,
  grid: readonly number[] = COS_LAMBDA_GRID,
): Promise<CosLambdaChoice> {
  const scores: CosLambdaChoice["scores"] = [];
  for (const lambda of grid) {
    const p = progress?.(lambda);
    try {
      const preds = await generateMethod(join(dir, `lambda-${lambda}.jsonl`), records, { ...g, baseline: "cos", cosLambda: lambda }, p);
      const s = scoreAll(preds.map((x) => x.prediction), preds.map((x) => x.reference));
      scores.push({ lambda, rouge1: s.rouge1, meteor: s.meteor });
    } finally {
      p?.stop();
    }
  }
  return { lambda: bestLambda(scores), records: records.length, users: new Set(records.map((r) => r.user)).size, scores };
}
