// Integer indexing: embedding lookup (Gather on axis 0) and GatherElements, with scatter-add gradients.
import { type Tensor, ShapeError } from "../graph.ts";
import type { Emitter } from "../emitter.ts";
import { shapeToString } from "../dims.ts";
import { normAxes } from "./util.ts";
import { defineOp } from "./registry.ts";

type NoAttrs = Record<string, never>;

function requireIndex(what: string, t: Tensor): void {
  if (t.dtype !== "int64" && t.dtype !== "int32") throw new ShapeError(`${what}: indices must be int64 or int32, got ${t}`);
}

/** table[ids]: table [V, ...rest], ids [...] -> [...ids, ...rest]. */
export const gatherOp = defineOp<NoAttrs>("rule", {
  type: "Gather",
  infer: ([table, ids]) => {
    requireIndex("Gather", ids!);
    if (table!.rank < 1) throw new ShapeError(`Gather: table must have rank >= 1, got ${table}`);
    return { dtype: table!.dtype, shape: [...ids!.shape, ...table!.shape.slice(1)] };
  },
  emit: (e, out) => void e.node("Gather", out.inputs.map((t) => e.name(t)), [e.name(out)], { axis: 0 }),
  grad: (out, g) => {
    const [table, ids] = out.inputs as [Tensor, Tensor];
    return [g.graph.add(gatherGradOp, [g, table, ids], {}), null];
  },
});
/** Scatter-add of g into zeros shaped like the table (duplicate ids accumulate). */
/**
 * base + scatter-add of the rows of g at ids (duplicate ids accumulate): g [...ids, ...rest] into base [V, ...rest].
 * Rows of g are flattened to [N, prod(rest)] and scattered with ScatterElements along axis 0 (indices broadcast over
 * the row). ONNX Runtime's multi-threaded ScatterND loses updates for repeated ids; this does not.
 */
function emitScatterRows(e: Emitter, base: string, g: Tensor, table: Tensor, ids: Tensor, out: string): void {
  let idx = e.name(ids);
  if (ids.dtype !== "int64") idx = e.op("Cast", [idx], { to: 7 });
  const width = e.op("ReduceProd", [e.op("Slice", [e.op("Shape", [e.name(table)]), e.int64s([1]), e.int64s([Number.MAX_SAFE_INTEGER])])], { keepdims: 1 });
  const rows = e.op("Reshape", [e.name(g), e.op("Concat", [e.int64s([-1]), width], { axis: 0 })]);
  const flatIdx = e.op("Reshape", [idx, e.int64s([-1, 1])]);
  const index = e.op("Expand", [flatIdx, e.op("Shape", [rows])]);
  const flatBase = e.op("Reshape", [base, e.op("Concat", [e.int64s([-1]), width], { axis: 0 })]);
  const summed = e.op("ScatterElements", [flatBase, index, rows], { axis: 0, reduction: "add" });
  e.node("Reshape", [summed, e.op("Shape", [e.name(table)])], [out]);
}

/** Scatter-add of g into zeros shaped like the table (duplicate ids accumulate). */
export const gatherGradOp = defineOp<NoAttrs>("helper", {
  type: "GatherGrad",
  infer: ([, table]) => ({ dtype: table!.dtype, shape: table!.shape.slice() }),
  emit: (e, out) => {
    const [g, table, ids] = out.inputs as [Tensor, Tensor, Tensor];
    const zeros = e.op("Expand", [e.scalar(0, table.dtype), e.op("Shape", [e.name(table)])]);
    emitScatterRows(e, zeros, g, table, ids, e.name(out));
  },
});

/**
 * A dense gradient plus a GatherGrad's rows, scattered straight into the dense one: what autodiff emits when a table
 * gets both (a tied embedding: the head's gradient and the lookup's), so no zero table and no extra sum of two
 * [V, D] tensors exist.
 */
export const gatherGradIntoOp = defineOp<NoAttrs>("helper", {
  type: "GatherGradInto",
  infer: ([base]) => ({ dtype: base!.dtype, shape: base!.shape.slice() }),
  emit: (e, out) => {
    const [base, g, table, ids] = out.inputs as [Tensor, Tensor, Tensor, Tensor];
    emitScatterRows(e, e.name(base), g, table, ids, e.name(out));
  },
});

/** dense + sparse, where `sparse` is a GatherGrad of the same table shape. */
export function gatherGradInto(dense: Tensor, sparse: Tensor): Tensor {
  if (sparse.op !== gatherGradOp) throw new ShapeError(`gatherGradInto: ${sparse} is not a GatherGrad`);
  const [g, table, ids] = sparse.inputs as [Tensor, Tensor, Tensor];
  return dense.graph.add(gatherGradIntoOp, [dense, g, table, ids], {});
}

export function gather(table: Tensor, ids: Tensor): Tensor {
  return table.graph.add(gatherOp, [table, ids], {});
}

/** out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (ONNX GatherElements); out has index's shape. */
export const gatherElementsOp = defineOp<{ axis: number }>("rule", {
  type: "GatherElements",
  infer: ([x, index]) => {
    requireIndex("GatherElements", index!);
    if (x!.rank !== index!.rank) {
      throw new ShapeError(`GatherElements: ${shapeToString(x!.shape)} and index ${shapeToString(index!.shape)} differ in rank`);
    }
    return { dtype: x!.dtype, shape: index!.shape.slice() };
  },
  emit: (e, out) =>
    void e.node("GatherElements", out.inputs.map((t) => e.name(t)), [e.name(out)], { axis: out.attrs.axis }),
  grad: (out, g) => {
    const [x, index] = out.inputs as [Tensor, Tensor];
    return [g.graph.add(gatherElementsGradOp, [g, x, index], out.attrs), null];
  },
});
export const gatherElementsGradOp = defineOp<{ axis: number }>("helper", {
  type: "GatherElementsGrad",
  infer: ([, x]) => ({ dtype: x!.dtype, shape: x!.shape.slice() }),
  emit: (e, out) => {
    const [g, x, index] = out.inputs as [Tensor, Tensor, Tensor];
    const zeros = e.op("Expand", [e.scalar(0, x.dtype), e.op("Shape", [e.name(x)])]);
    e.node("ScatterElements", [zeros, e.name(index), e.name(g)], [e.name(out)], {
      axis: out.attrs.axis,
      reduction: "add",
    });
  },
});
export function gatherElements(x: Tensor, index: Tensor, axis: number): Tensor {
  const [a] = normAxes(axis, x.rank, "GatherElements");
  return x.graph.add(gatherElementsOp, [x, index], { axis: a! });
}
