// Symbolic tensor graphs. A Tensor is the single output of one node: an op applied to input tensors with attributes.
// Tensors are created in a valid topological order (creation order), which emission relies on.
import { type DType, type AnyTypedArray, isFloat } from "./dtype.ts";
import { type Dim, type Shape, shapeToString, polyNames } from "./dims.ts";
import type { Emitter } from "./emitter.ts";
import * as ops from "./ops/index.ts";

/**
 * One operator, defined once: its shape rule, its ONNX emission and its gradient rule, side by side. Every OpDef is
 * registered with `defineOp` (./ops/registry.ts), which records how autodiff treats it.
 */
export interface OpDef<A = unknown> {
  readonly type: string;
  /** Output dtype and shape for the given inputs; throws ShapeError naming both shapes on mismatch. */
  infer(inputs: readonly Tensor[], attrs: A): { dtype: DType; shape: Dim[] };
  /** Writes ONNX node(s) computing `out` from its inputs. */
  emit(e: Emitter, out: Tensor<A>): void;
  /**
   * Gradients w.r.t. each input given the gradient of the output (null: no gradient). Absent: not differentiable.
   * A gradient may have the shape the input was broadcast to (e.g. the output's); autodiff sums it to the input's.
   */
  grad?(out: Tensor<A>, g: Tensor): (Tensor | null)[];
  /** Extra tensors that must be computed before this one (beyond inputs), e.g. sources of symbolic dims. */
  deps?(out: Tensor<A>): Tensor[];
}

export class ShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShapeError";
  }
}

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GraphError";
  }
}

export type Scalarish = Tensor | number;

export class Graph {
  readonly tensors: Tensor[] = [];
  readonly inputs = new Map<string, Tensor>();
  /** For each symbolic dim, the first tensor (and axis) that has it: its runtime value is Shape(tensor)[axis]. */
  readonly dimSources = new Map<string, { tensor: Tensor; axis: number }>();

  /** A graph input (data, parameters, optimiser state). Names must be unique. */
  input<D extends DType>(name: string, dtype: D, shape: Shape): Tensor {
    if (this.inputs.has(name)) throw new GraphError(`graph input "${name}" is declared twice`);
    const t = this.add(ops.inputOp, [], { name }, { dtype, shape: [...shape] });
    this.inputs.set(name, t);
    return t;
  }

  /** A constant tensor. Numbers are converted to `dtype`. */
  constant(values: ArrayLike<number> | AnyTypedArray | number, dtype: DType = "float32", shape?: Shape): Tensor {
    return ops.constant(this, values, dtype, shape);
  }

  scalar(value: number, dtype: DType = "float32"): Tensor {
    return ops.constant(this, value, dtype, []);
  }

  /**
   * How the runtime value of symbolic dim `d` is obtained. A plain name: Shape(tensor)[axis] of its first tensor.
   * A polynomial ("6*batch", "seq-1"): computed from the names it uses when each has a source (so gradients need
   * not keep forward tensors alive just to read a size), else read from a tensor that has the whole dim.
   */
  dimPlan(d: string): { source: { tensor: Tensor; axis: number } } | { names: string[] } | undefined {
    const names = polyNames(d);
    const whole = this.dimSources.get(d);
    if (names.length === 1 && names[0] === d) return whole && { source: whole };
    if (names.every((n) => this.dimSources.has(n))) return { names };
    return whole && { source: whole };
  }

  /** Internal: create a tensor from an op. */
  add<A>(op: OpDef<A>, inputs: Tensor[], attrs: A, known?: { dtype: DType; shape: Dim[] }): Tensor<A> {
    for (const t of inputs) {
      if (t.graph !== this) throw new GraphError(`${op.type}: input ${t} belongs to another graph`);
    }
    const { dtype, shape } = known ?? op.infer(inputs, attrs);
    const t = new Tensor<A>(this, this.tensors.length, op, inputs, attrs, dtype, shape);
    // Symbolic dims the op reads at run time must already be sizes of earlier tensors (throws otherwise).
    op.deps?.(t);
    this.tensors.push(t as Tensor);
    shape.forEach((d, axis) => {
      if (typeof d === "string" && !this.dimSources.has(d)) this.dimSources.set(d, { tensor: t as Tensor, axis });
    });
    return t;
  }
}

