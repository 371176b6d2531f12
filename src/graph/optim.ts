// AdamW with global-norm gradient clipping, as graph ops: one training step = one session run.
import { Graph, Tensor, GraphError } from "./graph.ts";
import * as ops from "./ops/index.ts";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 0.025). */
  weightDecay?: number;
  /** Clip the global gradient L2 norm to this value; 0 or undefined disables clipping (default 1.0). */
  clipNorm?: number;
  /** Which parameters decay; default: those of rank >= 2 (matrices, embeddings), not norms or biases. */
  decays?: (name: string, param: Tensor) => boolean;
}

export interface AdamWStep {
  /** Inputs: 1-based step number (for bias correction) and learning rate, float scalars. */
  step: Tensor;
  lr: Tensor;
  /** Inputs: first and second moments, named `adam.m.<param>` / `adam.v.<param>`. */
  m: Tensor[];
  v: Tensor[];
  /** Outputs. */
  newParams: Tensor[];
  newM: Tensor[];
  newV: Tensor[];
  /** Global gradient norm before clipping (scalar). */
  gradNorm: Tensor;
}

export const DEFAULT_ADAMW = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.025, clipNorm: 1.0 };

/**
 * Adds one AdamW update of `params` (graph inputs, by name) with gradients `grads` to the graph:
 *   g' = g * min(1, clip / ||g||);  m' = b1 m + (1-b1) g';  v' = b2 v + (1-b2) g'^2
 *   p' = p - lr * (m'/(1-b1^t) / (sqrt(v'/(1-b2^t)) + eps) + wd * p)
 */
export function adamw(
  g: Graph,
  params: ReadonlyMap<string, Tensor>,
  grads: readonly Tensor[],
  options: AdamWOptions = {},
): AdamWStep {
  const o = { ...DEFAULT_ADAMW, ...options };
  const entries = [...params.entries()];
  if (entries.length !== grads.length) {
    throw new GraphError(`adamw: ${entries.length} parameters but ${grads.length} gradients`);
  }
  if (entries.length === 0) throw new GraphError("adamw: no parameters");
  const dtype = entries[0]![1].dtype;
  const step = g.input("adam.step", dtype, []);
  const lr = g.input("adam.lr", dtype, []);

  const sumSq = grads.map((gr) => gr.square().sum()).reduce((a, b) => a.add(b));
  const gradNorm = sumSq.sqrt();
  const scale = o.clipNorm > 0
    ? g.scalar(o.clipNorm, dtype).div(ops.maximum(gradNorm, o.clipNorm))
    : g.scalar(1, dtype);
  const bias1 = ops.sub(1, ops.pow(g.scalar(o.beta1, dtype), step));
  const bias2 = ops.sub(1, ops.pow(g.scalar(o.beta2, dtype), step));
  const stepSize = lr.div(bias1);

  const out: AdamWStep = { step, lr, m: [], v: [], newParams: [], newM: [], newV: [], gradNorm };
  entries.forEach(([name, p], i) => {
    const gr = grads[i]!.mul(scale);
    const m = g.input(`adam.m.${name}`, dtype, p.shape);
    const v = g.input(`adam.v.${name}`, dtype, p.shape);
    const m2 = m.mul(o.beta1).add(gr.mul(1 - o.beta1));
    const v2 = v.mul(o.beta2).add(gr.square().mul(1 - o.beta2));
    const denom = v2.div(bias2).sqrt().add(o.eps);
    let p2 = p.sub(m2.div(denom).mul(stepSize));
    const decays = o.decays ? o.decays(name, p) : p.rank >= 2;
    if (decays && o.weightDecay > 0) p2 = p2.sub(p.mul(lr.mul(o.weightDecay)));
    out.m.push(m);
    out.v.push(v);
    out.newParams.push(p2);
    out.newM.push(m2);
    out.newV.push(v2);
  });
  return out;
}
