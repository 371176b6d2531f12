// The Qwen2-family decoder (Llama = the same without q/k/v biases) as a plain function over graph tensors.
// Weights are graph inputs with Hugging Face names (optionally prefixed), in HF layout ([out, in] projections).
import { Graph, Tensor, ops, type DType, type Dim } from "../graph/index.ts";
import type { ModelConfig } from "./config.ts";
import { mulDims } from "../graph/dims.ts";
import { checkpoint } from "../graph/checkpoint.ts";
import { expectedTensors } from "./checkpoint.ts";

export type Params = Map<string, Tensor>;

/** Declare every weight of `config` as a graph input named `prefix + hfName`. */
export function declareParams(g: Graph, config: ModelConfig, prefix = "", dtype: DType = "float32"): Params {
  const params: Params = new Map();
  for (const spec of expectedTensors(config)) params.set(spec.name, g.input(prefix + spec.name, dtype, spec.shape));
  return params;
}

function weight(params: Params, name: string): Tensor {
  const w = params.get(name);
  if (!w) throw new Error(`model weight ${name} is not declared`);
  return w;
}

/** x [..., in] @ W^T (+ b): W in HF layout [out, in]. */
function linear(x: Tensor, w: Tensor, b?: Tensor): Tensor {
  const y = x.matmul(w.t());
  return b ? y.add(b) : y;
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

export function embedTokens(params: Params, ids: Tensor): Tensor {
  return weight(params, "model.embed_tokens.weight").gather(ids);
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

/** The decoder: embeddings in, logits + final-norm hidden states out. */
export function forward(config: ModelConfig, params: Params, input: ForwardInput): ForwardOutput {
  const { embeds } = input;
  const g = embeds.graph;
  const dtype = embeds.dtype;
  const [batch, seq] = embeds.shape as [Dim, Dim, Dim];
  const { numHeads: H, numKvHeads: KV, headDim: hd, numLayers } = config;
  const G = H / KV;
  const groupRows = mulDims(G, seq); // query rows per key/value head

  const pastLen = input.past ? ops.dimValue(g, input.past.keys[0]!.shape[2]!) : g.scalar(0, "int64");
  const positions = input.positions ?? ops.range(g, seq).add(pastLen).unsqueeze(0);
  const { cos, sin } = rotaryTables(g, config, positions, dtype);

  let h = embeds;
  const present: KVCache = { keys: [], values: [] };
  const fresh: KVCache = { keys: [], values: [] };
  let bias: Tensor | undefined;
  const scale = 1 / Math.sqrt(hd);
  if (input.checkpointLayers && input.past) throw new Error("checkpointLayers is for training graphs, without a KV cache");
  // Without a cache every layer sees the same keys, so the mask can be built before the layers (and stay outside
  // checkpointed regions).
  if (!input.past) bias = attentionBias(g, seq, seq, pastLen, dtype, input.attentionMask);
  for (let i = 0; i < numLayers; i++) {
    const p = `model.layers.${i}`;
    const w = (n: string) => weight(params, `${p}.${n}`);
    const b = (n: string) => params.get(`${p}.${n}`);

    /** One decoder layer on x [batch, seq, hidden]; `record` keeps its keys/values (skipped when recomputing). */
    const layer = (hIn: Tensor, record: boolean): Tensor => {
      let h = hIn;
      const x = ops.rmsNorm(h, w("input_layernorm.weight"), config.rmsNormEps);
      const q = linear(x, w("self_attn.q_proj.weight"), b("self_attn.q_proj.bias"))
        .reshape([batch, seq, H, hd]).transpose([0, 2, 1, 3]);
      let k = linear(x, w("self_attn.k_proj.weight"), b("self_attn.k_proj.bias"))
        .reshape([batch, seq, KV, hd]).transpose([0, 2, 1, 3]);
      let v = linear(x, w("self_attn.v_proj.weight"), b("self_attn.v_proj.bias"))
        .reshape([batch, seq, KV, hd]).transpose([0, 2, 1, 3]);
      const qr = applyRotary(q, cos, sin, hd);
      k = applyRotary(k, cos, sin, hd);
      if (record) {
        fresh.keys.push(k);
        fresh.values.push(v);
      }
      if (input.past) {
        k = ops.concat([input.past.keys[i]!, k], 2);
        v = ops.concat([input.past.values[i]!, v], 2);
      }
      if (record) {
        present.keys.push(k);
        present.values.push(v);
      }
      const keyLen = k.shape[2]!;
      bias ??= attentionBias(g, seq, keyLen, pastLen, dtype, input.attentionMask);

      // Grouped-query attention: query heads as [kv, group], each group shares one key/value head.
      const qg = qr.reshape([batch, KV, groupRows, hd]);
      const scores = qg.matmul(k.t()).mul(scale).reshape([batch, KV, G, seq, keyLen]).add(bias);
      const probs = scores.softmax(-1).reshape([batch, KV, groupRows, keyLen]);
      const ctx = probs.matmul(v) // [b, KV, G*seq, hd]
        .reshape([batch, H, seq, hd]).transpose([0, 2, 1, 3]).reshape([batch, seq, H * hd]);
      h = h.add(linear(ctx, w("self_attn.o_proj.weight"), b("self_attn.o_proj.bias")));

      const y = ops.rmsNorm(h, w("post_attention_layernorm.weight"), config.rmsNormEps);
      const gate = linear(y, w("mlp.gate_proj.weight")).silu();
      const up = linear(y, w("mlp.up_proj.weight"));
      return h.add(linear(gate.mul(up), w("mlp.down_proj.weight")));
    };
    let first = true;
    h = input.checkpointLayers
      ? checkpoint([h], ([x]) => {
        const out = layer(x!, first);
        first = false;
        return out;
      })
      : layer(h, true);
  }
  const hidden = ops.rmsNorm(h, weight(params, "model.norm.weight"), config.rmsNormEps);
  const head = params.get("lm_head.weight") ?? weight(params, "model.embed_tokens.weight");
  const last = input.lastOnly ? hidden.slice(1, -1) : hidden;
  return { logits: linear(last, head), hidden, present, fresh };
}
