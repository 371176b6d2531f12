// The Qwen2-family decoder (Llama = the same without q/k/v biases) as plain functions over graph tensors.
// Parameters are a typed tree (model/params.ts); declared as graph inputs they are named by their HF names
// (optionally prefixed), in HF layout ([out, in] projections).
import { Graph, Tensor, ops, type DType, type Dim } from "../graph/index.ts";
import type { ModelConfig } from "./config.ts";
import { mulDims } from "../graph/dims.ts";
import { checkpoint } from "../graph/checkpoint.ts";
import { checkParams, mapNamed } from "./hf-names.ts";
import { type DecoderLayerParams, type Linear, type Qwen2Params, headOf, paramSpecs } from "./params.ts";

export type Params = Qwen2Params<Tensor>;

/** Declare every parameter of `config` as a graph input named `prefix + hfName`. */
export function declareParams(g: Graph, config: ModelConfig, prefix = "", dtype: DType = "float32"): Params {
  return mapNamed(paramSpecs(config), (spec, name) => g.input(prefix + name, dtype, spec.shape));
}

/** x [..., in] @ W^T: W in HF layout [out, in], float32 or block-quantized (then through MatMulNBits). */
function project(x: Tensor, w: Tensor): Tensor {
  return ops.isBlockQuantized(w) ? ops.matMulNBits(x, w) : x.matmul(w.t());
}

/** x [..., in] @ W^T (+ b): W in HF layout [out, in]. */
function linear(x: Tensor, p: Linear<Tensor>): Tensor {
  const y = project(x, p.weight);
  return p.bias ? y.add(p.bias) : y;
}

export interface KVCache {
  /** Per layer: keys and values [batch, kvHeads, past, headDim]. */
  keys: Tensor[];
  values: Tensor[];
}

export interface ForwardInput {
  /** Token embeddings [batch, seq, hidden] (use `embedTokens` for ids). */
  embeds: Tensor;
  /** Absolute positions [batch, seq] (int64). Default: past + 0..seq-1 for every row. */
  positions?: Tensor;
  /** 1 = attend, 0 = padding, over all key positions [batch, past + seq] (int64/bool/float). Default: all 1. */
  attentionMask?: Tensor;
  /** Cached keys/values of earlier positions; the result then holds the extended cache. */
  past?: KVCache;
  /** Compute logits only for the last position ([batch, 1, vocab]). */
  lastOnly?: boolean;
  /**
   * Activation checkpointing (training graphs, no cache): each decoder layer is a region that the backward pass
   * recomputes from the layer's input, so only the layers' inputs are kept between the passes.
   */
  checkpointLayers?: boolean;
}

export interface ForwardOutput {
  /** [batch, seq, vocab] (or [batch, 1, vocab] with lastOnly). */
  logits: Tensor;
  /** Final-norm hidden states [batch, seq, hidden] (FlyThinker's latent thoughts). */
  hidden: Tensor;
  /** Keys/values including this call's positions. */
  present: KVCache;
  /** Keys/values of this call's positions only [batch, kvHeads, seq, headDim] (keys after rotary). */
  fresh: KVCache;
}

/** Token embeddings [..., hidden] of ids [...]. */
export function embedTokens(params: Params, ids: Tensor): Tensor {
  return ops.isBlockQuantized(params.embed) ? ops.gatherBlockQuantized(params.embed, ids) : params.embed.gather(ids);
}

/** cos and sin tables [batch, 1, seq, headDim] for rotary embeddings at `positions` [batch, seq]. */
function rotaryTables(g: Graph, config: ModelConfig, positions: Tensor, dtype: DType): { cos: Tensor; sin: Tensor } {
  const hd = config.headDim;
  const invFreq = new Float64Array(hd / 2);
  for (let i = 0; i < hd / 2; i++) invFreq[i] = 1 / Math.pow(config.ropeTheta, (2 * i) / hd);
  // HF computes the angles in float32; so do we for float32 models.
  const freqs = positions.cast(dtype).unsqueeze(-1).mul(g.constant(invFreq, dtype, [hd / 2]));
  const angles = ops.concat([freqs, freqs], -1).unsqueeze(1);
  return { cos: angles.cos(), sin: angles.sin() };
}

