// Two small models built from graph ops, shared by the runtime tests: a 2-layer MLP classifier and a one-block
// causal self-attention language model (token + learned position embeddings, 2 heads, residual, RMSNorm, head).
import { Graph, Tensor, ops, type DType } from "../../src/graph/index.ts";
import { Rng } from "../../src/util/random.ts";

type Float = Float32Array | Float64Array;

export interface ModelGraph {
  graph: Graph;
  loss: Tensor;
  params: Tensor[];
  /** Initial parameter values by name. */
  init: Map<string, Float>;
}

function initParams(params: Tensor[], seed: number, scale: (p: Tensor) => number): Map<string, Float> {
  const rng = new Rng(seed);
  const out = new Map<string, Float>();
  for (const p of params) {
    const n = p.shape.reduce<number>((a, d) => a * (d as number), 1);
    const a = p.dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
    const s = scale(p);
    if (s > 0) rng.fillNormal(a, s);
    else a.fill(-s); // negative scale: constant |s| (norm weights)
    out.set(p.inputName!, a);
  }
  return out;
}

/** x [batch, inDim] -> tanh(x W1 + b1) W2 + b2 -> cross-entropy against labels [batch]. */
export function mlp(dtype: DType, inDim: number, hidden: number, classes: number, seed = 1): ModelGraph {
  const g = new Graph();
  const x = g.input("x", dtype, ["batch", inDim]);
  const labels = g.input("labels", "int64", ["batch"]);
  const w1 = g.input("w1", dtype, [inDim, hidden]);
  const b1 = g.input("b1", dtype, [hidden]);
  const w2 = g.input("w2", dtype, [hidden, classes]);
  const b2 = g.input("b2", dtype, [classes]);
  const logits = x.matmul(w1).add(b1).tanh().matmul(w2).add(b2);
  const { loss } = ops.crossEntropy(logits, labels);
  const params = [w1, b1, w2, b2];
  return { graph: g, loss, params, init: initParams(params, seed, (p) => (p.rank === 2 ? 1 / Math.sqrt(p.shape[0] as number) : 0.1)) };
}

export interface AttentionSpec {
  vocab: number;
  seq: number;
  dim: number;
  heads: number;
}

/** Parameter shapes of the attention model, in declaration order. */
export function attentionShapes({ vocab, seq, dim }: AttentionSpec): Record<string, number[]> {
  return {
    emb: [vocab, dim],
    pos: [seq, dim],
    norm1: [dim],
    wq: [dim, dim],
    wk: [dim, dim],
    wv: [dim, dim],
    bq: [dim],
    wo: [dim, dim],
    norm2: [dim],
    head: [dim, vocab],
  };
}

/**
 * ids [batch, seq] -> embeddings + positions -> pre-norm causal multi-head self-attention with a residual ->
 * RMSNorm -> logits [batch, seq, vocab] -> cross-entropy against labels [batch, seq] (ignore index -100).
 */
export function attentionLoss(
  g: Graph,
  spec: AttentionSpec,
  ids: Tensor,
  labels: Tensor,
  p: Record<string, Tensor>,
): { loss: Tensor; logits: Tensor } {
  const { seq, dim, heads } = spec;
  const hd = dim / heads;
  const dtype = p.emb!.dtype;
  const h = p.emb!.gather(ids).add(p.pos!); // [b, s, d]
  const x = ops.rmsNorm(h, p.norm1!, 1e-6);
  const split = (t: Tensor) => t.reshape(["batch", seq, heads, hd]).transpose([0, 2, 1, 3]); // [b, H, s, hd]
  const q = split(x.matmul(p.wq!).add(p.bq!));
  const k = split(x.matmul(p.wk!));
  const v = split(x.matmul(p.wv!));
  const scores = q.matmul(k.t()).mul(1 / Math.sqrt(hd)); // [b, H, s, s]
  // Causal mask: key j is visible from query i when j <= i.
  const qi = ops.range(g, seq).unsqueeze(-1);
  const kj = ops.range(g, seq).unsqueeze(0);
  const masked = ops.where(kj.greater(qi), g.scalar(-1e9, dtype), scores);
  const ctx = masked.softmax(-1).matmul(v).transpose([0, 2, 1, 3]).reshape(["batch", seq, dim]);
  const y = h.add(ctx.matmul(p.wo!));
  const logits = ops.rmsNorm(y, p.norm2!, 1e-6).matmul(p.head!);
  return { loss: ops.crossEntropy(logits, labels).loss, logits };
}

/** Initial values for the attention model's parameters. */
export function attentionInit(dtype: DType, spec: AttentionSpec, seed = 1): Map<string, Float> {
  const g = new Graph();
  const params = Object.entries(attentionShapes(spec)).map(([n, s]) => g.input(n, dtype, s));
  return initParams(params, seed, (t) => {
    const n = t.inputName!;
    if (n.startsWith("norm")) return -1;
    if (n === "bq") return 0.02;
    return n === "emb" || n === "pos" ? 0.5 : 1 / Math.sqrt(t.shape[0] as number);
  });
}

export function attentionLM(dtype: DType, spec: AttentionSpec, seed = 1): ModelGraph & { logits: Tensor } {
  const g = new Graph();
  const ids = g.input("ids", "int64", ["batch", spec.seq]);
  const labels = g.input("labels", "int64", ["batch", spec.seq]);
  const p = Object.fromEntries(Object.entries(attentionShapes(spec)).map(([n, s]) => [n, g.input(n, dtype, s)]));
  const { loss, logits } = attentionLoss(g, spec, ids, labels, p);
  return { graph: g, loss, params: Object.values(p), init: attentionInit(dtype, spec, seed), logits };
}

/** The "previous token" task: label[t] = ids[t-1] (position 0 ignored). Learnable only through causal attention. */
export function previousTokenBatch(rng: Rng, batch: number, seq: number, vocab: number) {
  const ids = new BigInt64Array(batch * seq);
  const labels = new BigInt64Array(batch * seq);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      ids[b * seq + t] = BigInt(rng.int(vocab));
      labels[b * seq + t] = t === 0 ? -100n : ids[b * seq + t - 1]!;
    }
  }
  return { ids: { data: ids, dims: [batch, seq] }, labels: { data: labels, dims: [batch, seq] } };
}
