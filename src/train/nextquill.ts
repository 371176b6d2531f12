// NextQuill (causal preference modelling): one compiled step runs every example twice, with its history prompt and
// with the history-free (Non-pers) prompt, as rows of one micro-batch, and scores the target tokens of both rows:
//
//   z_h, z_0   logits of the same Generator on [prompt(h, x); y] and [prompt(none, x); y]   (target positions only)
//   p_h, p_0   softmax(z_h)[y_t], softmax(z_0)[y_t]                                           (no gradient)
//   w_t        hi if p_h - p_0 > threshold else lo;  w~_t = w_t / sum over the micro-batch's targets of w
//   L_tok      sum_t w~_t CE(z_h[t], y_t)
//   L_diff     mean_t CE(z_h[t] - z_0[t], y_t)             (the gradient reaches both rows)
//   loss       L_tok + alpha * L_diff
//
// Rows are right-padded as in SFT; the batch carries, for each target token, its flat position in the history row,
// its flat position in the history-free row and the token, so the two predictions of y_t are gathered side by side
// (positions coincide after the gather). Everything goes through the fused chunked head: the Generator's head has no
// bias, so z_h - z_0 = (h_h - h_0) @ head^T and the difference loss is the chunked log-sum-exp of the hidden-state
// difference. No [tokens, vocab] tensor exists at any vocabulary size.
import { Graph, Tensor, ops, type DType } from "../graph/index.ts";
import type { Feed } from "../runtime/session.ts";
import type { ModelConfig } from "../model/config.ts";
import { embedTokens, forward, type Params } from "../model/qwen2.ts";
import { headOf } from "../model/params.ts";
import { declarePairPart } from "../flythinker/pair-params.ts";
import { UserError } from "../util/errors.ts";
import { type Batch, type Example, exampleLength } from "./batching.ts";

export interface NextQuillOptions {
  /** Weight of the difference loss. */
  alpha: number;
  /** p_h - p_0 above this marks a preference-bearing token. */
  threshold: number;
  /** Token weights [preference-bearing, other]. */
  weights: [number, number];
  /**
   * The second row's prompt: "non-pers" (default), the history-free template; "none", the history template with the
   * word None in place of the history (the original's placeholder).
   */
  counterfactual?: Counterfactual;
}

export type Counterfactual = "non-pers" | "none";
export const COUNTERFACTUALS: readonly Counterfactual[] = ["non-pers", "none"];

/** The history clause of the "none" counterfactual. */
export const NONE_HISTORY = "None";

export const DEFAULT_NEXTQUILL: Readonly<NextQuillOptions> = { alpha: 0.1, threshold: 0.05, weights: [0.9, 0.1] };

/** Graph inputs of a NextQuill batch besides the weights. */
export const NEXTQUILL_INPUTS = { ids: "ids", posH: "nq_pos_h", pos0: "nq_pos_0", targets: "nq_targets" } as const;

/** Checks the options; errors name the command-line flag and the range. */
export function checkNextQuillOptions(o: NextQuillOptions): NextQuillOptions {
  if (!(Number.isFinite(o.alpha) && o.alpha >= 0)) throw new UserError(`--nq-alpha must be a number >= 0, got ${o.alpha}`);
  if (!(Number.isFinite(o.threshold) && o.threshold > -1 && o.threshold < 1)) {
    throw new UserError(`--nq-threshold must be a number in (-1, 1), got ${o.threshold}`);
  }
  if (o.counterfactual !== undefined && !COUNTERFACTUALS.includes(o.counterfactual)) {
    throw new UserError(`--nq-counterfactual must be ${COUNTERFACTUALS.join(" or ")}, got "${String(o.counterfactual)}"`);
  }
  const [hi, lo] = o.weights;
  if (o.weights.length !== 2 || ![hi, lo].every((w) => Number.isFinite(w) && w > 0)) {
    throw new UserError(`--nq-weights must be two positive numbers HI,LO, got ${o.weights.join(",")}`);
  }
  return o;
}

export interface NextQuillGraph {
  graph: Graph;
  ids: Tensor;
  generator: Params;
  /** L_tok + alpha * L_diff, and the number of target tokens it scores. */
  loss: Tensor;
  count: Tensor;
  tokenLoss: Tensor;
  /** L_diff (built even when alpha is 0, but then not part of `loss`). */
  diffLoss: Tensor;
  /** Normalised token weights w~ [targets] and the probabilities they come from. */
  weights: Tensor;
  pH: Tensor;
  p0: Tensor;
}

export interface NextQuillGraphOptions {
  dtype?: DType;
  /** Vocabulary rows per chunk of the head (default: one chunk). */
  headChunk?: number;
  checkpointActivations?: boolean;
}

