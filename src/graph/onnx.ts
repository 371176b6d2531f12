// Emission of a Graph (the part needed for some outputs) as an ONNX model, with onnx-proto.
import onnxProto from "onnx-proto";
import { Tensor, type Graph, GraphError } from "./graph.ts";
import { type Emitter, type AttrValue, CONTRIB_DOMAIN } from "./emitter.ts";
import { type DType, type AnyTypedArray, ONNX_TYPE, ARRAY_OF } from "./dtype.ts";
import { type Dim, parseDim } from "./dims.ts";

const { onnx } = onnxProto;
export const OPSET = 18;
/** Versions of the other operator sets a model may use. */
const CONTRIB_VERSION: Record<string, number> = { [CONTRIB_DOMAIN]: 1 };

export interface EmittedModel {
  bytes: Uint8Array;
  /** Declared graph inputs that the outputs depend on and that are fed at run time, in declaration order. */
  inputs: Tensor[];
  /**
   * With `external`: the bytes of the data file the model's constants point into (ONNX external data, `location` =
   * EXTERNAL_DATA_FILE, relative to the model file), in file order; offsets are 64-byte aligned.
   */
  externalData?: Uint8Array[];
  outputs: { name: string; tensor: Tensor }[];
  /** ONNX node name -> the graph tensor whose emission wrote it (for error messages). */
  origins: Map<string, Tensor>;
}

/** Tensors needed to compute `outputs`, in creation (= topological) order. */
export function neededTensors(outputs: readonly Tensor[]): Tensor[] {
  const seen = new Set<number>();
  const stack = [...outputs];
  const found: Tensor[] = [];
  while (stack.length) {
    const t = stack.pop()!;
    if (seen.has(t.id)) continue;
    seen.add(t.id);
    found.push(t);
    stack.push(...t.inputs);
    if (t.op.deps) stack.push(...t.op.deps(t));
  }
  return found.sort((a, b) => a.id - b.id);
}

function rawBytes(a: AnyTypedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();
}

function valueInfo(name: string, dtype: DType, shape: readonly Dim[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ONNX_TYPE[dtype],
        shape: {
          dim: shape.map((d) =>
            typeof d === "number" ? { dimValue: d } : /^[A-Za-z_]\w*$/.test(d) ? { dimParam: d } : {},
          ),
        },
      },
    },
  });
}

function attribute(name: string, v: AttrValue) {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === "number") return onnx.AttributeProto.create({ name, type: T.INT, i: v });
  if (typeof v === "string") return onnx.AttributeProto.create({ name, type: T.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: T.INTS, ints: v });
  return onnx.AttributeProto.create({ name, type: T.FLOAT, f: v.float });
}

class OnnxEmitter implements Emitter {
  readonly nodes: ReturnType<typeof onnx.NodeProto.create>[] = [];
  readonly initializers: ReturnType<typeof onnx.TensorProto.create>[] = [];
  /** The tensor being emitted (nodes written now are attributed to it). */
  current: Tensor | undefined;
  readonly origins = new Map<string, Tensor>();
  /** Operator sets other than the standard one that emitted nodes use. */
  readonly domains = new Set<string>();
  private counter = 0;
  private readonly constCache = new Map<string, string>();
  private readonly dimCache = new Map<string, string>();
  private readonly shapeOfCache = new Map<number, string>();

  constructor(private readonly graph: Graph) {}

  name(t: Tensor): string {
    return t.op.type === "Input" ? (t.attrs as { name: string }).name : `_t${t.id}`;
  }

  fresh(hint: string): string {
    return `_${hint}${this.counter++}`;
  }

  node(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, domain?: string): string {
    if (this.current) this.origins.set(`${opType}_${this.nodes.length}`, this.current);
    if (domain) this.domains.add(domain);
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        ...(domain ? { domain } : {}),
        input: inputs,
        output: outputs,
        name: `${opType}_${this.nodes.length}`,
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return outputs[0]!;
  }

  op(opType: string, inputs: string[], attrs?: Record<string, AttrValue>): string {
    return this.node(opType, inputs, [this.fresh(opType.toLowerCase())], attrs);
  }

