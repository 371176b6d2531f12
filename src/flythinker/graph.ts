// The teacher-forced graph of a Generator (+ optional Reasoner): one pass over prompt + response, loss on response.
// Without a Reasoner this is plain SFT; with one it is FlyThinker: Reasoner -> thoughts -> shift -> fuse -> Generator.
import { Graph, Tensor, ops, type DType } from "../graph/index.ts";
import type { ModelConfig } from "../model/config.ts";
import { embedTokens, forward, type Params } from "../model/qwen2.ts";
import { headOf } from "../model/params.ts";
import { type FusionOptions, embeddingNormScale, fuse, shiftThoughts, thoughtNorms } from "./fusion.ts";
import { type PairParams, declarePairPart, declareProjection, pairLeaves } from "./pair-params.ts";

export interface PairConfig {
  generator: ModelConfig;
  /** Absent: SFT (the Generator alone). */
  reasoner?: ModelConfig;
  fusion: FusionOptions;
}

export interface LossGraphOptions {
  dtype?: DType;
  /** Add an input `thought_order` [batch, seq] (int64) that permutes the thoughts across positions (an ablation). */
  permutableThoughts?: boolean;
  /**
   * Take the detached thought norms ||r_{p-1}|| as an input `thought_norms` [batch, seq, 1] instead of computing them,
   * so finite differences can differentiate exactly the function whose gradient training uses.
   */
  thoughtNormsInput?: boolean;
  /**
   * Vocabulary rows per chunk of the fused LM head + cross-entropy (logits are never held for the whole vocabulary).
   * Default: the whole vocabulary, i.e. the plain head (use `autoHeadChunk` to choose from a batch size and budget).
   */
  headChunk?: number;
  /** Recompute each decoder layer's activations in the backward pass instead of keeping them (both models). */
  checkpointActivations?: boolean;
}

/** The graph and its inputs; the parameters are the pair's trees of graph inputs. */
export interface LossGraph extends PairParams<Tensor> {
  graph: Graph;
  /** Inputs: token ids [batch, seq]; labels [batch, seq] (-100 = not scored); thought mask [batch, seq] (float). */
  ids: Tensor;
  labels: Tensor;
  thoughtMask?: Tensor;
  thoughtOrder?: Tensor;
  /**
   * Mean cross-entropy over scored positions and their count (through the fused head); the Generator's logits
   * [batch, seq, vocab] (computed only when a caller asks for them as an output).
   */
  loss: Tensor;
  count: Tensor;
  logits: Tensor;
  /** Reasoner thoughts [batch, seq, d_R] and the detached norms used at each position (FlyThinker only). */
  thoughts?: Tensor;
  thoughtNorms?: Tensor;
  generator: Params;
  reasoner?: Params;
  projection?: Tensor;
}

/**
 * Token ids both models can embed: the smaller of the two embedding tables. Two models that share a tokenizer may pad
 * their tables differently (Qwen2.5-7B has 152,064 rows, 0.5B and 1.5B 151,936); the rows past the tokenizer's
 * vocabulary are never fed. Whether the tokenizers agree is checked on the tokenizers themselves (train/run.ts).
 */
export function sharedVocab(pair: Pick<PairConfig, "generator" | "reasoner">): number {
  return Math.min(pair.generator.vocabSize, pair.reasoner?.vocabSize ?? Infinity);
}

export function checkPair(pair: PairConfig): void {
  const { generator: g, reasoner: r, fusion } = pair;
  if (!r) return;
  if (fusion.fuse === "prefix" && r.hiddenSize > g.hiddenSize) {
    throw new Error(
      `the Reasoner's hidden size ${r.hiddenSize} exceeds the Generator's ${g.hiddenSize}: use --fuse projection`,
    );
  }
}

export function buildLossGraph(pair: PairConfig, options: LossGraphOptions = {}): LossGraph {
  checkPair(pair);
  const dtype = options.dtype ?? "float32";
  const graph = new Graph();
  const ids = graph.input("ids", "int64", ["batch", "seq"]);
  const labels = graph.input("labels", "int64", ["batch", "seq"]);
  const generator = declarePairPart(graph, "generator", pair.generator, dtype);
  let embeds = embedTokens(generator, ids);

  const out: Partial<LossGraph> = { graph, ids, labels, generator };
  if (pair.reasoner) {
    const reasoner = declarePairPart(graph, "reasoner", pair.reasoner, dtype);
    const thoughtMask = graph.input("thought_mask", dtype, ["batch", "seq"]);
    const thoughts = forward(pair.reasoner, reasoner, { embeds: embedTokens(reasoner, ids), checkpointLayers: options.checkpointActivations }).hidden;
    let prev = shiftThoughts(thoughts);
    if (options.permutableThoughts) {
      const order = graph.input("thought_order", "int64", ["batch", "seq"]);
      const index = order.unsqueeze(-1).expand(prev.shape);
      prev = prev.gatherElements(index, 1);
      out.thoughtOrder = order;
    }
    const projection = pair.fusion.fuse === "projection"
      ? declareProjection(graph, pair.generator, pair.reasoner, dtype)
      : undefined;
    const scale = embeddingNormScale(generator.embed);
    const norms = options.thoughtNormsInput ? graph.input("thought_norms", dtype, ["batch", "seq", 1]) : thoughtNorms(prev);
    embeds = fuse(embeds, prev, thoughtMask, scale, pair.fusion, projection, norms);
    Object.assign(out, { reasoner, thoughtMask, thoughts, projection, thoughtNorms: norms });
  }
  const { logits, hidden } = forward(pair.generator, generator, { embeds, checkpointLayers: options.checkpointActivations });
  const head = headOf(generator);
  const chunk = options.headChunk ?? pair.generator.vocabSize;
  const { loss, count } = ops.lmHeadCrossEntropy(hidden, head, labels, { chunk });
  return { ...out, loss, count, logits } as LossGraph;
}

/** Every weight input of the graph, in a fixed order (generator, reasoner, projection). */
export function weightInputs(lg: LossGraph, options: { freezeReasoner?: boolean } = {}): Tensor[] {
  return pairLeaves(lg, { withoutReasoner: options.freezeReasoner });
}