/** The NextQuill loss graph of a Generator (its weights are the graph inputs "generator." + HF name, as for SFT). */
export function buildNextQuillGraph(config: ModelConfig, nq: NextQuillOptions, options: NextQuillGraphOptions = {}): NextQuillGraph {
  checkNextQuillOptions(nq);
  const dtype = options.dtype ?? "float32";
  const graph = new Graph();
  const ids = graph.input(NEXTQUILL_INPUTS.ids, "int64", ["batch", "seq"]);
  const posH = graph.input(NEXTQUILL_INPUTS.posH, "int64", ["targets"]);
  const pos0 = graph.input(NEXTQUILL_INPUTS.pos0, "int64", ["targets"]);
  const targets = graph.input(NEXTQUILL_INPUTS.targets, "int64", ["targets"]);
  const generator = declarePairPart(graph, "generator", config, dtype);
  const { hidden } = forward(config, generator, { embeds: embedTokens(generator, ids), checkpointLayers: options.checkpointActivations });
  const D = config.hiddenSize;
  const flat = hidden.reshape([-1, D]); // [batch * seq, D]
  const hH = flat.gather(posH); // [targets, D]
  const h0 = flat.gather(pos0);
  const head = headOf(generator); // [V, D]
  const chunk = options.headChunk ?? config.vocabSize;
  const rows = head.gather(targets); // [targets, D]
  const dot = (h: Tensor) => h.mul(rows).sum(-1); // [targets]: the target's logit
  const lseH = ops.chunkedLogSumExp(hH, head, chunk);
  const nllH = lseH.sub(dot(hH));
  // The weights see the probabilities only: nothing upstream of them is differentiated through this branch.
  const pH = nllH.neg().exp().stopGradient();
  const p0 = ops.chunkedLogSumExp(h0, head, chunk).sub(dot(h0)).neg().exp().stopGradient();
  const weights = tokenWeights(pH, p0, nq);
  const tokenLoss = weights.mul(nllH).sum();
  const count = ops.dimValue(graph, targets.shape[0]!, dtype);
  const diff = hH.sub(h0); // z_h - z_0 = diff @ head^T
  const diffLoss = ops.chunkedLogSumExp(diff, head, chunk).sub(dot(diff)).sum().div(count.maximum(1));
  const loss = nq.alpha === 0 ? tokenLoss : tokenLoss.add(diffLoss.mul(nq.alpha));
  return { graph, ids, generator, loss, count, tokenLoss, diffLoss, weights, pH, p0 };
}

type CounterfactualExample = Example & { counterPromptIds: number[] };

function hasCounterfactual(e: Example): e is CounterfactualExample {
  return Array.isArray(e.counterPromptIds);
}

/** Padded tokens a NextQuill example takes in a batch (two rows of the longer one). */
export function nextQuillCost(e: Example): number {
  if (!hasCounterfactual(e)) return 2 * exampleLength(e);
  return 2 * Math.max(exampleLength(e), e.counterPromptIds.length + e.targetIds.length);
}

/**
 * The batch of examples `indices`: rows 0..B-1 hold prompt + target, rows B..2B-1 history-free prompt + target, all
 * right-padded to the longest; extra feeds give each target token's flat position in both rows and the token.
 */
export function makeNextQuillBatch(examples: readonly Example[], indices: readonly number[], opts: { padId?: number } = {}): Batch {
  const B = indices.length;
  const list = indices.map((i) => {
    const e = examples[i]!;
    if (!hasCounterfactual(e)) throw new UserError(`example ${e.id ?? `#${i}`} has no history-free prompt (NextQuill trains on records)`);
    return e;
  });
  const seq = Math.max(...list.map((e) => Math.max(e.promptIds.length, e.counterPromptIds.length) + e.targetIds.length));
  const ids = new BigInt64Array(2 * B * seq).fill(BigInt(opts.padId ?? 0));
  const T = list.reduce((n, e) => n + e.targetIds.length, 0);
  const posH = new BigInt64Array(T);
  const pos0 = new BigInt64Array(T);
  const targets = new BigInt64Array(T);
  let t = 0;
  let tokens = 0;
  list.forEach((e, r) => {
    const rowsOf: [number[], number][] = [
      [e.promptIds, r],
      [e.counterPromptIds, B + r],
    ];
    for (const [prompt, row] of rowsOf) {
      const seqIds = [...prompt, ...e.targetIds];
      seqIds.forEach((id, p) => (ids[row * seq + p] = BigInt(id)));
      tokens += seqIds.length;
    }
    // position P - 1 + j predicts target j
    e.targetIds.forEach((y, j) => {
      posH[t] = BigInt(r * seq + e.promptIds.length - 1 + j);
      pos0[t] = BigInt((B + r) * seq + e.counterPromptIds.length - 1 + j);
      targets[t] = BigInt(y);
      t++;
    });
  });
  const extra: Record<string, Feed> = {
    [NEXTQUILL_INPUTS.posH]: { data: posH, dims: [T] },
    [NEXTQUILL_INPUTS.pos0]: { data: pos0, dims: [T] },
    [NEXTQUILL_INPUTS.targets]: { data: targets, dims: [T] },
  };
  return { rows: 2 * B, seq, ids, labels: new BigInt64Array(0), extra, tokens, scored: T };
}

/** w~ [targets]: hi where p_h - p_0 > threshold, else lo, divided by their sum over all targets. */
export function tokenWeights(pH: Tensor, p0: Tensor, nq: Pick<NextQuillOptions, "threshold" | "weights">): Tensor {
  const g = pH.graph;
  const w = ops.where(pH.sub(p0).greater(nq.threshold), g.scalar(nq.weights[0], pH.dtype), g.scalar(nq.weights[1], pH.dtype));
  return w.div(w.sum().maximum(1e-30));
}