  initializer(name: string, dtype: DType, dims: number[], data: AnyTypedArray): void {
    this.initializers.push(onnx.TensorProto.create({ name, dataType: ONNX_TYPE[dtype], dims, rawData: rawBytes(data) }));
  }

  /** An initializer whose bytes lie at `offset` in the file `location` next to the model. */
  externalInitializer(name: string, dtype: DType, dims: number[], location: string, offset: number, length: number): void {
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: ONNX_TYPE[dtype],
        dims,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: location },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(length) },
        ],
      }),
    );
  }

  private cachedConst(key: string, make: (name: string) => void): string {
    let name = this.constCache.get(key);
    if (!name) {
      name = this.fresh("c");
      make(name);
      this.constCache.set(key, name);
    }
    return name;
  }

  int64s(values: readonly number[]): string {
    return this.cachedConst(`i64[${values.join(",")}]`, (n) =>
      this.initializer(n, "int64", [values.length], BigInt64Array.from(values.map((v) => BigInt(v)))),
    );
  }

  scalar(value: number, dtype: DType): string {
    return this.cachedConst(`${dtype}:${value}`, (n) => {
      const data =
        dtype === "float32" ? Float32Array.of(value)
        : dtype === "float64" ? Float64Array.of(value)
        : dtype === "int64" ? BigInt64Array.of(BigInt(value))
        : dtype === "int32" ? Int32Array.of(value)
        : Uint8Array.of(value ? 1 : 0);
      this.initializer(n, dtype, [], data);
    });
  }

  dim(d: Dim): string {
    if (typeof d === "number") return this.int64s([d]);
    const cached = this.dimCache.get(d);
    if (cached) return cached;
    const value = this.computeDim(d);
    this.dimCache.set(d, value);
    return value;
  }

  private computeDim(d: string): string {
    const plan = this.graph.dimPlan(d);
    if (!plan) throw new GraphError(`symbolic dim "${d}" is not the size of any tensor in this graph`);
    if ("source" in plan) {
      const src = plan.source;
      let shapeOf = this.shapeOfCache.get(src.tensor.id);
      if (!shapeOf) {
        shapeOf = this.op("Shape", [this.name(src.tensor)]);
        this.shapeOfCache.set(src.tensor.id, shapeOf);
      }
      return this.op("Gather", [shapeOf, this.int64s([src.axis])]);
    }
    // A polynomial of named dims: sum of coefficient * product of names.
    let sum: string | undefined;
    for (const [key, coeff] of parseDim(d)) {
      const names = key.split("*").filter(Boolean);
      if (names.length === 1 && !this.graph.dimSources.has(names[0]!)) {
        throw new GraphError(`symbolic dim "${names[0]}" is not the size of any tensor in this graph`);
      }
      let term = names.length ? names.slice(1).reduce((acc, n) => this.op("Mul", [acc, this.dim(n)]), this.dim(names[0]!)) : undefined;
      if (term === undefined) term = this.int64s([coeff]);
      else if (coeff !== 1) term = this.op("Mul", [term, this.int64s([coeff])]);
      sum = sum === undefined ? term : this.op("Add", [sum, term]);
    }
    return sum ?? this.int64s([0]);
  }

  shape(dims: readonly Dim[]): string {
    if (dims.every((d) => typeof d === "number")) return this.int64s(dims as number[]);
    return this.op("Concat", dims.map((d) => this.dim(d)), { axis: 0 });
  }
}

/** File name (next to the model file) of the external data written for `EmitOptions.external`. */
export const EXTERNAL_DATA_FILE = "constants.bin";

export interface EmitOptions {
  modelName?: string;
  /**
   * Values for graph inputs that become constants of the model (ONNX initializers) instead of run-time inputs, e.g.
   * frozen weights: ONNX Runtime then keeps them in its own memory, pre-packs matrices and skips per-run binding.
   */
  constants?: ReadonlyMap<string, AnyTypedArray>;
  /** Store the constants as ONNX external data (needed above protobuf's 2 GiB limit); see `externalData`. */
  external?: boolean;
}

