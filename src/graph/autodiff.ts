// Reverse-mode automatic differentiation over a Graph: gradients become new tensors in the same graph.
import { Tensor, GraphError } from "./graph.ts";
import { add, zerosLike, expand } from "./ops/index.ts";

/**
 * Gradients of `output` with respect to each tensor in `wrt`.
 * `output` must be a scalar (any shape of size 1) unless `seed` (dOutput, same shape) is given.
 * Tensors in `wrt` that `output` does not depend on get zero gradients.
 */
export function grad(output: Tensor, wrt: readonly Tensor[], seed?: Tensor): Tensor[] {
  const graph = output.graph;
  if (!output.isFloat) throw new GraphError(`grad: output ${output} is not a float tensor`);
  for (const w of wrt) {
    if (w.graph !== graph) throw new GraphError(`grad: ${w} belongs to another graph than ${output}`);
    if (!w.isFloat) throw new GraphError(`grad: cannot differentiate with respect to integer/bool tensor ${w}`);
  }
  if (!seed) {
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
  return wrt.map((w) => grads.get(w.id) ?? zerosLike(w));
}