/** x [batch, heads, seq, hd]: x * cos + rotate_half(x) * sin, with rotate_half(x) = [-x2, x1]. */
function applyRotary(x: Tensor, cos: Tensor, sin: Tensor, hd: number): Tensor {
  const x1 = x.slice(-1, 0, hd / 2);
  const x2 = x.slice(-1, hd / 2);
  const rotated = ops.concat([x2.neg(), x1], -1);
  return x.mul(cos).add(rotated.mul(sin));
}

/** Additive mask [batch or 1, 1, 1, seq, past+seq]: 0 where allowed, -1e9 where masked (causal + padding). */
function attentionBias(g: Graph, seq: Dim, total: Dim, pastLen: Tensor, dtype: DType, mask?: Tensor): Tensor {
  const q = ops.range(g, seq).add(pastLen).unsqueeze(-1); // [seq, 1]
  const k = ops.range(g, total).unsqueeze(0); // [1, total]
  let allowed = ops.not(k.greater(q)); // keys at or before the query's position
  if (mask) {
    // The mask covers every key position; give it the keys' symbolic length so the shapes line up.
    const keep = mask.reshape([mask.shape[0]!, total]).cast("bool").unsqueeze(1); // [batch, 1, total]
    allowed = ops.and(allowed.unsqueeze(0), keep); // [batch, seq, total]
  }
  const bias = ops.where(allowed, g.scalar(0, dtype), g.scalar(-1e9, dtype));
  // -> [batch|1, 1(kv), 1(group), seq, total]
  return mask ? bias.unsqueeze(1).unsqueeze(1) : bias.unsqueeze(0).unsqueeze(0).unsqueeze(0);
}

/** What every decoder layer of one forward pass shares, and the layer's own cache handles. */
export interface LayerContext {
  /** Rotary tables [batch, 1, seq, headDim]. */
  cos: Tensor;
  sin: Tensor;
  /** Additive attention bias [batch|1, 1, 1, seq, keyLen] for keys of length keyLen (built once, then reused). */
  attentionBias: (keyLen: Dim) => Tensor;
  cache: LayerCache;
}

/** One layer's keys and values [batch, kvHeads, positions, headDim]: `past` is read, `fresh`/`present` are set. */
export interface LayerCache {
  past?: { key: Tensor; value: Tensor };
  /** This call's positions only (keys after rotary). */
  fresh?: { key: Tensor; value: Tensor };
  /** Past + this call's positions. */
  present?: { key: Tensor; value: Tensor };
}

/** One pre-norm decoder layer: h [batch, seq, hidden] -> h + attention(...) + mlp(...). */
export function decoderLayer(config: ModelConfig, p: DecoderLayerParams<Tensor>, h: Tensor, ctx: LayerContext): Tensor {
  const [batch, seq] = h.shape as [Dim, Dim, Dim];
  const { numHeads: H, numKvHeads: KV, headDim: hd } = config;
  const G = H / KV;
  const groupRows = mulDims(G, seq); // query rows per key/value head
  const scale = 1 / Math.sqrt(hd);

  const x = ops.rmsNorm(h, p.inputNorm, config.rmsNormEps);
  const q = linear(x, p.q).reshape([batch, seq, H, hd]).transpose([0, 2, 1, 3]);
  let k = linear(x, p.k).reshape([batch, seq, KV, hd]).transpose([0, 2, 1, 3]);
  let v = linear(x, p.v).reshape([batch, seq, KV, hd]).transpose([0, 2, 1, 3]);
  const qr = applyRotary(q, ctx.cos, ctx.sin, hd);
  k = applyRotary(k, ctx.cos, ctx.sin, hd);
  ctx.cache.fresh = { key: k, value: v };
  const past = ctx.cache.past;
  if (past) {
    k = ops.concat([past.key, k], 2);
    v = ops.concat([past.value, v], 2);
  }
  ctx.cache.present = { key: k, value: v };
  const keyLen = k.shape[2]!;
  const bias = ctx.attentionBias(keyLen);

  // Grouped-query attention: query heads as [kv, group], each group shares one key/value head.
  const qg = qr.reshape([batch, KV, groupRows, hd]);
  const scores = qg.matmul(k.t()).mul(scale).reshape([batch, KV, G, seq, keyLen]).add(bias);
  const probs = scores.softmax(-1).reshape([batch, KV, groupRows, keyLen]);
  const attn = probs.matmul(v) // [b, KV, G*seq, hd]
    .reshape([batch, H, seq, hd]).transpose([0, 2, 1, 3]).reshape([batch, seq, H * hd]);
  h = h.add(linear(attn, p.o));

  const y = ops.rmsNorm(h, p.postNorm, config.rmsNormEps);
  const gate = linear(y, p.gate).silu();
  const up = linear(y, p.up);
  return h.add(linear(gate.mul(up), p.down));
}

