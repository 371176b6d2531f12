// Batched matrix multiply with numpy broadcasting of the batch axes.
import { type Tensor, ShapeError } from "../graph.ts";
import { broadcastShapes, shapeToString } from "../dims.ts";
import { sameDType } from "./util.ts";
import { defineOp } from "./registry.ts";
import { reshape, transposeLast2 } from "./shape.ts";

type NoAttrs = Record<string, never>;

export const matmulOp = defineOp<NoAttrs>("rule", {
  type: "MatMul",
  infer: ([a, b]) => {
    sameDType("MatMul", a!, b!);
    if (a!.rank < 2 || b!.rank < 2) throw new ShapeError(`MatMul: operands need rank >= 2, got ${a} and ${b}`);
    const k1 = a!.shape[a!.rank - 1]!;
    const k2 = b!.shape[b!.rank - 2]!;
    const batch = broadcastShapes(a!.shape.slice(0, -2), b!.shape.slice(0, -2));
    if (k1 !== k2 || !batch) {
      throw new ShapeError(`MatMul: shapes ${shapeToString(a!.shape)} and ${shapeToString(b!.shape)} do not match`);
    }
    return { dtype: a!.dtype, shape: [...batch, a!.shape[a!.rank - 2]!, b!.shape[b!.rank - 1]!] };
  },
  emit: (e, out) => void e.node("MatMul", out.inputs.map((t) => e.name(t)), [e.name(out)]),
  // Gradients over the broadcast batch axes ([...batch, M, K] and [...batch, K, N]); autodiff sums them to each
  // input's batch shape.
  grad: (out, g) => {
    const [a, b] = out.inputs as [Tensor, Tensor];
    const ga = matmul(g, transposeLast2(b));
    if (b.rank === 2 && a.rank > 2) {
      // Weight gradient: fold the batch axes into rows, one [K, M] x [M, N] product instead of a batched one + sum.
      const k = a.shape[a.rank - 1]!;
      const n = g.shape[g.rank - 1]!;
      return [ga, matmul(transposeLast2(reshape(a, [-1, k])), reshape(g, [-1, n]))];
    }
    return [ga, matmul(transposeLast2(a), g)];
  },
});

export function matmul(a: Tensor, b: Tensor): Tensor {
  return a.graph.add(matmulOp, [a, b], {});
}
