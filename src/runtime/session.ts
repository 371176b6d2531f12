// Compiled graphs: ONNX Runtime sessions built once per emitted model and options, with checked inputs/outputs.
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import ort from "onnxruntime-node";
import { type Graph, type Tensor, GraphError } from "../graph/graph.ts";
import { emitOnnx } from "../graph/onnx.ts";
import { type AnyTypedArray, type DType } from "../graph/dtype.ts";
import type { Dim } from "../graph/dims.ts";

export interface CompileOptions {
  /** Intra-op threads; default: all cores. */
  threads?: number;
  /** ORT graph optimisation level; default "all" for float32 graphs, "basic" when any tensor is float64. */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /** Execution providers in order of preference; default ["cpu"]. */
  providers?: string[];
}

/** A typed array with its dims; a bare typed array is accepted when the input's shape can be inferred. */
export type Feed = AnyTypedArray | { data: AnyTypedArray; dims: readonly number[] };

export interface Output {
  data: AnyTypedArray;
  dims: number[];
}

/** A feed that does not match the graph's inputs (name, dtype, shape); raised before ONNX Runtime is called. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** ONNX Runtime failed while running a graph (e.g. an index out of range); names the graph tensor being computed. */
export class RunError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RunError";
  }
}

const ARRAY_FOR: Record<DType, string> = {
  float32: "Float32Array",
  float64: "Float64Array",
  int64: "BigInt64Array",
  int32: "Int32Array",
  bool: "Uint8Array",
};

/** The dtype a typed array feeds, or undefined for any other value. */
function feedDType(a: unknown): DType | undefined {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof Uint8Array) return "bool";
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `a plain array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === "object") return "an object without typed-array `data`";
  return typeof v;
}

const shapeStr = (shape: readonly Dim[]) => `[${shape.join(", ")}]`;

const sessionCache = new Map<string, Promise<ort.InferenceSession>>();

export function defaultThreads(): number {
  return availableParallelism();
}

export class CompiledGraph<O extends string = string> {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** Inputs the outputs depend on (must be fed). */
    readonly inputs: readonly Tensor[],
    /** Every declared input of the graph (feeding an unused one is allowed and ignored). */
    private readonly declared: ReadonlyMap<string, Tensor>,
    readonly outputNames: readonly O[],
    readonly modelBytes: number,
    private readonly origins: ReadonlyMap<string, Tensor>,
  ) {}

  static async create<O extends string>(
    graph: Graph,
    outputs: Record<O, Tensor>,
    options: CompileOptions = {},
  ): Promise<CompiledGraph<O>> {
    const model = emitOnnx(graph, outputs);
    const hasF64 = model.inputs.some((t) => t.dtype === "float64") ||
      Object.values<Tensor>(outputs).some((t) => t.dtype === "float64") ||
      graph.tensors.some((t) => t.dtype === "float64");
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: options.threads ?? defaultThreads(),
      interOpNumThreads: 1,
      executionMode: "sequential",
      graphOptimizationLevel: options.optimization ?? (hasF64 ? "basic" : "all"),
      executionProviders: options.providers ?? ["cpu"],
      logSeverityLevel: 3,
    };
    const key = createHash("sha256").update(model.bytes).update(JSON.stringify(sessionOptions)).digest("hex");
    let pending = sessionCache.get(key);
    if (!pending) {
      pending = ort.InferenceSession.create(model.bytes, sessionOptions);
      sessionCache.set(key, pending);
      pending.catch(() => sessionCache.delete(key));
    }
    const session = await pending;
    return new CompiledGraph(session, model.inputs, graph.inputs, Object.keys(outputs) as O[], model.bytes.length, model.origins);
  }

  /** Run with the given feeds; checks names, dtypes and shapes before ONNX Runtime sees them. */
  async run(feeds: Record<string, Feed>): Promise<Record<O, Output>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    const bound = new Map<string, { value: number; input: string }>();
    if (feeds === null || typeof feeds !== "object") throw new InputError(`run: feeds must be an object, got ${describe(feeds)}`);
    for (const name of Object.keys(feeds)) {
      if (!this.declared.has(name)) {
        throw new InputError(`unknown input "${name}"; the graph's inputs are: ${[...this.declared.keys()].join(", ")}`);
      }
    }
    for (const t of this.inputs) {
      const name = t.inputName!;
      const feed = feeds[name];
      if (feed === undefined) throw new InputError(`missing input "${name}" (${t.dtype}${shapeStr(t.shape)})`);
      const { data, dims } = normaliseFeed(name, t, feed, bound);
      ortFeeds[name] = new ort.Tensor(t.dtype as DType, data as never, dims);
    }
    let results: ort.InferenceSession.ReturnType;
    try {
      // ORT's own log line would duplicate the error thrown below.
      results = await this.session.run(ortFeeds, { logSeverityLevel: 4 });
    } catch (err) {
      throw this.runFailure(err);
    }
    const out = {} as Record<O, Output>;
    for (const name of this.outputNames) {
      const r = results[name] as ort.Tensor;
      out[name] = { data: r.data as AnyTypedArray, dims: r.dims.map(Number) };
    }
    return out;
  }

  private runFailure(err: unknown): RunError {
    const message = err instanceof Error ? err.message : String(err);
    const node = /Name:'([^']+)'/.exec(message)?.[1];
    const tensor = node === undefined ? undefined : this.origins.get(node);
    const where = tensor ? ` while computing ${tensor} (ONNX node ${node})` : "";
    return new RunError(`ONNX Runtime failed${where}: ${message}`, { cause: err });
  }

  /** Release the native session (it is shared by graphs that emitted identical models). */
  async release(): Promise<void> {
    for (const [key, p] of sessionCache) {
      if ((await p) === this.session) sessionCache.delete(key);
    }
    await this.session.release();
  }
}

