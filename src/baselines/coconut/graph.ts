// Coconut's training graph for a batch of `coconutBatch` feeds with n latent slots (static: one graph per stage).
// E = token embeddings; the input of latent slot j is the final-norm hidden state (what `forward` returns as
// `hidden`, after the last RMSNorm) of the position before it; nothing is detached, so the loss reaches the
// parameters through the whole chain of thoughts. Loss = shifted cross-entropy over the labels (fused chunked head).
//
// Two builds of the same function of the parameters:
// - "kv" (training): pass 0 on the prefix [0, prefix), then one position per latent slot, each appending its keys
//   and values to the cache of the earlier positions, then the tail on the whole cache: about one pass over the
//   tokens plus the chain.
// - "unrolled" (reference): n + 1 full passes over the whole sequence; pass j replaces slot j's input by the hidden
//   state of the previous position from pass j - 1 (a one-hot select and blend, no cache).
// Parameter inputs are named by their HF names, optionally prefixed (options.paramPrefix).
import { Graph, Tensor, ops, type DType } from "../../graph/index.ts";
import { addDims } from "../../graph/dims.ts";
import type { ModelConfig } from "../../model/config.ts";
import { headOf } from "../../model/params.ts";
import { declareParams, embedTokens, forwardHidden, lmHead, type KVCache, type Params } from "../../model/qwen2.ts";

export type CoconutGraphMode = "kv" | "unrolled";

export interface CoconutGraphOptions {
  /** Latent slots per row (the stage's n * c). */
  latents: number;
  mode?: CoconutGraphMode;
  dtype?: DType;
  /** Vocabulary rows per chunk of the fused head + cross-entropy (default: the whole vocabulary). */
  headChunk?: number;
  /**
   * What the latent slots read (kv mode): the chain (default, training); the chain with no gradient through it
   * ("detached"); or an input `thoughts` [batch, n, hidden] instead of the chain ("input"). The last two isolate, for
   * tests, the part of a gradient that flows through the thoughts.
   */
  thoughts?: "chain" | "detached" | "input";
  /** Prefix of the parameter inputs' names (default none: HF names; "generator." names them as SFT's graph does). */
  paramPrefix?: string;
}

export interface CoconutLossGraph {
  graph: Graph;
  params: Params;
  loss: Tensor;
  count: Tensor;
  /** Final-norm hidden states [batch, prefix + n + tail, hidden] of the last pass. */
  hidden: Tensor;
  /** Logits [batch, prefix + n + tail, vocab] (only computed when asked for as an output). */
  logits: Tensor;
  /** The vectors fed at the latent slots [batch, n, hidden] (n > 0). */
  thoughts?: Tensor;
}

/** [batch, k] of ones (int64) shaped after `like` [batch, ...]. */
function onesColumns(like: Tensor, k: number): Tensor {
  const one = ops.zerosLike(like.slice(1, 0, 1)).add(1);
  return k === 1 ? one : ops.concat(Array.from({ length: k }, () => one), 1);
}

export function buildCoconutLossGraph(config: ModelConfig, options: CoconutGraphOptions): CoconutLossGraph {
  const n = options.latents;
  if (!Number.isInteger(n) || n < 0) throw new Error(`coconut graph: latents must be an integer >= 0, got ${n}`);
  const dtype = options.dtype ?? "float32";
  const g = new Graph();
  const prefixIds = g.input("prefix_ids", "int64", ["batch", "prefix"]);
  const prefixMask = g.input("prefix_mask", "int64", ["batch", "prefix"]);
  const prefixPositions = g.input("prefix_positions", "int64", ["batch", "prefix"]);
  const tailIds = g.input("tail_ids", "int64", ["batch", "tail"]);
  const labels = g.input("labels", "int64", ["batch", addDims(addDims("prefix", n), "tail")]);
  const params = declareParams(g, config, options.paramPrefix ?? "", dtype);

  const prefixEmbeds = embedTokens(params, prefixIds); // [B, P, D]
  const tailEmbeds = embedTokens(params, tailIds); // [B, T, D]
  const lastPosition = prefixPositions.slice(1, -1); // [B, 1]: <bot>'s position
  const tailPositions = lastPosition.add(1 + n).add(ops.range(g, "tail").unsqueeze(0));
  const tailOnes = ops.zerosLike(tailIds).add(1);

  const mode = options.mode ?? "kv";
  const feedMode = options.thoughts ?? "chain";
  if (mode === "unrolled" && feedMode !== "chain") throw new Error(`coconut graph: thoughts "${feedMode}" needs mode "kv"`);
  const fed = feedMode === "input" ? g.input("thoughts", dtype, ["batch", n, config.hiddenSize]) : undefined;
  const build = mode === "kv" ? kvChain : unrolledChain;
  const { hidden, thoughts } = build({ config, params, n, prefixEmbeds, tailEmbeds, prefixMask, prefixPositions, lastPosition, tailPositions, tailOnes, detach: feedMode === "detached", fed });
  const { loss, count } = ops.lmHeadCrossEntropy(hidden, headOf(params), labels, { chunk: options.headChunk ?? config.vocabSize });
  return { graph: g, params, loss, count, hidden, logits: lmHead(params, hidden), ...(thoughts ? { thoughts } : {}) };
}

