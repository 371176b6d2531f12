// Graph inputs, constants and shape manipulation: reshape, transpose, slice, concat, expand, cast, range, trilu.
import { type OpDef, type Tensor, type Graph, ShapeError, GraphError } from "../graph.ts";
import {
  type Dim, type Shape, shapeToString, productOfDims, divDims, addDims, subDims, broadcastShapes, shapesEqual,
  staticSize, polyNames,
} from "../dims.ts";
import { type DType, type AnyTypedArray, ONNX_TYPE, allocate, isFloat, typedArrayDType } from "../dtype.ts";
import { normAxes } from "./util.ts";
import { defineOp } from "./registry.ts";

type NoAttrs = Record<string, never>;
const sameAsInput = ([x]: readonly Tensor[]) => ({ dtype: x!.dtype, shape: x!.shape.slice() });

/** Symbolic dims in `dims` must be known to the graph: each name is the size of some earlier tensor. */
function dimDeps(graph: Graph, dims: readonly Dim[], what: string): Tensor[] {
  const out: Tensor[] = [];
  for (const d of dims) {
    if (typeof d !== "string") continue;
    const plan = graph.dimPlan(d);
    if (!plan) {
      const name = polyNames(d).find((n) => !graph.dimSources.has(n)) ?? d;
      throw new ShapeError(`${what}: symbolic dim "${name}" is not the size of any tensor in this graph`);
    }
    if ("source" in plan) out.push(plan.source.tensor);
    else for (const n of plan.names) out.push(graph.dimSources.get(n)!.tensor);
  }
  return out;
}

export const inputOp = defineOp<{ name: string }>("none", {
  type: "Input",
  infer: () => {
    throw new GraphError("inputs are created with Graph.input()");
  },
  emit: () => {},
});

export const constantOp = defineOp<{ value: AnyTypedArray }>("none", {
  type: "Constant",
  infer: () => {
    throw new GraphError("constants are created with Graph.constant()");
  },
  emit: () => {},
});

export function constant(
  graph: Graph,
  values: ArrayLike<number> | AnyTypedArray | number,
  dtype: DType,
  shape?: Shape,
): Tensor {
  const src = typeof values === "number" ? [values] : values;
  let value: AnyTypedArray;
  if ((src instanceof Float32Array || src instanceof Float64Array || src instanceof BigInt64Array ||
      src instanceof Int32Array || src instanceof Uint8Array) && (typedArrayDType(src) === dtype || (dtype === "uint8" && src instanceof Uint8Array))) {
    value = src.slice();
  } else {
    value = allocate(dtype, src.length);
    for (let i = 0; i < src.length; i++) {
      const v = Number((src as ArrayLike<number | bigint>)[i]);
      if (value instanceof BigInt64Array) value[i] = BigInt(Math.trunc(v));
      else (value as Float32Array)[i] = v;
    }
  }
  const dims = shape ? [...shape] : typeof values === "number" ? [] : [value.length];
  const n = staticSize(dims);
  if (n === undefined || n !== value.length) {
    throw new ShapeError(`Constant: ${value.length} values do not fill shape ${shapeToString(dims)}`);
  }
  return graph.add(constantOp, [], { value }, { dtype, shape: dims });
}