export type HiddenOutput = Omit<ForwardOutput, "logits">;

/** The decoder without its LM head: embeddings in, final-norm hidden states and caches out. */
export function forwardHidden(config: ModelConfig, params: Params, input: Omit<ForwardInput, "lastOnly">): HiddenOutput {
  checkParams(config, params, "model graph", (t) => t.shape);
  const { embeds } = input;
  const g = embeds.graph;
  const dtype = embeds.dtype;
  const seq = embeds.shape[1]!;

  const pastLen = input.past ? ops.dimValue(g, input.past.keys[0]!.shape[2]!) : g.scalar(0, "int64");
  const positions = input.positions ?? ops.range(g, seq).add(pastLen).unsqueeze(0);
  const { cos, sin } = rotaryTables(g, config, positions, dtype);
  let bias: Tensor | undefined;
  const attentionBiasFor = (keyLen: Dim) => (bias ??= attentionBias(g, seq, keyLen, pastLen, dtype, input.attentionMask));

  if (input.checkpointLayers) {
    if (input.past) throw new Error("checkpointLayers is for training graphs, without a KV cache");
    attentionBiasFor(seq); // built before the layers, so it stays outside the recomputed regions
  }

  let h = embeds;
  const present: KVCache = { keys: [], values: [] };
  const fresh: KVCache = { keys: [], values: [] };
  params.layers.forEach((layer, i) => {
    const cache: LayerCache = input.past ? { past: { key: input.past.keys[i]!, value: input.past.values[i]! } } : {};
    const ctx = { cos, sin, attentionBias: attentionBiasFor };
    h = input.checkpointLayers
      ? checkpoint([h], ([x]) => decoderLayer(config, layer, x!, { ...ctx, cache: cache.fresh ? {} : cache }))
      : decoderLayer(config, layer, h, { ...ctx, cache });
    fresh.keys.push(cache.fresh!.key);
    fresh.values.push(cache.fresh!.value);
    present.keys.push(cache.present!.key);
    present.values.push(cache.present!.value);
  });
  const hidden = ops.rmsNorm(h, params.norm, config.rmsNormEps);
  return { hidden, present, fresh };
}

/** Logits [batch, seq, vocab] of final-norm hidden states [batch, seq, hidden] (the last position only: [batch, 1, vocab]). */
export function lmHead(params: Params, hidden: Tensor, lastOnly = false): Tensor {
  const last = lastOnly ? hidden.slice(1, -1) : hidden;
  return project(last, headOf(params));
}

/** The decoder: embeddings in, logits + final-norm hidden states out. */
export function forward(config: ModelConfig, params: Params, input: ForwardInput): ForwardOutput {
  const out = forwardHidden(config, params, input);
  return { logits: lmHead(params, out.hidden, input.lastOnly), ...out };
}
