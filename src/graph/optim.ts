// AdamW with global-norm gradient clipping, as graph ops: one training step = one session run.
import { Graph, Tensor, GraphError } from "./graph.ts";
import type { DType } from "./dtype.ts";
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

/**
 * Parameters are updated in groups: each group is one flat vector (its parameters' values laid end to end), so a
 * step runs a dozen element-wise ops per group instead of per parameter. Small parameters share a group (up to
 * ADAMW_GROUP_ELEMENTS values); a larger one is a group of its own, which keeps each pass over the data cache-sized.
 */
export interface AdamWGroup {
  /** Whether this group's parameters get weight decay. */
  decays: boolean;
  /** Parameter names (graph input names) in layout order, with their offsets and sizes in the flat vector. */
  names: string[];
  offsets: number[];
  sizes: number[];
  /** Total values in the group. */
  size: number;
  /** Inputs [size]: the parameters laid flat (`adamwInputName("p", k)`, the same values as the parameter inputs) and moments. */
  p: Tensor;
  m: Tensor;
  v: Tensor;
  /** Outputs [size]. */
  newP: Tensor;
  newM: Tensor;
  newV: Tensor;
}

export interface AdamWStep {
  /** Inputs: 1-based step number (for bias correction) and learning rate, float scalars. */
  step: Tensor;
  lr: Tensor;
  groups: AdamWGroup[];
  /** Global gradient norm before clipping (scalar). */
  gradNorm: Tensor;
}

/** The three flat vectors AdamW keeps per group: parameters, first and second moments. */
export type AdamWSlot = "p" | "m" | "v";
export const ADAMW_SLOTS: readonly AdamWSlot[] = ["p", "m", "v"];

/** Graph-input names of the update's scalars and of each group's flat vectors; the one place they are spelled. */
export const ADAMW_STEP_INPUT = "adam.step";
export const ADAMW_LR_INPUT = "adam.lr";
export function adamwInputName(slot: AdamWSlot, group: number): string {
  return `adam.${slot}.${group}`;
}
/** Output names of a group's updated vectors (see `adamwOutputs`). */
export function adamwOutputName(slot: AdamWSlot, group: number): string {
  return `out.${slot}.${group}`;
}

/** The updated vector of one slot of a group. */
export function updatedSlot(group: AdamWGroup, slot: AdamWSlot): Tensor {
  return slot === "p" ? group.newP : slot === "m" ? group.newM : group.newV;
}

/** Graph outputs that carry an update: every group's new p, m and v, by `adamwOutputName`. */
export function adamwOutputs(step: AdamWStep): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  step.groups.forEach((g, k) => {
    for (const slot of ADAMW_SLOTS) out[adamwOutputName(slot, k)] = updatedSlot(g, slot);
  });
  return out;
}

export const DEFAULT_ADAMW = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.025, clipNorm: 1.0 };

/** Values per shared AdamW group (1 MiB of float32). */
export const ADAMW_GROUP_ELEMENTS = 1 << 18;

function numel(t: Tensor): number {
  return t.shape.reduce<number>((n, d) => {
    if (typeof d !== "number") throw new GraphError(`adamw: parameter ${t} needs a static shape`);
    return n * d;
  }, 1);
}

/** Splits parameter indices into groups: decaying and non-decaying apart, large ones alone, small ones packed. */
function planGroups(sizes: readonly number[], decays: readonly boolean[]): number[][] {
  const groups: number[][] = [];
  for (const kind of [true, false]) {
    let current: number[] = [];
    let filled = 0;
    sizes.forEach((n, i) => {
      if (decays[i] !== kind) return;
      if (n >= ADAMW_GROUP_ELEMENTS) {
        groups.push([i]);
        return;
      }
      if (current.length > 0 && filled + n > ADAMW_GROUP_ELEMENTS) {
        groups.push(current);
        current = [];
        filled = 0;
      }
      current.push(i);
      filled += n;
    });
    if (current.length > 0) groups.push(current);
  }
  return groups;
}