// ---- reshape -------------------------------------------------------------------------------------------------
export const reshapeOp = defineOp<{ target: Dim[] }>("rule", {
  type: "Reshape",
  infer: ([x], { target }) => {
    const total = productOfDims(x!.shape);
    const unknown = target.filter((d) => d === -1).length;
    if (unknown > 1) throw new ShapeError(`Reshape: at most one -1 allowed in ${shapeToString(target)}`);
    const known = productOfDims(target.filter((d) => d !== -1));
    if (unknown === 0) {
      if (total !== known) {
        throw new ShapeError(`Reshape: cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(target)}`);
      }
      return { dtype: x!.dtype, shape: target.slice() };
    }
    const inferred = divDims(total, known);
    if (inferred === undefined) {
      throw new ShapeError(`Reshape: cannot reshape ${shapeToString(x!.shape)} to ${shapeToString(target)}`);
    }
    return { dtype: x!.dtype, shape: target.map((d) => (d === -1 ? inferred : d)) };
  },
  deps: (out) => dimDeps(out.graph, out.attrs.target, "Reshape"),
  emit: (e, out) => void e.node("Reshape", [e.name(out.inputs[0]!), e.shape(out.attrs.target)], [e.name(out)]),
  grad: (out, g) => [reshape(g, out.inputs[0]!.shape)],
});
export function reshape(x: Tensor, target: Shape): Tensor {
  if (shapesEqual(x.shape, target)) return x;
  dimDeps(x.graph, target, "Reshape");
  return x.graph.add(reshapeOp, [x], { target: [...target] });
}
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = axis < 0 ? axis + x.rank + 1 : axis;
  if (a < 0 || a > x.rank) throw new ShapeError(`Unsqueeze: axis ${axis} out of range for ${x}`);
  const s = x.shape.slice();
  s.splice(a, 0, 1);
  return reshape(x, s);
}
export function squeeze(x: Tensor, axis: number): Tensor {
  const [a] = normAxes(axis, x.rank, "Squeeze");
  if (x.shape[a!] !== 1) throw new ShapeError(`Squeeze: axis ${axis} of ${x} has size ${x.shape[a!]}, expected 1`);
  const s = x.shape.slice();
  s.splice(a!, 1);
  return reshape(x, s);
}

// ---- transpose -----------------------------------------------------------------------------------------------
export const transposeOp = defineOp<{ perm: number[] }>("rule", {
  type: "Transpose",
  infer: ([x], { perm }) => {
    const sorted = [...perm].sort((a, b) => a - b);
    if (perm.length !== x!.rank || sorted.some((p, i) => p !== i)) {
      throw new ShapeError(`Transpose: perm [${perm}] is not a permutation of the axes of ${x}`);
    }
    return { dtype: x!.dtype, shape: perm.map((p) => x!.shape[p]!) };
  },
  emit: (e, out) => void e.node("Transpose", [e.name(out.inputs[0]!)], [e.name(out)], { perm: out.attrs.perm }),
  grad: (out, g) => {
    const inv = new Array<number>(out.attrs.perm.length);
    out.attrs.perm.forEach((p, i) => (inv[p] = i));
    return [transpose(g, inv)];
  },
});
export function transpose(x: Tensor, perm?: number[]): Tensor {
  const p = perm ?? [...Array(x.rank).keys()].reverse();
  return x.graph.add(transposeOp, [x], { perm: p });
}
export function transposeLast2(x: Tensor): Tensor {
  if (x.rank < 2) throw new ShapeError(`t(): needs rank >= 2, got ${x}`);
  const p = [...Array(x.rank).keys()];
  [p[x.rank - 2], p[x.rank - 1]] = [p[x.rank - 1]!, p[x.rank - 2]!];
  return transpose(x, p);
}