const EXTERNAL_ALIGN = 64;

/** Emit the subgraph computing `outputs` (name -> tensor) as a serialized ONNX model. */
export function emitOnnx(graph: Graph, outputs: Record<string, Tensor>, options: EmitOptions = {}): EmittedModel {
  const constants = options.constants ?? new Map<string, AnyTypedArray>();
  const outs = Object.entries(outputs).map(([name, tensor]) => ({ name, tensor }));
  if (outs.length === 0) throw new GraphError("emit: no outputs requested");
  for (const { name, tensor } of outs) {
    if (!(tensor instanceof Tensor)) {
      throw new GraphError(`emit: output "${name}" is not a graph tensor (got ${tensor === null ? "null" : typeof tensor})`);
    }
    if (tensor.graph !== graph) throw new GraphError(`emit: output "${name}" (${tensor}) belongs to another graph`);
    if (graph.inputs.has(name)) throw new GraphError(`emit: output name "${name}" is also an input name`);
    if (name.startsWith("_")) throw new GraphError(`emit: output name "${name}" must not start with "_"`);
  }
  const e = new OnnxEmitter(graph);
  const needed = neededTensors(outs.map((o) => o.tensor));
  const inputs: Tensor[] = [];
  const externalData: Uint8Array[] = [];
  let externalBytes = 0;
  for (const t of needed) {
    const value = t.op.type === "Input" ? constants.get(t.inputName!) : undefined;
    if (t.op.type === "Input" && value === undefined) inputs.push(t);
    else if (value !== undefined) {
      checkConstant(t, value);
      const name = e.name(t);
      if (options.external) {
        const pad = (EXTERNAL_ALIGN - (externalBytes % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
        if (pad) externalData.push(new Uint8Array(pad));
        const offset = externalBytes + pad;
        externalData.push(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        externalBytes = offset + value.byteLength;
        e.externalInitializer(name, t.dtype, t.shape as number[], EXTERNAL_DATA_FILE, offset, value.byteLength);
      } else {
        e.initializer(name, t.dtype, t.shape as number[], value);
      }
    } else if (t.op.type === "Constant") {
      e.initializer(e.name(t), t.dtype, t.shape as number[], (t.attrs as { value: AnyTypedArray }).value);
    } else {
      e.current = t;
      t.op.emit(e, t);
      e.current = undefined;
    }
  }
  for (const { name, tensor } of outs) e.node("Identity", [e.name(tensor)], [name]);
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "flythinker",
    opsetImport: [{ domain: "", version: OPSET }, ...[...e.domains].map((domain) => ({ domain, version: CONTRIB_VERSION[domain] ?? 1 }))],
    graph: {
      name: options.modelName ?? "flythinker",
      node: e.nodes,
      initializer: e.initializers,
      input: inputs.map((t) => valueInfo(e.name(t), t.dtype, t.shape)),
      output: outs.map(({ name, tensor }) => valueInfo(name, tensor.dtype, tensor.shape)),
    },
  });
  return {
    bytes: onnx.ModelProto.encode(model).finish(),
    inputs,
    ...(options.external ? { externalData } : {}),
    outputs: outs,
    origins: e.origins,
  };
}

function checkConstant(input: Tensor, value: AnyTypedArray): void {
  const name = input.inputName!;
  const shape = input.shape;
  if (!shape.every((d) => typeof d === "number")) {
    throw new GraphError(`emit: constant "${name}" needs a static shape, the input has [${shape.join(", ")}]`);
  }
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  const expected = ARRAY_OF[input.dtype];
  if (!ArrayBuffer.isView(value) || value.constructor.name !== expected || value.length !== size) {
    throw new GraphError(
      `emit: constant "${name}" must be a ${expected} of ${size} values (${input.dtype}[${shape.join(", ")}]), ` +
        `got ${ArrayBuffer.isView(value) ? `a ${value.constructor.name} of ${value.length}` : typeof value}`,
    );
  }
}
