// Reverse-mode automatic differentiation over a Graph: gradients become new tensors in the same graph.
import { Tensor, GraphError } from "./graph.ts";
import { broadcastShapes, shapesEqual, type Shape } from "./dims.ts";
import { add, zerosLike, expand, reduceSum, reshape, gatherGradOp, gatherGradInto } from "./ops/index.ts";
import { type CheckpointRegion, orderAfter, recomputeRegion, regionExternals, regionOf } from "./checkpoint.ts";

/**
 * Gradients of `output` with respect to each tensor in `wrt`.
 * `output` must be a scalar (any shape of size 1) unless `seed` (dOutput, same shape) is given.
 * Tensors in `wrt` that `output` does not depend on get zero gradients.
 */
export function grad(output: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  return gradients(output, wrt, seed).grads;
}

export interface Gradients {
  /** One gradient per `wrt` tensor (zeros where not reached). */
  grads: Tensor[];
  /** Per `wrt` tensor: whether any gradient flows to it (false: `output` does not use it, or only through stopGradient). */
  reached: boolean[];
}

/** `grad`, also saying which `wrt` tensors the gradient reaches. */
export function gradients(output: Tensor, wrt: readonly Tensor[], seed?: Tensor): Gradients {
  const graph = output.graph;
  if (!output.isFloat) throw new GraphError(`grad: output ${output} is not a float tensor`);
  for (const w of wrt) {
    if (w.graph !== graph) throw new GraphError(`grad: ${w} belongs to another graph than ${output}`);
    if (!w.isFloat) throw new GraphError(`grad: cannot differentiate with respect to integer/bool tensor ${w}`);
  }
  if (seed) {
    if (seed.graph !== graph) throw new GraphError(`grad: seed ${seed} belongs to another graph than ${output}`);
    if (seed.dtype !== output.dtype || seed.rank !== output.rank || seed.shape.some((d, i) => d !== output.shape[i])) {
      throw new GraphError(`grad: seed ${seed} must have the dtype and shape of the output ${output}`);
    }
  } else {
    if (!output.shape.every((d) => d === 1)) {
      throw new GraphError(`grad: output ${output} is not a scalar; pass a seed gradient of its shape`);
    }
    seed = expand(graph.scalar(1, output.dtype), output.shape);
  }

  const grads = backprop(output, seed, wrt);
  return {
    grads: wrt.map((w) => grads.get(w.id) ?? (checkNoIntegerPath(output, w), zerosLike(w))),
    reached: wrt.map((w) => grads.has(w.id)),
  };
}

/**
 * Gradients of `output` (seeded with `seed`) accumulated for every tensor from the earliest of `wrt` up to `output`
 * that depends on one of `wrt`, by id. Gradients do not flow past the tensors in `stopAt`.
 */
function backprop(output: Tensor, seed: Tensor, wrt: readonly Tensor[], stopAt?: ReadonlySet<number>): Map<number, Tensor> {
  const graph = output.graph;
  // Tensors that depend on some `wrt` (only they need gradients).
  const depends = new Set<number>(wrt.map((w) => w.id));
  const first = Math.min(...wrt.map((w) => w.id));
  for (let id = first; id <= output.id; id++) {
    const t = graph.tensors[id]!;
    if (t.isFloat && t.inputs.some((i) => depends.has(i.id))) depends.add(id);
  }

  const grads = new Map<number, Tensor>([[output.id, seed]]);
  const accumulate = (id: number, g: Tensor) => {
    const prev = grads.get(id);
    grads.set(id, prev ? sumGradients(prev, g) : g);
  };
  for (let id = output.id; id >= first; id--) {
    const g = grads.get(id);
    if (!g || depends.has(id) === false || stopAt?.has(id)) continue;
    const t = graph.tensors[id]!;
    if (!t.inputs.some((i) => depends.has(i.id))) continue;
    const region = regionOf(t);
    if (region) {
      for (const [eid, ge] of backpropRegion(region, g, depends)) accumulate(eid, ge);
      continue;
    }
    if (!t.op.grad) throw new GraphError(`grad: op ${t.op.type} has no gradient rule (needed for ${t})`);
    const gs = t.op.grad(t, g).map((gi, k) => gi && toInputShape(t, t.inputs[k]!, gi));
    t.inputs.forEach((input, k) => {
      const gi = gs[k];
      if (gi && depends.has(input.id)) accumulate(input.id, gi);
    });
  }
  return grads;
}