// ---- slice / pad (its gradient) ------------------------------------------------------------------------------
interface SliceAttrs {
  axis: number;
  start: number;
  end: number | undefined; // undefined: to the end
}
function sliceLength(d: Dim, start: number, end: number | undefined, what: string): Dim {
  if (typeof d === "number") {
    const s = Math.min(Math.max(start < 0 ? start + d : start, 0), d);
    const en = end === undefined ? d : Math.min(Math.max(end < 0 ? end + d : end, 0), d);
    return Math.max(en - s, 0);
  }
  // Symbolic sizes are assumed large enough for the bounds (as in x[:, 1:], x[:, :-1], x[:, -1:]).
  if (start < 0 && end === undefined) return -start;
  if (start < 0 && end !== undefined && end < 0) return Math.max(end - start, 0);
  if (start >= 0 && end !== undefined && end >= 0) return Math.max(end - start, 0);
  if (start >= 0 && end === undefined) return subDims(d, start);
  if (start >= 0 && end !== undefined && end < 0) return subDims(d, start - end);
  throw new ShapeError(`${what}: cannot slice symbolic dim ${d} from ${start} to ${end}`);
}
export const sliceOp = defineOp<SliceAttrs>("rule", {
  type: "Slice",
  infer: ([x], { axis, start, end }) => {
    const shape = x!.shape.slice();
    shape[axis] = sliceLength(shape[axis]!, start, end, `Slice of ${x}`);
    return { dtype: x!.dtype, shape };
  },
  emit: (e, out) => {
    const { axis, start, end } = out.attrs;
    e.node(
      "Slice",
      [e.name(out.inputs[0]!), e.int64s([start]), e.int64s([end ?? Number.MAX_SAFE_INTEGER]), e.int64s([axis])],
      [e.name(out)],
    );
  },
  grad: (out, g) => [g.graph.add(slicePadOp, [g, out.inputs[0]!], out.attrs)],
});
/** Gradient of Slice: zero-pad g back to the shape of x (x is only read for its shape). */
export const slicePadOp = defineOp<SliceAttrs>("helper", {
  type: "SliceGrad",
  infer: ([, x]) => ({ dtype: x!.dtype, shape: x!.shape.slice() }),
  emit: (e, out) => {
    const [g, x] = out.inputs as [Tensor, Tensor];
    const { axis, start, end } = out.attrs;
    const rank = x.rank;
    const dimV = e.op("Gather", [e.op("Shape", [e.name(x)]), e.int64s([axis])]);
    const norm = (v: number) => (v < 0 ? e.op("Add", [dimV, e.int64s([v])]) : e.int64s([v]));
    const clamp = (v: string) => e.op("Max", [e.op("Min", [v, dimV]), e.int64s([0])]);
    const s = clamp(norm(start));
    const en = end === undefined ? dimV : clamp(norm(end));
    const padEnd = e.op("Sub", [dimV, en]);
    const zeros = (n: number) => (n > 0 ? [e.int64s(new Array(n).fill(0))] : []);
    const pads = e.op("Concat", [...zeros(axis), s, ...zeros(rank - 1), padEnd, ...zeros(rank - axis - 1)], { axis: 0 });
    e.node("Pad", [e.name(g), pads], [e.name(out)]);
  },
});
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  const [a] = normAxes(axis, x.rank, "Slice");
  return x.graph.add(sliceOp, [x], { axis: a!, start, end });
}

/** Zero padding of `before` / `after` positions along one axis (static amounts); its gradient is a slice. */
export const padOp = defineOp<{ axis: number; before: number; after: number }>("rule", {
  type: "Pad",
  infer: ([x], { axis, before, after }) => {
    const shape = x!.shape.slice();
    shape[axis] = addDims(shape[axis]!, before + after);
    return { dtype: x!.dtype, shape };
  },
  emit: (e, out) => {
    const { axis, before, after } = out.attrs;
    const rank = out.rank;
    const pads = new Array<number>(2 * rank).fill(0);
    pads[axis] = before;
    pads[rank + axis] = after;
    e.node("Pad", [e.name(out.inputs[0]!), e.int64s(pads)], [e.name(out)]);
  },
  grad: (out, g) => {
    const { axis, before, after } = out.attrs;
    return [slice(g, axis, before, after > 0 ? -after : undefined)];
  },
});
export function pad(x: Tensor, axis: number, before: number, after: number): Tensor {
  const [a] = normAxes(axis, x.rank, "Pad");
  if (!Number.isInteger(before) || !Number.isInteger(after) || before < 0 || after < 0) {
    throw new ShapeError(`Pad: amounts must be non-negative integers, got ${before} and ${after}`);
  }
  if (before === 0 && after === 0) return x;
  return x.graph.add(padOp, [x], { axis: a!, before, after });
}

