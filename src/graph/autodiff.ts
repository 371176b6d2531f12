// Reverse-mode automatic differentiation over a Graph: gradients become new tensors in the same graph.
import { Tensor, GraphError } from "./graph.ts";
import { add, zerosLike, expand } from "./ops/index.ts";

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

  // Tensors that depend on some `wrt` (only they need gradients).
  const depends = new Set<number>(wrt.map((w) => w.id));
  const first = Math.min(...wrt.map((w) => w.id));
  for (let id = first; id <= output.id; id++) {
    const t = graph.tensors[id]!;
    if (t.isFloat && t.inputs.some((i) => depends.has(i.id))) depends.add(id);
  }

  const grads = new Map<number, Tensor>([[output.id, seed]]);
  for (let id = output.id; id >= first; id--) {
    const g = grads.get(id);
    if (!g || depends.has(id) === false) continue;
    const t = graph.tensors[id]!;
    if (!t.inputs.some((i) => depends.has(i.id))) continue;
    if (!t.op.grad) throw new GraphError(`grad: op ${t.op.type} has no gradient rule (needed for ${t})`);
    const gs = t.op.grad(t, g);
    t.inputs.forEach((input, k) => {
      const gi = gs[k];
      if (!gi || !depends.has(input.id)) return;
      const prev = grads.get(input.id);
      grads.set(input.id, prev ? add(prev, gi) : gi);
    });
  }
  return {
    grads: wrt.map((w) => grads.get(w.id) ?? (checkNoIntegerPath(output, w), zerosLike(w))),
    reached: wrt.map((w) => grads.has(w.id)),
  };
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
