// Compiled graphs: ONNX Runtime sessions built once per emitted model and options, with checked inputs/outputs.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { type Graph, type Tensor, GraphError } from "../graph/graph.ts";
import { emitOnnx, EXTERNAL_DATA_FILE, type EmittedModel } from "../graph/onnx.ts";
import { type AnyTypedArray, type DType, ARRAY_OF } from "../graph/dtype.ts";
import type { Dim } from "../graph/dims.ts";
import { UserError } from "../util/errors.ts";

export interface CompileOptions {
  /** Intra-op threads; default: all cores. */
  threads?: number;
  /** ORT graph optimisation level; default "all" for float32 graphs, "basic" when any tensor is float64. */
  optimization?: "disabled" | "basic" | "extended" | "all";
  /** Execution providers in order of preference; default ["cpu"]. */
  providers?: string[];
  /**
   * Graph inputs to fix at compile time (e.g. frozen weights), by input name: they become constants of the session
   * and are not fed to `run`. ONNX Runtime copies them, so later changes to these arrays have no effect.
   */
  constants?: ReadonlyMap<string, AnyTypedArray>;
  /**
   * Above this many bytes of constants the model is written with ONNX external data to a temporary folder and loaded
   * from there (protobuf cannot hold 2 GiB); default 1 GiB.
   */
  externalDataAbove?: number;
  /**
   * ONNX Runtime's CPU memory arena; default on. Off, every tensor is allocated from and returned to the system
   * allocator: resident memory falls back after each run, but large tensors are page-faulted afresh every run, which
   * made a training step 1.6-2x slower.
   */
  memArena?: boolean;
  /**
   * ONNX Runtime's memory patterns (one planned block per set of input shapes, cached per shape); default off. With
   * batches of changing shapes every new shape gets its own block from the arena, which then holds them all: over
   * 100 training steps of changing shapes resident memory grew 57-62% above the first step's with patterns, 30% without
   * (and levelled off), at the same step time, also for a fixed shape.
   */
  memPattern?: boolean;
}

/** Where graphs run: ONNX Runtime's CPU provider, or its WebGPU provider (Vulkan on Linux) with the CPU for the rest. */
export type Device = "cpu" | "webgpu";
export const DEVICES: readonly Device[] = ["cpu", "webgpu"];

/**
 * The execution providers of a device. WebGPU lists the CPU after it, so ONNX Runtime places every node the WebGPU
 * provider has no kernel for on the CPU (a fallback per node).
 */
export function deviceProviders(device: Device): string[] {
  return device === "webgpu" ? ["webgpu", "cpu"] : ["cpu"];
}

/** The line of an ONNX Runtime message that says what failed (its first lines are a source location). */
function reason(message: string): string {
  const lines = message.split("\n").map((l) => l.trim()).filter(Boolean);
  const said = lines.find((l) => /adapter/i.test(l)) ?? lines[lines.length - 1] ?? message;
  return said.replace(/^.*?(Failed to get)/, "$1");
}

/** A session that could not be created because its provider found no device: a UserError saying what to do. */
function providerError(err: unknown, providers: readonly unknown[]): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (providers.includes("webgpu") && /webgpu|adapter/i.test(message)) {
    return new UserError(
      `the WebGPU provider found no GPU adapter (ONNX Runtime: ${reason(message)}). ` +
        "It needs a Vulkan driver on Linux (libvulkan1 and a GPU's driver, or the software SwiftShader driver that Debian's " +
        "chromium package ships: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json); install one or use --device cpu",
    );
  }
  return err;
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

/**
 * Sessions are shared by compiled graphs with the same model, constants and options, and counted: the native session
 * is released when the last graph using it is. Released sessions holding constants stay around for reuse while their
 * constants add up to at most IDLE_CONSTANT_BYTES (oldest released first).
 */
interface SessionEntry {
  key: string;
  session: Promise<ort.InferenceSession>;
  users: number;
  constantBytes: number;
}

const sessions = new Map<string, SessionEntry>();
const idle: SessionEntry[] = [];
const IDLE_CONSTANT_BYTES = 2 ** 30;
const DEFAULT_EXTERNAL_ABOVE = 2 ** 30;

/** A stable id per typed array (by identity), so cache keys need not hash constant data. */
const arrayIds = new WeakMap<object, number>();
let nextArrayId = 0;
function arrayId(a: AnyTypedArray): number {
  let id = arrayIds.get(a);
  if (id === undefined) arrayIds.set(a, (id = nextArrayId++));
  return id;
}

function acquire(key: string, constantBytes: number, create: () => Promise<ort.InferenceSession>): SessionEntry {
  let entry = sessions.get(key);
  if (!entry) {
    const session = create();
    entry = { key, session, users: 0, constantBytes };
    sessions.set(key, entry);
    const created = entry;
    session.catch(() => {
      if (sessions.get(key) === created) sessions.delete(key);
    });
  }
  const i = idle.indexOf(entry);
  if (i >= 0) idle.splice(i, 1);
  entry.users++;
  return entry;
}

