// Reductions (sum, mean, max over axes) and (log-)softmax.
import { type OpDef, type Tensor } from "../graph.ts";
import { productOfDims } from "../dims.ts";
import { normAxes, requireFloat } from "./util.ts";
import { defineOp } from "./registry.ts";
import { reshape, expand, dimValue } from "./shape.ts";
import { mul, div, sub, exp, equal, where } from "./elementwise.ts";

interface ReduceAttrs {
  axes: number[];
  keepdims: boolean;
}

function reducedShape(x: Tensor, { axes, keepdims }: ReduceAttrs) {
  const shape = x.shape.flatMap((d, i) => (axes.includes(i) ? (keepdims ? [1] : []) : [d]));
  return { dtype: x.dtype, shape };
}

/** Broadcast g (reduced over attrs.axes) back to the shape of x. */
function spread(g: Tensor, x: Tensor, { axes }: ReduceAttrs): Tensor {
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  return expand(reshape(g, kept), x.shape);
}

function reduceDef(type: string, onnx: string, grad: (x: Tensor, out: Tensor<ReduceAttrs>, g: Tensor) => Tensor): OpDef<ReduceAttrs> {
  return defineOp<ReduceAttrs>("rule", {
    type,
    infer: ([x], attrs) => reducedShape(x!, attrs),
    emit: (e, out) =>
      void e.node(onnx, [e.name(out.inputs[0]!), e.int64s(out.attrs.axes)], [e.name(out)], {
        keepdims: out.attrs.keepdims ? 1 : 0,
      }),
    grad: (out, g) => [grad(out.inputs[0]!, out, g)],
  });
}

export const reduceSumOp = reduceDef("ReduceSum", "ReduceSum", (x, out, g) => spread(g, x, out.attrs));
export const reduceMeanOp = reduceDef("ReduceMean", "ReduceMean", (x, out, g) =>
  div(spread(g, x, out.attrs), countOf(x, out.attrs.axes)),
);
export const reduceMaxOp = reduceDef("ReduceMax", "ReduceMax", (x, out, g) => {
  // The gradient is shared equally by all positions that attain the maximum.
  const keep: ReduceAttrs = { axes: out.attrs.axes, keepdims: true };
  const isMax = equal(x, spread(out, x, out.attrs));
  const ties = reduceSum(where(isMax, x.graph.scalar(1, x.dtype), 0), keep.axes, true);
  return where(isMax, div(spread(g, x, out.attrs), ties), 0);
});

function countOf(x: Tensor, axes: number[]): Tensor {
  return dimValue(x.graph, productOfDims(axes.map((a) => x.shape[a]!)), x.dtype);
}

function reducer(op: OpDef<ReduceAttrs>) {
  return (x: Tensor, axes?: number | number[], keepdims = false): Tensor => {
    if (op !== reduceSumOp) requireFloat(op.type, x);
    return x.graph.add(op, [x], { axes: normAxes(axes, x.rank, op.type), keepdims });
  };
}
export const reduceSum = reducer(reduceSumOp);
export const reduceMean = reducer(reduceMeanOp);
export const reduceMax = reducer(reduceMaxOp);

export const softmaxOp = defineOp<{ axis: number }>("rule", {
  type: "Softmax",
  infer: ([x]) => ({ dtype: x!.dtype, shape: x!.shape.slice() }),
  emit: (e, out) => void e.node("Softmax", [e.name(out.inputs[0]!)], [e.name(out)], { axis: out.attrs.axis }),
  grad: (out, g) => [mul(out, sub(g, reduceSum(mul(g, out), out.attrs.axis, true)))],
});
export const logSoftmaxOp = defineOp<{ axis: number }>("rule", {
  type: "LogSoftmax",
  infer: ([x]) => ({ dtype: x!.dtype, shape: x!.shape.slice() }),
  emit: (e, out) => void e.node("LogSoftmax", [e.name(out.inputs[0]!)], [e.name(out)], { axis: out.attrs.axis }),
  grad: (out, g) => [sub(g, mul(exp(out), reduceSum(g, out.attrs.axis, true)))],
});
export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat("Softmax", x);
  return x.graph.add(softmaxOp, [x], { axis: normAxes(axis, x.rank, "Softmax")[0]! });
}
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat("LogSoftmax", x);
  return x.graph.add(logSoftmaxOp, [x], { axis: normAxes(axis, x.rank, "LogSoftmax")[0]! });
}
