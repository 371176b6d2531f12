// Compiled graphs: ONNX Runtime sessions built once per emitted model and options, with checked inputs/outputs.
import { createHash } from "node:crypto";
import { availableParallelism } from "node:os";
import ort from "onnxruntime-node";
import { type Graph, type Tensor, GraphError } from "../graph/graph.ts";
import { emitOnnx } from "../graph/onnx.ts";
import { type AnyTypedArray, type DType, typedArrayDType } from "../graph/dtype.ts";
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

export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

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
    return new CompiledGraph(session, model.inputs, graph.inputs, Object.keys(outputs) as O[], model.bytes.length);
  }

  /** Run with the given feeds; checks names, dtypes and shapes before ONNX Runtime sees them. */
  async run(feeds: Record<string, Feed>): Promise<Record<O, Output>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    const bound = new Map<string, number>();
    for (const name of Object.keys(feeds)) {
      if (!this.declared.has(name)) {
        throw new InputError(`unknown input "${name}"; the graph's inputs are: ${[...this.declared.keys()].join(", ")}`);
      }
    }
    for (const t of this.inputs) {
      const name = (t.attrs as { name: string }).name;
      const feed = feeds[name];
      if (feed === undefined) throw new InputError(`missing input "${name}" (${t.dtype}[${t.shape.join(", ")}])`);
      const { data, dims } = normaliseFeed(name, t, feed, bound);
      ortFeeds[name] = new ort.Tensor(t.dtype as DType, data as never, dims);
    }
    const results = await this.session.run(ortFeeds);
    const out = {} as Record<O, Output>;
    for (const name of this.outputNames) {
      const r = results[name] as ort.Tensor;
      out[name] = { data: r.data as AnyTypedArray, dims: r.dims.map(Number) };
    }
    return out;
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
  bound: Map<string, number>,
): { data: AnyTypedArray; dims: number[] } {
  const data = ArrayBuffer.isView(feed) ? feed : feed.data;
  const got = typedArrayDType(data);
  if (got !== input.dtype) {
    throw new InputError(`input "${name}": expected ${input.dtype} data, got ${data.constructor.name} (${got})`);
  }
  let dims: number[];
  if (ArrayBuffer.isView(feed)) {
    dims = inferDims(name, input.shape, data.length, bound);
  } else {
    dims = [...feed.dims];
    if (dims.length !== input.shape.length) {
      throw new InputError(`input "${name}": expected rank ${input.shape.length} [${input.shape.join(", ")}], got dims [${dims.join(", ")}]`);
    }
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) {
    throw new InputError(`input "${name}": dims [${dims.join(", ")}] need ${size} values, got ${data.length}`);
  }
  input.shape.forEach((d, i) => checkDim(name, input.shape, d, dims[i]!, bound));
  return { data, dims };
}

function checkDim(name: string, shape: readonly Dim[], d: Dim, actual: number, bound: Map<string, number>): void {
  if (typeof d === "number") {
    if (d !== actual) throw new InputError(`input "${name}": expected shape [${shape.join(", ")}], got size ${actual} where ${d} is required`);
    return;
  }
  if (!/^[A-Za-z_]\w*$/.test(d)) return;
  const prev = bound.get(d);
  if (prev === undefined) bound.set(d, actual);
  else if (prev !== actual) {
    throw new InputError(`input "${name}": dim "${d}" is ${actual} here but ${prev} in an earlier input`);
  }
}

function inferDims(name: string, shape: readonly Dim[], length: number, bound: Map<string, number>): number[] {
  let known = 1;
  let free = -1;
  const dims = shape.map((d, i) => {
    const v = typeof d === "number" ? d : bound.get(d);
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
export function compile<O extends string>(
  graph: Graph,
  outputs: Record<O, Tensor>,
  options?: CompileOptions,
): Promise<CompiledGraph<O>> {
  if (Object.keys(outputs).length === 0) throw new GraphError("compile: no outputs requested");
  return CompiledGraph.create(graph, outputs, options);
}
