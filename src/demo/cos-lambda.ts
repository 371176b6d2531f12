// The demo's choice of the CoS strength: every lambda of the grid decodes the same validation records (never test
// users), and the one with the best mean ROUGE-1 wins (the smaller lambda on a tie). The choice and every lambda's
// scores go into the report.
import { join } from "node:path";
import { COS_LAMBDA_GRID } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { scoreAll } from "../eval/score.ts";
import { readPredictionRecords } from "../eval/io.ts";
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

/** Writes one method's predictions for `records` to `file` (generateMethod, or the same in a lane). */
export type GenerateFile = (file: string, records: readonly PersonalRecord[], g: MethodGeneration, progress?: Progress) => Promise<void>;

const inThisThread: GenerateFile = async (file, records, g, progress) => {
  await generateMethod(file, records, g, progress);
};

/**
 * Decodes `records` with CoS at each lambda of `grid` (predictions written to DIR/lambda-X.jsonl; all lambdas are
 * asked for at once, so lanes decode them side by side) and chooses.
 */
export async function chooseCosLambda(
  dir: string,
  records: readonly PersonalRecord[],
  g: Omit<MethodGeneration, "baseline" | "cosLambda">,
  progress?: (lambda: number) => Progress,
  grid: readonly number[] = COS_LAMBDA_GRID,
  generate: GenerateFile = inThisThread,
): Promise<CosLambdaChoice> {
  const scores: CosLambdaChoice["scores"] = await Promise.all(
    grid.map(async (lambda) => {
      const file = join(dir, `lambda-${lambda}.jsonl`);
      const p = progress?.(lambda);
      try {
        await generate(file, records, { ...g, baseline: "cos", cosLambda: lambda }, p);
      } finally {
        p?.stop();
      }
      const preds = readPredictionRecords(file);
      const s = scoreAll(preds.map((x) => x.prediction), preds.map((x) => x.reference));
      return { lambda, rouge1: s.rouge1, meteor: s.meteor };
    }),
  );
  return { lambda: bestLambda(scores), records: records.length, users: new Set(records.map((r) => r.user)).size, scores };
}