export class Tensor<A = unknown> {
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly op: OpDef<A>,
    readonly inputs: readonly Tensor[],
    readonly attrs: A,
    readonly dtype: DType,
    readonly shape: readonly Dim[],
  ) {}

  /** The name of a graph input (undefined for computed tensors). */
  get inputName(): string | undefined {
    return this.op.type === "Input" ? (this.attrs as { name: string }).name : undefined;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Human-readable description used in error messages. */
  toString(): string {
    const name = this.op.type === "Input" ? ` "${(this.attrs as { name: string }).name}"` : "";
    return `${this.op.type}${name}#${this.id}<${this.dtype}${shapeToString(this.shape)}>`;
  }

  get isFloat(): boolean {
    return isFloat(this.dtype);
  }

  // Arithmetic (numpy broadcasting; numbers become constants of this tensor's dtype).
  add(o: Scalarish): Tensor { return ops.add(this, o); }
  sub(o: Scalarish): Tensor { return ops.sub(this, o); }
  mul(o: Scalarish): Tensor { return ops.mul(this, o); }
  div(o: Scalarish): Tensor { return ops.div(this, o); }
  pow(o: Scalarish): Tensor { return ops.pow(this, o); }
  maximum(o: Scalarish): Tensor { return ops.maximum(this, o); }
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  reciprocal(): Tensor { return ops.reciprocal(this); }
  square(): Tensor { return ops.square(this); }
  tanh(): Tensor { return ops.tanh(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  silu(): Tensor { return ops.silu(this); }
  erf(): Tensor { return ops.erf(this); }
  /** Exact (erf) GELU. */
  gelu(): Tensor { return ops.gelu(this); }
  relu(): Tensor { return ops.relu(this); }
  abs(): Tensor { return ops.abs(this); }
  sin(): Tensor { return ops.sin(this); }
  cos(): Tensor { return ops.cos(this); }
  // Comparisons (bool results, no gradient).
  equal(o: Scalarish): Tensor { return ops.equal(this, o); }
  less(o: Scalarish): Tensor { return ops.less(this, o); }
  greater(o: Scalarish): Tensor { return ops.greater(this, o); }
  // Linear algebra.
  matmul(o: Tensor): Tensor { return ops.matmul(this, o); }
  // Reductions over `axes` (all axes when omitted).
  sum(axes?: number | number[], keepdims = false): Tensor { return ops.reduceSum(this, axes, keepdims); }
  mean(axes?: number | number[], keepdims = false): Tensor { return ops.reduceMean(this, axes, keepdims); }
  max(axes?: number | number[], keepdims = false): Tensor { return ops.reduceMax(this, axes, keepdims); }
  softmax(axis = -1): Tensor { return ops.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return ops.logSoftmax(this, axis); }
  // Shape manipulation.
  reshape(shape: Shape): Tensor { return ops.reshape(this, shape); }
  transpose(perm?: number[]): Tensor { return ops.transpose(this, perm); }
  /** Swap the last two axes. */
  t(): Tensor { return ops.transposeLast2(this); }
  unsqueeze(axis: number): Tensor { return ops.unsqueeze(this, axis); }
  squeeze(axis: number): Tensor { return ops.squeeze(this, axis); }
  slice(axis: number, start: number, end?: number): Tensor { return ops.slice(this, axis, start, end); }
  expand(shape: Shape): Tensor { return ops.expand(this, shape); }
  cast(dtype: DType): Tensor { return ops.cast(this, dtype); }
  stopGradient(): Tensor { return ops.stopGradient(this); }
  /** Rows of this table at integer `ids` (embedding lookup along axis 0). */
  gather(ids: Tensor): Tensor { return ops.gather(this, ids); }
  gatherElements(index: Tensor, axis: number): Tensor { return ops.gatherElements(this, index, axis); }
}
