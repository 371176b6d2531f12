// The parameters of a Qwen2-family model as one typed tree, generic over what a leaf holds: graph tensors while a
// graph is built, Float32Arrays for values, ParamSpecs for shapes and initialisation. Projection weights are in HF
// layout [out, in]. Hugging Face tensor names are not spelled here: model/hf-names.ts maps leaves to names.
import type { ModelConfig } from "./config.ts";

/** A projection y = x W^T (+ b). */
export interface Linear<T> {
  /** [out, in] */
  weight: T;
  /** [out]; present only where the config has the bias. */
  bias?: T;
}

export interface DecoderLayerParams<T> {
  /** RMSNorm weight before attention [D]. */
  inputNorm: T;
  /** Attention projections: q [H*hd, D], k and v [KV*hd, D] (biases with qkvBias), o [D, H*hd] (bias with oProjBias). */
  q: Linear<T>;
  k: Linear<T>;
  v: Linear<T>;
  o: Linear<T>;
  /** RMSNorm weight before the MLP [D]. */
  postNorm: T;
  /** SwiGLU MLP: gate and up [F, D], down [D, F] (no biases). */
  gate: Linear<T>;
  up: Linear<T>;
  down: Linear<T>;
}

export interface Qwen2Params<T> {
  /** Token embeddings [V, D] (also the LM head when the embeddings are tied). */
  embed: T;
  layers: DecoderLayerParams<T>[];
  /** Final RMSNorm weight [D]. */
  norm: T;
  /** LM head [V, D]; present only when the embeddings are untied. */
  head?: T;
}

/** How a fresh model initialises a leaf: normal(0, initializer_range), ones (norm weights) or zeros (biases). */
export type InitRule = "normal" | "ones" | "zeros";

export interface ParamSpec {
  shape: number[];
  init: InitRule;
}

export type LinearField = "q" | "k" | "v" | "o" | "gate" | "up" | "down";
export type LayerField = "inputNorm" | "postNorm" | LinearField;
export const LINEAR_FIELDS: readonly LinearField[] = ["q", "k", "v", "o", "gate", "up", "down"];

/** Where a leaf sits in the tree (model/hf-names.ts turns it into a tensor name). */
export type LeafKey =
  | { field: "embed" | "norm" | "head" }
  | { layer: number; field: "inputNorm" | "postNorm" }
  | { layer: number; field: LinearField; part: "weight" | "bias" };

/** Every parameter a model with this config has: the tree of shapes and initialisation rules. */
export function paramSpecs(config: ModelConfig): Qwen2Params<ParamSpec> {
  const { vocabSize: V, hiddenSize: D, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: F } = config;
  const normal = (...shape: number[]): ParamSpec => ({ shape, init: "normal" });
  const ones = (n: number): ParamSpec => ({ shape: [n], init: "ones" });
  const zeros = (n: number): ParamSpec => ({ shape: [n], init: "zeros" });
  const linear = (out: number, inp: number, bias: boolean): Linear<ParamSpec> =>
    bias ? { weight: normal(out, inp), bias: zeros(out) } : { weight: normal(out, inp) };
  const layers: DecoderLayerParams<ParamSpec>[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    layers.push({
      inputNorm: ones(D),
      q: linear(H * hd, D, config.qkvBias),
      k: linear(KV * hd, D, config.qkvBias),
      v: linear(KV * hd, D, config.qkvBias),
      o: linear(D, H * hd, config.oProjBias),
      postNorm: ones(D),
      gate: linear(F, D, false),
      up: linear(F, D, false),
      down: linear(D, F, false),
    });
  }
  const tree: Qwen2Params<ParamSpec> = { embed: normal(V, D), layers, norm: ones(D) };
  if (!config.tieWordEmbeddings) tree.head = normal(V, D);
  return tree;
}

function mapLinear<A, B>(l: Linear<A>, layer: number, field: LinearField, f: (leaf: A, key: LeafKey) => B): Linear<B> {
  const out: Linear<B> = { weight: f(l.weight, { layer, field, part: "weight" }) };
  if (l.bias !== undefined) out.bias = f(l.bias, { layer, field, part: "bias" });
  return out;
}

/** One decoder layer with every leaf replaced by `f(leaf, key)`, leaves visited in the fixed order of `mapParams`. */
export function mapLayer<A, B>(p: DecoderLayerParams<A>, layer: number, f: (leaf: A, key: LeafKey) => B): DecoderLayerParams<B> {
  // Object literal fields are evaluated in source order: this order is the parameter order everywhere.
  return {
    inputNorm: f(p.inputNorm, { layer, field: "inputNorm" }),
    q: mapLinear(p.q, layer, "q", f),
    k: mapLinear(p.k, layer, "k", f),
    v: mapLinear(p.v, layer, "v", f),
    o: mapLinear(p.o, layer, "o", f),
    postNorm: f(p.postNorm, { layer, field: "postNorm" }),
    gate: mapLinear(p.gate, layer, "gate", f),
    up: mapLinear(p.up, layer, "up", f),
    down: mapLinear(p.down, layer, "down", f),
  };
}

/**
 * The tree with every leaf replaced by `f(leaf, key)`. Leaves are visited in one fixed order (embeddings, layer by
 * layer: input norm, q, k, v, o (weight then bias), post norm, gate, up, down; final norm, head), which is the order
 * of checkpoint tensors, graph inputs, optimiser groups and random initialisation.
 */
export function mapParams<A, B>(tree: Qwen2Params<A>, f: (leaf: A, key: LeafKey) => B): Qwen2Params<B> {
  const embed = f(tree.embed, { field: "embed" });
  const layers = tree.layers.map((p, i) => mapLayer(p, i, f));
  const out: Qwen2Params<B> = { embed, layers, norm: f(tree.norm, { field: "norm" }) };
  if (tree.head !== undefined) out.head = f(tree.head, { field: "head" });
  return out;
}

/** Every leaf with its key, in the order of `mapParams`. */
export function paramEntries<T>(tree: Qwen2Params<T>): [LeafKey, T][] {
  const out: [LeafKey, T][] = [];
  mapParams(tree, (leaf, key) => out.push([key, leaf]));
  return out;
}

/** Every leaf, in the order of `mapParams`. */
export function paramLeaves<T>(tree: Qwen2Params<T>): T[] {
  return paramEntries(tree).map(([, leaf]) => leaf);
}

/** The leaves of one layer, in the order of `mapLayer`. */
export function layerLeaves<T>(layer: DecoderLayerParams<T>): T[] {
  const out: T[] = [];
  mapLayer(layer, 0, (leaf) => out.push(leaf));
  return out;
}

/** The LM head [V, D]: the untied head, else the embedding table. */
export function headOf<T>(tree: Qwen2Params<T>): T {
  return tree.head ?? tree.embed;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