/** x[..., start:start+length, ...] along `axis` with dim-valued bounds (used by Concat's gradient). */
export const sliceRangeOp = defineOp<{ axis: number; start: Dim; length: Dim }>("helper", {
  type: "SliceRange",
  infer: ([x], { axis, length }) => {
    const shape = x!.shape.slice();
    shape[axis] = length;
    return { dtype: x!.dtype, shape };
  },
  deps: (out) => dimDeps(out.graph, [out.attrs.start, out.attrs.length], "SliceRange"),
  emit: (e, out) => {
    const { axis, start, length } = out.attrs;
    const s = e.dim(start);
    const en = e.op("Add", [s, e.dim(length)]);
    e.node("Slice", [e.name(out.inputs[0]!), s, en, e.int64s([axis])], [e.name(out)]);
  },
});

// ---- concat --------------------------------------------------------------------------------------------------
export const concatOp = defineOp<{ axis: number }>("rule", {
  type: "Concat",
  infer: (inputs, { axis }) => {
    const first = inputs[0]!;
    let total: Dim = 0;
    for (const t of inputs) {
      if (t.dtype !== first.dtype || t.rank !== first.rank ||
          t.shape.some((d, i) => i !== axis && d !== first.shape[i])) {
        throw new ShapeError(`Concat(axis ${axis}): ${first} and ${t} do not match`);
      }
      total = addDims(total, t.shape[axis]!);
    }
    const shape = first.shape.slice();
    shape[axis] = total;
    return { dtype: first.dtype, shape };
  },
  emit: (e, out) => void e.node("Concat", out.inputs.map((t) => e.name(t)), [e.name(out)], { axis: out.attrs.axis }),
  grad: (out, g) => {
    let offset: Dim = 0;
    return out.inputs.map((t) => {
      const part = g.graph.add(sliceRangeOp, [g], { axis: out.attrs.axis, start: offset, length: t.shape[out.attrs.axis]! });
      offset = addDims(offset, t.shape[out.attrs.axis]!);
      return part;
    });
  },
});
export function concat(ts: Tensor[], axis: number): Tensor {
  if (ts.length === 0) throw new ShapeError("Concat: no inputs");
  if (ts.length === 1) return ts[0]!;
  const [a] = normAxes(axis, ts[0]!.rank, "Concat");
  return ts[0]!.graph.add(concatOp, ts, { axis: a! });
}

// ---- expand --------------------------------------------------------------------------------------------------
export const expandOp = defineOp<{ target: Dim[] }>("rule", {
  type: "Expand",
  infer: ([x], { target }) => {
    const b = broadcastShapes(x!.shape, target);
    if (!b || !shapesEqual(b, target)) {
      throw new ShapeError(`Expand: ${x} does not broadcast to ${shapeToString(target)}`);
    }
    return { dtype: x!.dtype, shape: target.slice() };
  },
  deps: (out) => dimDeps(out.graph, out.attrs.target, "Expand"),
  emit: (e, out) => void e.node("Expand", [e.name(out.inputs[0]!), e.shape(out.attrs.target)], [e.name(out)]),
  grad: (_out, g) => [g], // autodiff sums g over the expanded axes
});
export function expand(x: Tensor, target: Shape): Tensor {
  if (shapesEqual(x.shape, target)) return x;
  dimDeps(x.graph, target, "Expand");
  return x.graph.add(expandOp, [x], { target: [...target] });
}

// ---- cast, stop-gradient -------------------------------------------------------------------------------------
export const castOp = defineOp<{ to: DType }>("rule", {
  type: "Cast",
  infer: ([x], { to }) => ({ dtype: to, shape: x!.shape.slice() }),
  emit: (e, out) => {
    e.node("Cast", [e.name(out.inputs[0]!)], [e.name(out)], { to: ONNX_TYPE[out.attrs.to] });
  },
  grad: (out, g) => [isFloat(out.inputs[0]!.dtype) && isFloat(out.dtype) ? cast(g, out.inputs[0]!.dtype) : null],
});
export function cast(x: Tensor, to: DType): Tensor {
  return x.dtype === to ? x : x.graph.add(castOp, [x], { to });
}