function normaliseFeed(
  name: string,
  input: Tensor,
  feed: Feed,
  bound: Map<string, { value: number; input: string }>,
): { data: AnyTypedArray; dims: number[] } {
  const expected = `${input.dtype}${shapeStr(input.shape)}`;
  let data: unknown;
  let given: unknown;
  if (ArrayBuffer.isView(feed)) data = feed;
  else if (feed !== null && typeof feed === "object" && "data" in feed) {
    data = feed.data;
    given = feed.dims;
  } else {
    throw new InputError(`input "${name}": expected a ${ARRAY_FOR[input.dtype]} or {data, dims} (${expected}), got ${describe(feed)}`);
  }
  const got = feedDType(data);
  if (got !== input.dtype) {
    throw new InputError(`input "${name}": expected ${input.dtype} data (${ARRAY_FOR[input.dtype]}) for ${expected}, got ${describe(data)}`);
  }
  const array = data as AnyTypedArray;
  let dims: number[];
  if (given === undefined) {
    dims = inferDims(name, input.shape, array.length, bound);
  } else {
    if (!Array.isArray(given) || !given.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new InputError(`input "${name}": dims must be an array of non-negative integers, got ${JSON.stringify(given)}`);
    }
    dims = [...(given as number[])];
    if (dims.length !== input.shape.length) {
      throw new InputError(`input "${name}": expected rank ${input.shape.length} ${shapeStr(input.shape)}, got dims ${shapeStr(dims)}`);
    }
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== array.length) {
    throw new InputError(
      given === undefined
        ? `input "${name}": ${array.length} values do not fill shape ${shapeStr(dims)} (${size} values; ${expected})`
        : `input "${name}": dims ${shapeStr(dims)} need ${size} values, got ${array.length}`,
    );
  }
  input.shape.forEach((d, i) => checkDim(name, input.shape, dims, i, bound));
  return { data: array, dims };
}

function checkDim(
  name: string,
  shape: readonly Dim[],
  dims: readonly number[],
  axis: number,
  bound: Map<string, { value: number; input: string }>,
): void {
  const d = shape[axis]!;
  const actual = dims[axis]!;
  if (typeof d === "number") {
    if (d !== actual) {
      throw new InputError(`input "${name}": expected shape ${shapeStr(shape)}, got dims ${shapeStr(dims)} (axis ${axis} is ${actual}, expected ${d})`);
    }
    return;
  }
  if (!/^[A-Za-z_]\w*$/.test(d)) return;
  const prev = bound.get(d);
  if (prev === undefined) bound.set(d, { value: actual, input: name });
  else if (prev.value !== actual) {
    const other = prev.input === name ? "another axis of this input" : `input "${prev.input}"`;
    throw new InputError(
      `input "${name}": dim "${d}" (axis ${axis} of ${shapeStr(shape)}) is ${actual} here but ${prev.value} in ${other}`,
    );
  }
}

function inferDims(
  name: string,
  shape: readonly Dim[],
  length: number,
  bound: Map<string, { value: number; input: string }>,
): number[] {
  let known = 1;
  let free = -1;
  const dims = shape.map((d, i) => {
    const v = typeof d === "number" ? d : bound.get(d)?.value;
    if (v === undefined) {
      if (free >= 0) throw new InputError(`input "${name}" has several unknown dims [${shape.join(", ")}]; pass {data, dims}`);
      free = i;
      return 0;
    }
    known *= v;
    return v;
  });
  if (free >= 0) {
    if (known === 0 || length % known !== 0) {
      throw new InputError(`input "${name}": ${length} values do not fit shape [${shape.join(", ")}]`);
    }
    dims[free] = length / known;
  }
  return dims;
}

/** Compile the part of `graph` that computes `outputs`. */
export async function compile<O extends string>(
  graph: Graph,
  outputs: Record<O, Tensor>,
  options?: CompileOptions,
): Promise<CompiledGraph<O>> {
  if (Object.keys(outputs).length === 0) throw new GraphError("compile: no outputs requested");
  return CompiledGraph.create(graph, outputs, options);
}
