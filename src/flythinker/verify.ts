// The three computation paths of a model — teacher-forced training graph, sequential decoding, parallel decoding —
// must give the same logits for the same weights and tokens (docs/method.md, Why the paths agree). These functions
// compute each path's logits at the positions that predict the target tokens, and compare them.
import { buildLossGraph } from "./graph.ts";
import { PairDecoder, floatPair, type PairWeights, type DecodeMode } from "./decode.ts";
import { thoughtMask } from "./fusion.ts";
import { flattenPair, pairFromNamed } from "./pair-params.ts";
import { compile, type Feed } from "../runtime/session.ts";
import { maxAbsDiff } from "../model/compare.ts";

export { maxAbsDiff };

/** Feeds for the loss graph with one row: prompt + target, labels on the target tokens. */
export function teacherForcedFeeds(model: PairWeights, prompt: readonly number[], target: readonly number[]): Record<string, Feed> {
  const ids = [...prompt, ...target];
  const S = ids.length;
  const labels = ids.map((_, p) => (p + 1 >= prompt.length && p + 1 < S ? ids[p + 1]! : -100));
  const feeds: Record<string, Feed> = {
    ids: { data: BigInt64Array.from(ids, BigInt), dims: [1, S] },
    labels: { data: BigInt64Array.from(labels, BigInt), dims: [1, S] },
  };
  for (const [name, v] of flattenPair(pairFromNamed(model.pair, floatPair(model, "the training graph")))) feeds[name] = v;
  if (model.pair.reasoner && model.reasoner) {
    feeds.thought_mask = { data: thoughtMask(S, prompt.length, model.pair.fusion.enhance), dims: [1, S] };
  }
  return feeds;
}

/** Training-graph logits at the positions that predict each target token: [target.length][vocab]. */
export async function teacherForcedLogits(
  model: PairWeights,
  prompt: readonly number[],
  target: readonly number[],
  threads?: number,
): Promise<Float32Array[]> {
  const lg = buildLossGraph(model.pair);
  const c = await compile(lg.graph, { logits: lg.logits }, { threads });
  const { logits } = await c.run(teacherForcedFeeds(model, prompt, target));
  const V = model.pair.generator.vocabSize;
  const data = logits.data as Float32Array;
  return target.map((_, i) => data.slice((prompt.length - 1 + i) * V, (prompt.length + i) * V));
}

/** Decoding logits when each step is forced to the next target token: [target.length][vocab]. */
export async function forcedDecodeLogits(
  model: PairWeights,
  prompt: readonly number[],
  target: readonly number[],
  mode: DecodeMode,
): Promise<Float32Array[]> {
  const dec = await PairDecoder.create(model, { mode });
  const out: Float32Array[] = [];
  try {
    for await (const step of dec.decode(prompt, (_l, gen) => target[gen.length]!, target.length)) out.push(step.logits);
  } finally {
    await dec.close();
  }
  return out;
}

export interface PathDifferences {
  training_vs_sequential: number;
  training_vs_parallel: number;
  sequential_vs_parallel: number;
}

/** Max absolute logit difference between each pair of paths over the target positions. */
export async function comparePaths(model: PairWeights, prompt: readonly number[], target: readonly number[]): Promise<PathDifferences> {
  const tf = await teacherForcedLogits(model, prompt, target);
  const seq = await forcedDecodeLogits(model, prompt, target, "sequential");
  const par = await forcedDecodeLogits(model, prompt, target, "parallel");
  return {
    training_vs_sequential: maxAbsDiff(tf, seq),
    training_vs_parallel: maxAbsDiff(tf, par),
    sequential_vs_parallel: maxAbsDiff(seq, par),
  };
}

/** Mean negative log-likelihood (nats) of `target` under per-position logits ([target.length][vocab]). */
export function meanNll(logits: readonly Float32Array[], target: readonly number[]): number {
  let total = 0;
  logits.forEach((row, i) => {
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    total += max + Math.log(sum) - row[target[i]!]!;
  });
  return total / logits.length;
}

export interface QuantizedDifferences {
  /** Max absolute logit difference, quantized (parallel decoding) vs float32 (sequential decoding). */
  quantized_vs_float: number;
  /** The same, relative to the largest float32 logit. */
  quantized_vs_float_relative: number;
  /** Max absolute logit difference between sequential and parallel decoding of the quantized pair. */
  quantized_sequential_vs_parallel: number;
  /** Mean NLL of the target tokens under each. */
  nll_float: number;
  nll_quantized: number;
}

/** How far the quantized pair's logits are from the float32 pair's on one record, and its own two paths' agreement. */
export async function compareQuantized(float: PairWeights, quantized: PairWeights, prompt: readonly number[], target: readonly number[]): Promise<QuantizedDifferences> {
  const f = await forcedDecodeLogits(float, prompt, target, "sequential");
  const seq = await forcedDecodeLogits(quantized, prompt, target, "sequential");
  const par = await forcedDecodeLogits(quantized, prompt, target, "parallel");
  const largest = Math.max(...f.map((row) => Math.max(...Array.from(row, Math.abs))));
  const diff = maxAbsDiff(par, f);
  return {
    quantized_vs_float: diff,
    quantized_vs_float_relative: largest > 0 ? diff / largest : 0,
    quantized_sequential_vs_parallel: maxAbsDiff(seq, par),
    nll_float: meanNll(f, target),
    nll_quantized: meanNll(par, target),
  };
}