interface ChainInput {
  config: ModelConfig;
  params: Params;
  n: number;
  prefixEmbeds: Tensor;
  tailEmbeds: Tensor;
  prefixMask: Tensor;
  prefixPositions: Tensor;
  lastPosition: Tensor;
  tailPositions: Tensor;
  tailOnes: Tensor;
  detach?: boolean;
  fed?: Tensor;
}

interface ChainOutput {
  hidden: Tensor;
  thoughts?: Tensor;
}

/** Pass 0 on the prefix, one cached step per latent slot, then the tail. */
function kvChain(c: ChainInput): ChainOutput {
  const first = forwardHidden(c.config, c.params, { embeds: c.prefixEmbeds, positions: c.prefixPositions, attentionMask: c.prefixMask });
  const hiddens = [first.hidden];
  const thoughts: Tensor[] = [];
  let past: KVCache = first.present;
  let mask = c.prefixMask;
  let previous = first.hidden.slice(1, -1); // [B, 1, D]: the hidden state before slot 0
  for (let j = 0; j < c.n; j++) {
    thoughts.push(previous);
    mask = ops.concat([mask, onesColumns(c.prefixMask, 1)], 1);
    const input = c.fed ? c.fed.slice(1, j, j + 1) : c.detach ? previous.stopGradient() : previous;
    const step = forwardHidden(c.config, c.params, { embeds: input, positions: c.lastPosition.add(1 + j), attentionMask: mask, past });
    past = step.present;
    hiddens.push(step.hidden);
    previous = step.hidden;
  }
  const tail = forwardHidden(c.config, c.params, {
    embeds: c.tailEmbeds,
    positions: c.tailPositions,
    attentionMask: ops.concat([mask, c.tailOnes], 1),
    past,
  });
  hiddens.push(tail.hidden);
  return { hidden: ops.concat(hiddens, 1), ...(c.n > 0 ? { thoughts: ops.concat(thoughts, 1) } : {}) };
}

/** n + 1 full passes: pass j's hidden state before slot j becomes slot j's input for pass j + 1. */
function unrolledChain(c: ChainInput): ChainOutput {
  const g = c.prefixEmbeds.graph;
  const dtype = c.prefixEmbeds.dtype;
  const slotsInit = c.n > 0 ? [ops.zerosLike(c.prefixEmbeds.slice(1, 0, 1))] : [];
  const slotParts = Array.from({ length: c.n }, () => slotsInit[0]!);
  let embeds = ops.concat([c.prefixEmbeds, ...slotParts, c.tailEmbeds], 1); // [B, S, D]
  const seq = embeds.shape[1]!;
  const slotPositions = Array.from({ length: c.n }, (_, j) => c.lastPosition.add(1 + j));
  const positions = ops.concat([c.prefixPositions, ...slotPositions, c.tailPositions], 1);
  const mask = ops.concat([c.prefixMask, ...(c.n > 0 ? [onesColumns(c.prefixMask, c.n)] : []), c.tailOnes], 1);
  const column = ops.range(g, seq); // [S]
  const prefixLen = ops.dimValue(g, c.prefixEmbeds.shape[1]!);
  /** [1, S, 1] one-hot of column prefix + offset. */
  const oneHot = (offset: number) => column.equal(prefixLen.add(offset)).cast(dtype).reshape([1, seq, 1]);
  const thoughts: Tensor[] = [];
  for (let j = 0; j < c.n; j++) {
    const hidden = forwardHidden(c.config, c.params, { embeds, positions, attentionMask: mask }).hidden;
    const thought = hidden.mul(oneHot(j - 1)).sum(1, true); // [B, 1, D]: the hidden state at column prefix + j - 1
    thoughts.push(thought);
    const slot = oneHot(j);
    embeds = embeds.mul(slot.neg().add(1)).add(thought.mul(slot));
  }
  const hidden = forwardHidden(c.config, c.params, { embeds, positions, attentionMask: mask }).hidden;
  return { hidden, ...(c.n > 0 ? { thoughts: ops.concat(thoughts, 1) } : {}) };
}