/**
 * The sum of two gradient contributions to one tensor. A table's lookup gradient (GatherGrad, a scatter into zeros)
 * is scattered straight into the other contribution instead, so no zero table and no [V, D] sum are made.
 */
function sumGradients(a: Tensor, b: Tensor): Tensor {
  if (b.op === gatherGradOp) return gatherGradInto(a, b);
  if (a.op === gatherGradOp) return gatherGradInto(b, a);
  return add(a, b);
}

/**
 * The backward pass through a checkpointed region given its output's gradient `g`: recompute the region from inputs
 * that wait for `g`, differentiate the recomputation, and return the gradients of the tensors outside the region
 * that it reads (by id).
 */
function backpropRegion(region: CheckpointRegion, g: Tensor, depends: ReadonlySet<number>): Map<number, Tensor> {
  const inputs = region.inputs.map((x) => (depends.has(x.id) ? orderAfter(x, g) : x));
  const y = recomputeRegion(region, inputs);
  if (y.dtype !== region.output.dtype || y.shape.some((d, i) => d !== region.output.shape[i])) {
    throw new GraphError(`checkpoint: recomputing ${region.output} gave ${y}`);
  }
  const externals = regionExternals(region).filter((e) => depends.has(e.id));
  // Inside the recomputation the region inputs are replaced by their ordered copies.
  const targets = externals.map((e) => {
    const k = region.inputs.indexOf(e);
    return k >= 0 ? inputs[k]! : e;
  });
  const out = new Map<number, Tensor>();
  if (targets.length === 0) return out;
  const inner = backprop(y, g, targets, new Set(targets.map((t) => t.id)));
  externals.forEach((e, i) => {
    const ge = inner.get(targets[i]!.id);
    if (ge) out.set(e.id, ge);
  });
  return out;
}

/**
 * The gradient `gi` that the rule of `t` returned for `input`, reduced to the input's shape. Rules return gradients
 * in the shape the input was broadcast to (for elementwise ops, the output's); this sums over the broadcast axes
 * (leading axes the input lacks, and its size-1 axes) and reshapes. Any other shape or dtype is a bug in the rule.
 */
function toInputShape(t: Tensor, input: Tensor, gi: Tensor): Tensor {
  if (gi.dtype === input.dtype && shapesEqual(gi.shape, input.shape)) return gi;
  const b = broadcastShapes(input.shape, gi.shape);
  if (gi.dtype !== input.dtype || !b || !shapesEqual(b, gi.shape)) {
    throw new GraphError(`grad: the rule of ${t.op.type} gave ${gi} as the gradient of its input ${input}`);
  }
  return sumToShape(gi, input.shape);
}

/** Sums g over the axes along which `shape` broadcasts to g's shape, then reshapes to `shape`. */
function sumToShape(g: Tensor, shape: Shape): Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduceSum(g, axes, true) : g;
  return reshape(summed, shape);
}

/**
 * `output` gets no gradient from `w`. That is fine when it does not use `w` at all or only through stopGradient;
 * when it uses `w` through integer or bool tensors (a cast, a comparison), the request is an error: those paths
 * carry no gradient and a silent zero would hide the mistake.
 */
function checkNoIntegerPath(output: Tensor, w: Tensor): void {
  const graph = output.graph;
  const reach = new Set<number>([w.id]);
  const via = new Map<number, Tensor>(); // first integer/bool tensor on some path to each reached tensor
  for (let id = w.id + 1; id <= output.id; id++) {
    const t = graph.tensors[id]!;
    if (t.op.type === "StopGradient") continue;
    const from = t.inputs.filter((i) => reach.has(i.id));
    if (from.length === 0) continue;
    reach.add(id);
    // Integer-only so far when every reached input is, or when this tensor itself is integer/bool.
    const intOnly = from.every((i) => via.has(i.id));
    const first = intOnly ? via.get(from[0]!.id) : t.isFloat ? undefined : t;
    if (first) via.set(id, first);
  }
  const first = via.get(output.id);
  if (reach.has(output.id) && first) {
    throw new GraphError(
      `grad: ${output} depends on ${w} only through integer/bool tensors (from ${first}), which carry no gradient`,
    );
  }
}