async function releaseEntry(entry: SessionEntry): Promise<void> {
  if (entry.users <= 0) return;
  entry.users--;
  if (entry.users > 0) return;
  const dispose: SessionEntry[] = [];
  if (entry.constantBytes > 0 && entry.constantBytes <= IDLE_CONSTANT_BYTES) {
    idle.push(entry);
    let held = idle.reduce((n, e) => n + e.constantBytes, 0);
    while (held > IDLE_CONSTANT_BYTES) {
      const old = idle.shift()!;
      held -= old.constantBytes;
      dispose.push(old);
    }
  } else {
    dispose.push(entry);
  }
  for (const e of dispose) await disposeEntry(e);
}

async function disposeEntry(entry: SessionEntry): Promise<void> {
  if (sessions.get(entry.key) === entry) sessions.delete(entry.key);
  await (await entry.session).release();
}

/** Frees the sessions kept for reuse after their last graph was released (their memory returns at once). */
export async function releaseIdleSessions(): Promise<void> {
  for (const e of idle.splice(0)) await disposeEntry(e);
}

/** Creates a session for an emitted model whose constants are external data: written to a temporary folder, loaded. */
async function sessionFromExternal(model: EmittedModel, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  const dir = mkdtempSync(join(tmpdir(), "flythinker-onnx-"));
  try {
    const path = join(dir, "model.onnx");
    writeFileSync(path, model.bytes);
    const fd = openSync(join(dir, EXTERNAL_DATA_FILE), "w");
    try {
      for (const chunk of model.externalData ?? []) writeSync(fd, chunk);
    } finally {
      closeSync(fd);
    }
    return await ort.InferenceSession.create(path, options);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function defaultThreads(): number {
  return availableParallelism();
}

export class CompiledGraph<O extends string = string> {
  private released = false;

  private constructor(
    private readonly entry: SessionEntry,
    private readonly session: ort.InferenceSession,
    /** Inputs the outputs depend on (must be fed). */
    readonly inputs: readonly Tensor[],
    /** Every declared input of the graph (feeding an unused one is allowed and ignored). */
    private readonly declared: ReadonlyMap<string, Tensor>,
    readonly outputNames: readonly O[],
    readonly modelBytes: number,
    private readonly origins: ReadonlyMap<string, Tensor>,
    private readonly constants: ReadonlySet<string>,
  ) {}

  static async create<O extends string>(
    graph: Graph,
    outputs: Record<O, Tensor>,
    options: CompileOptions = {},
  ): Promise<CompiledGraph<O>> {
    const constants = options.constants ?? new Map<string, AnyTypedArray>();
    for (const name of constants.keys()) {
      if (!graph.inputs.has(name)) throw new GraphError(`compile: constant "${name}" is not an input of the graph`);
    }
    const constantBytes = [...constants.values()].reduce((n, a) => n + a.byteLength, 0);
    // With constants, the key model holds them as external data (views, no copies) and they are keyed by identity.
    const model = emitOnnx(graph, outputs, { constants, external: constants.size > 0 });
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
      enableCpuMemArena: options.memArena ?? true,
      enableMemPattern: options.memPattern ?? false,
    };
    const constantIds = [...constants].map(([name, a]) => `${name}:${arrayId(a)}`).join(",");
    const key = createHash("sha256").update(model.bytes).update(JSON.stringify(sessionOptions)).update(constantIds).digest("hex");
    const entry = acquire(key, constantBytes, () => {
      if (constants.size === 0) return ort.InferenceSession.create(model.bytes, sessionOptions);
      if (constantBytes > (options.externalDataAbove ?? DEFAULT_EXTERNAL_ABOVE)) return sessionFromExternal(model, sessionOptions);
      return ort.InferenceSession.create(emitOnnx(graph, outputs, { constants }).bytes, sessionOptions);
    });
    let session: ort.InferenceSession;
    try {
      session = await entry.session;
    } catch (err) {
      entry.users--;
      throw providerError(err, sessionOptions.executionProviders ?? []);
    }
    return new CompiledGraph(entry, session, model.inputs, graph.inputs, Object.keys(outputs) as O[], model.bytes.length, model.origins, new Set(constants.keys()));
  }

  /** Run with the given feeds; checks names, dtypes and shapes before ONNX Runtime sees them. */
  async run(feeds: Record<string, Feed>): Promise<Record<O, Output>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    const bound = new Map<string, { value: number; input: string }>();
    if (feeds === null || typeof feeds !== "object") throw new InputError(`run: feeds must be an object, got ${describe(feeds)}`);
    if (this.released) throw new InputError("run: this compiled graph was released");
    for (const name of Object.keys(feeds)) {
      if (this.constants.has(name)) throw new InputError(`input "${name}" is a constant of this compiled graph; do not feed it`);
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

  /** Release the native session (shared by graphs that compiled identical models: freed when the last lets go). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await releaseEntry(this.entry);
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
    throw new InputError(`input "${name}": expected a ${ARRAY_OF[input.dtype]} or {data, dims} (${expected}), got ${describe(feed)}`);
  }
  const got = feedDType(data);
  if (got !== input.dtype && !(input.dtype === "uint8" && got === "bool")) {
    throw new InputError(`input "${name}": expected ${input.dtype} data (${ARRAY_OF[input.dtype]}) for ${expected}, got ${describe(data)}`);
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