/**
 * Adds one AdamW update of `params` (graph inputs, by name) with gradients `grads` to the graph:
 *   c = min(1, clip / ||g||);  m' = b1 m + (1-b1) c g;  v' = b2 v + (1-b2) c^2 g^2
 *   p' = p (1 - lr wd) - lr / (1-b1^t) * m' / (sqrt(v' / (1-b2^t)) + eps)
 * (the clipping factor is folded into the moment coefficients, so the gradient is read once per pass).
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
  const step = g.input(ADAMW_STEP_INPUT, dtype, []);
  const lr = g.input(ADAMW_LR_INPUT, dtype, []);

  const sizes = entries.map(([, p]) => numel(p));
  const decays = entries.map(([name, p]) => (o.decays ? o.decays(name, p) : p.rank >= 2) && o.weightDecay > 0);
  const plan = planGroups(sizes, decays);
  // Each group's gradient as one flat vector, and its square (used for the norm and for v).
  const flatGrads = plan.map((idx) => {
    const parts = idx.map((i) => grads[i]!.reshape([sizes[i]!]));
    return parts.length === 1 ? parts[0]! : ops.concat(parts, 0);
  });
  const squares = flatGrads.map((f) => f.square());
  const gradNorm = squares.map((sq) => sq.sum()).reduce((a, b) => a.add(b)).sqrt();
  const clip = o.clipNorm > 0
    ? g.scalar(o.clipNorm, dtype).div(ops.maximum(gradNorm, o.clipNorm))
    : g.scalar(1, dtype);
  const coef = updateCoefficients(g, o, step, lr, clip);

  const groups = plan.map((idx, k): AdamWGroup => {
    const size = idx.reduce((n, i) => n + sizes[i]!, 0);
    const offsets: number[] = [];
    idx.reduce((at, i) => (offsets.push(at), at + sizes[i]!), 0);
    const p = g.input(adamwInputName("p", k), dtype, [size]);
    const m = g.input(adamwInputName("m", k), dtype, [size]);
    const v = g.input(adamwInputName("v", k), dtype, [size]);
    const groupDecays = decays[idx[0]!]!;
    const { newP, newM, newV } = groupUpdate(o, coef, { p, m, v, grad: flatGrads[k]!, square: squares[k]! }, groupDecays ? coef.keep : undefined);
    return {
      decays: groupDecays,
      names: idx.map((i) => entries[i]![0]),
      offsets,
      sizes: idx.map((i) => sizes[i]!),
      size,
      p,
      m,
      v,
      newP,
      newM,
      newV,
    };
  });
  return { step, lr, groups, gradNorm };
}

interface UpdateCoefficients {
  /** (1 - b1) c and (1 - b2) c^2, with c the clipping factor. */
  mCoef: Tensor;
  vCoef: Tensor;
  /** lr / (1 - b1^t) and 1 / (1 - b2^t). */
  stepSize: Tensor;
  invBias2: Tensor;
  /** 1 - lr wd: what decaying parameters are multiplied by. */
  keep: Tensor;
}

function updateCoefficients(g: Graph, o: typeof DEFAULT_ADAMW, step: Tensor, lr: Tensor, clip: Tensor): UpdateCoefficients {
  const dtype = step.dtype;
  const bias1 = ops.sub(1, ops.pow(g.scalar(o.beta1, dtype), step));
  const bias2 = ops.sub(1, ops.pow(g.scalar(o.beta2, dtype), step));
  return {
    mCoef: clip.mul(1 - o.beta1),
    vCoef: clip.square().mul(1 - o.beta2),
    stepSize: lr.div(bias1),
    invBias2: ops.reciprocal(bias2),
    keep: ops.sub(1, lr.mul(o.weightDecay)),
  };
}

/** One group's new p, m, v from its flat gradient and the gradient's square (`keep` only for decaying groups). */
function groupUpdate(
  o: typeof DEFAULT_ADAMW,
  c: UpdateCoefficients,
  x: { p: Tensor; m: Tensor; v: Tensor; grad: Tensor; square: Tensor },
  keep: Tensor | undefined,
): { newP: Tensor; newM: Tensor; newV: Tensor } {
  const newM = x.m.mul(o.beta1).add(x.grad.mul(c.mCoef));
  const newV = x.v.mul(o.beta2).add(x.square.mul(c.vCoef));
  const update = newM.div(newV.mul(c.invBias2).sqrt().add(o.eps)).mul(c.stepSize);
  const newP = (keep ? x.p.mul(keep) : x.p).sub(update);
  return { newP, newM, newV };
}

/** Input names of the one-group update graph (`adamwGroupGraph`). */
export const ADAMW_GROUP_INPUTS = { p: "p", m: "m", v: "v", grad: "grad", step: "step", lr: "lr", clip: "clip" } as const;

/**
 * The update of ONE group as a graph of its own, for any group size: inputs p, m, v, grad [n] and the scalars step,
 * lr and clip (the global clipping factor min(1, clipNorm / ||g||), computed by the caller over all groups); outputs
 * newP, newM, newV. The same arithmetic as `adamw`, run group by group so that a step never holds the new values of
 * every parameter at once (large models). `decays` picks the variant with weight decay.
 */
export function adamwGroupGraph(dtype: DType, decays: boolean, options: AdamWOptions = {}): { graph: Graph; outputs: { newP: Tensor; newM: Tensor; newV: Tensor } } {
  const o = { ...DEFAULT_ADAMW, ...options };
  const g = new Graph();
  const n = ["n"];
  const x = {
    p: g.input(ADAMW_GROUP_INPUTS.p, dtype, n),
    m: g.input(ADAMW_GROUP_INPUTS.m, dtype, n),
    v: g.input(ADAMW_GROUP_INPUTS.v, dtype, n),
    grad: g.input(ADAMW_GROUP_INPUTS.grad, dtype, n),
  };
  const step = g.input(ADAMW_GROUP_INPUTS.step, dtype, []);
  const lr = g.input(ADAMW_GROUP_INPUTS.lr, dtype, []);
  const clip = g.input(ADAMW_GROUP_INPUTS.clip, dtype, []);
  const coef = updateCoefficients(g, o, step, lr, clip);
  return { graph: g, outputs: groupUpdate(o, coef, { ...x, square: x.grad.square() }, decays && o.weightDecay > 0 ? coef.keep : undefined) };
}

/** The clipping factor min(1, clipNorm / norm) (1 without clipping), as `adamw` computes it. */
export function clipFactor(norm: number, clipNorm = DEFAULT_ADAMW.clipNorm): number {
  return clipNorm > 0 ? clipNorm / Math.max(norm, clipNorm) : 1;
}