export const stopGradientOp = defineOp<NoAttrs>("detached", {
  type: "StopGradient",
  infer: sameAsInput,
  emit: (e, out) => void e.node("Identity", [e.name(out.inputs[0]!)], [e.name(out)]),
  grad: () => [null],
});
export function stopGradient(x: Tensor): Tensor {
  return x.graph.add(stopGradientOp, [x], {});
}

// ---- runtime sizes -------------------------------------------------------------------------------------------
/** A scalar holding the runtime value of a dim (e.g. the number of positions), as `dtype`. */
export const dimValueOp = defineOp<{ dim: Dim; dtype: DType }>("none", {
  type: "DimValue",
  infer: (_i, { dtype }) => ({ dtype, shape: [] }),
  deps: (out) => dimDeps(out.graph, [out.attrs.dim], "DimValue"),
  emit: (e, out) => {
    const scalar = e.op("Reshape", [e.dim(out.attrs.dim), e.int64s([])]);
    e.node("Cast", [scalar], [e.name(out)], { to: ONNX_TYPE[out.attrs.dtype] });
  },
});
export function dimValue(graph: Graph, dim: Dim, dtype: DType = "int64"): Tensor {
  if (typeof dim === "number") return graph.scalar(dim, dtype);
  return graph.add(dimValueOp, [], { dim, dtype });
}

/** [0, 1, ..., n-1] with n a dim (static or symbolic). */
export const rangeOp = defineOp<{ n: Dim; dtype: DType }>("none", {
  type: "Range",
  infer: (_i, { n, dtype }) => ({ dtype, shape: [n] }),
  deps: (out) => dimDeps(out.graph, [out.attrs.n], "Range"),
  emit: (e, out) => {
    const limit = e.op("Reshape", [e.dim(out.attrs.n), e.int64s([])]);
    const r = e.op("Range", [e.scalar(0, "int64"), limit, e.scalar(1, "int64")]);
    e.node("Cast", [r], [e.name(out)], { to: ONNX_TYPE[out.attrs.dtype] });
  },
});
export function range(graph: Graph, n: Dim, dtype: DType = "int64"): Tensor {
  return graph.add(rangeOp, [], { n, dtype });
}

/** Keep the upper (or lower) triangle of the last two axes, with diagonal offset k; zero elsewhere. */
export const triluOp: OpDef<{ upper: boolean; k: number }> = defineOp<{ upper: boolean; k: number }>("rule", {
  type: "Trilu",
  infer: ([x]) => {
    if (x!.rank < 2) throw new ShapeError(`Trilu: needs rank >= 2, got ${x}`);
    return { dtype: x!.dtype, shape: x!.shape.slice() };
  },
  emit: (e, out) =>
    void e.node("Trilu", [e.name(out.inputs[0]!), e.scalar(out.attrs.k, "int64")], [e.name(out)], {
      upper: out.attrs.upper ? 1 : 0,
    }),
  grad: (out, g) => [g.graph.add(triluOp, [g], out.attrs)],
});
export function trilu(x: Tensor, upper: boolean, k = 0): Tensor {
  return x.graph.add(triluOp, [x], { upper, k });
}

/** Zeros with the shape and dtype of x (read at run time). */
export const zerosLikeOp = defineOp<NoAttrs>("detached", {
  type: "ZerosLike",
  infer: sameAsInput,
  emit: (e, out) => {
    const x = out.inputs[0]!;
    e.node("Expand", [e.scalar(0, x.dtype), e.op("Shape", [e.name(x)])], [e.name(out)]);
  },
  grad: () => [null],
});
export function zerosLike(x: Tensor): Tensor {
  return x.graph.add(zerosLikeOp, [x], {});
}
