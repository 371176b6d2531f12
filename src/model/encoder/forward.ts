// The BERT-family encoder forward pass as graph ops: embeddings + LayerNorm, then post-LN layers with
// bidirectional attention over real tokens (a padding bias, no causal part) and an exact-GELU feed-forward.
import { Graph, Tensor, ops, type DType } from "../../graph/index.ts";
import type { EncoderConfig } from "./config.ts";
import { encoderNames, encoderTensorShapes } from "./weights.ts";

export interface EncoderInputs {
  /** Token ids [batch, seq] (int64). */
  ids: Tensor;
  /** Position ids [batch, seq] (int64; see positionIds). */
  positions: Tensor;
  /** 1 = real token, 0 = padding [batch, seq] (int64). */
  mask: Tensor;
}

/** Declares every weight as a graph input named by its HF name (prefix stripped). */
export function declareEncoderWeights(g: Graph, config: EncoderConfig, dtype: DType = "float32"): Map<string, Tensor> {
  return new Map([...encoderTensorShapes(config)].map(([name, shape]) => [name, g.input(name, dtype, shape)]));
}

/**
 * Hidden states [batch, seq, hidden] after the embeddings (index 0) and after each of the first `layers` layers
 * (index i = the output of layer i, HF's `hidden_states[i]`).
 */
export function encoderHiddenStates(
  config: EncoderConfig,
  w: ReadonlyMap<string, Tensor>,
  input: EncoderInputs,
  layers = config.numLayers,
): Tensor[] {
  const names = encoderNames(config);
  const get = (name: string): Tensor => {
    const t = w.get(name);
    if (!t) throw new Error(`encoder graph: no weight "${name}"`);
    return t;
  };
  const linear = (x: Tensor, name: string) => x.matmul(get(`${name}.weight`).t()).add(get(`${name}.bias`));
  const norm = (x: Tensor, name: string) => ops.layerNorm(x, get(`${name}.weight`), get(`${name}.bias`), config.layerNormEps);
  const [batch, seq] = input.ids.shape;
  const D = config.hiddenSize;
  const H = config.numHeads;
  const hd = D / H;

  let e = get(names.word).gather(input.ids).add(get(names.position).gather(input.positions));
  if (names.tokenType) e = e.add(get(names.tokenType).slice(0, 0, 1)); // every token has type 0
  let h = norm(e, names.embedNorm);
  const states = [h];
  const bias = ops.paddingBias(input.mask, h.dtype); // [batch, 1, 1, seq]
  const heads = (x: Tensor) => x.reshape([batch!, seq!, H, hd]).transpose([0, 2, 1, 3]); // [batch, H, seq, hd]
  for (const l of names.layers.slice(0, layers)) {
    const q = heads(linear(h, l.q));
    const k = heads(linear(h, l.k));
    const v = heads(linear(h, l.v));
    const probs = q.matmul(k.t()).mul(1 / Math.sqrt(hd)).add(bias).softmax(-1);
    const ctx = probs.matmul(v).transpose([0, 2, 1, 3]).reshape([batch!, seq!, D]);
    h = norm(h.add(linear(ctx, l.o)), l.attnNorm);
    h = norm(h.add(linear(linear(h, l.up).gelu(), l.down)), l.ffnNorm);
    states.push(h);
  }
  return states;
}
