// CoS, context steering (docs/decoding.md, Context steering): tuning-free, no training. Each record decodes as two
// tied rows of one batch: its RAG prompt (the leader, which samples) and its non-pers prompt (the follower, which
// takes the same tokens). The ContextSteering processor mixes their next-token log-probabilities per step; top-k /
// top-p then apply to the mix. lambda = 0 is RAG, lambda = -1 is non-pers, lambda > 0 strengthens the history.

import { UserError } from "../util/errors.ts";
import { samplingProcessors, type LogitsProcessor, type ProcessorOptions } from "../model/generation/processors.ts";
import { ContextSteering } from "../model/generation/steering.ts";

/** The strengths the demo chooses from on the validation users. */
export const COS_LAMBDA_GRID: readonly number[] = [0.5, 1, 2, 3];

/** Parses a lambda flag: any finite real number. */
export function parseCosLambda(value: string, flag = "--cos-lambda"): number {
  const s = value.trim();
  const x = s === "" ? NaN : Number(s);
  if (!Number.isFinite(x)) throw new UserError(`${flag} must be a real number (e.g. 1 or -0.5), got "${value}"`);
  return x;
}

/**
 * The batch of a chunk of records: rows 0..n-1 the prompts with context (leaders; row i samples with seed + i as a
 * lone RAG row would), rows n..2n-1 those without (followers), and which row each one takes its tokens from.
 */
export function cosRows(withContext: readonly (readonly number[])[], without: readonly (readonly number[])[]): { prompts: (readonly number[])[]; tiedTo: number[] } {
  const n = withContext.length;
  if (without.length !== n) throw new Error(`cosRows: ${n} prompts with context, ${without.length} without`);
  return { prompts: [...withContext, ...without], tiedTo: [...withContext.keys(), ...withContext.keys()] };
}

/** The processors of CoS decoding: the sampling options' list with context steering after the temperature. */
export function cosProcessors(sampling: ProcessorOptions, lambda: number): LogitsProcessor[] {
  return samplingProcessors(sampling, new ContextSteering(lambda));
}
