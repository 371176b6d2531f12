// Coconut's two paths must compute the same model: the training graph (teacher-forced, one batch) and sequential
// decoding (latent passes, then the target forced token by token through the key/value cache). Compared on the
// logits of every position that predicts a target token.
import type { ModelConfig } from "../../model/config.ts";
import { compile, type Feed } from "../../runtime/session.ts";
import { maxAbsDiff } from "../../model/compare.ts";
import { coconutBatch } from "./batch.ts";
import { CoconutStepModel } from "./decoder.ts";
import { buildCoconutLossGraph, type CoconutGraphMode } from "./graph.ts";
import type { CoconutExample, LatentTokens } from "./layout.ts";

/** Training-graph logits at the positions predicting each target token: [target.length][vocab]. */
export async function coconutGraphLogits(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, e: CoconutExample, mode: CoconutGraphMode = "kv", threads?: number): Promise<Float32Array[]> {
  const lg = buildCoconutLossGraph(config, { latents: e.latentCount, mode });
  const c = await compile(lg.graph, { logits: lg.logits }, { threads });
  try {
    const feeds: Record<string, Feed> = { ...coconutBatch([e]).feeds };
    for (const [k, v] of weights) feeds[k] = v;
    const data = (await c.run(feeds)).logits.data as Float32Array;
    const V = config.vocabSize;
    const first = e.promptIds.length - 1; // one row: no padding, column = token index
    return e.targetIds.map((_, i) => data.slice((first + i) * V, (first + i + 1) * V));
  } finally {
    await c.release();
  }
}

/** Decoding logits (latent passes, then each step forced to the next target token): [target.length][vocab]. */
export async function coconutDecodeLogits(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, tokens: LatentTokens, e: CoconutExample): Promise<Float32Array[]> {
  const model = await CoconutStepModel.create(config, weights, tokens);
  try {
    const out = [await model.prefillLogits([e.promptIds])];
    for (const id of e.targetIds.slice(0, -1)) out.push(await model.stepLogits([id]));
    return out;
  } finally {
    await model.release();
  }
}

export interface CoconutPathDifferences {
  /** Max |graph - decoding| over the target positions' logits. */
  graphVsDecode: number;
  /** Max |KV-reuse graph - unrolled graph|. */
  kvVsUnrolled: number;
}

export async function compareCoconutPaths(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, tokens: LatentTokens, e: CoconutExample): Promise<CoconutPathDifferences> {
  const kv = await coconutGraphLogits(config, weights, e, "kv");
  const unrolled = await coconutGraphLogits(config, weights, e, "unrolled");
  const decoded = await coconutDecodeLogits(config, weights, tokens, e);
  return { graphVsDecode: maxAbsDiff(kv, decoded), kvVsUnrolled: maxAbsDiff(kv, unrolled) };
}
