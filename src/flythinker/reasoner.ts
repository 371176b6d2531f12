// The Reasoner side of decoding, in the same thread (sequential mode) or in a worker thread (parallel mode).
// Either way it is a KV-cache Decoder that returns the final-norm hidden state (the thought) of every fed position.
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { Decoder } from "../model/decode.ts";
import type { ModelTensors, QuantScheme } from "../model/quantize.ts";
import type { ModelConfig } from "../model/config.ts";
import {
  CTRL,
  CTRL_SLOTS,
  KIND,
  SPIN_MS,
  allocateBuffers,
  spinWhile,
  writeList,
  writePrompts,
  type PortMessage,
  type ReasonerBuffers,
} from "./reasoner-protocol.ts";
import { PROJECTION_NAME, thoughtVector, type FusionOptions } from "./fusion.ts";

export interface ReasonerSpec {
  config: ModelConfig;
  /** float32 weights, or block-quantized ones with `quantization`. */
  weights: ModelTensors;
  threads: number;
  quantization?: QuantScheme;
  /** ONNX Runtime execution providers (default ["cpu"]). */
  providers?: string[];
  /**
   * With these, the Reasoner returns each position's thought vector (what fusion adds to the Generator's embedding,
   * [d_G]) instead of the raw thought [d_R]: the fusion arithmetic runs on the Reasoner's side, off the Generator's
   * critical path.
   */
  fusion?: { options: FusionOptions; generatorHidden: number; scale: number; projection?: Float32Array };
}

/** Values per position that a Reasoner built from `spec` returns. */
export function reasonerWidth(spec: ReasonerSpec): number {
  return spec.fusion ? spec.fusion.generatorHidden : spec.config.hiddenSize;
}

/** A batch of sequences on the Reasoner side; each call covers the rows still in the batch, in order. */
export interface ReasonerHandle {
  /** Starts a batch: per row, the thought (or thought vector) of every prompt position, [length * width]. */
  prefill(rows: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Adds rows after the batch's rows (or starts a batch): per new row, the thought of every prompt position. */
  addRows(rows: readonly (readonly number[])[]): Promise<Float32Array[]>;
  /** Feeds one token per row; the thoughts come from `thought()`. A worker starts on them at once. */
  begin(ids: readonly number[]): void;
  /** The thoughts [rows * width] (row after row) of the tokens given to `begin`. */
  thought(): Promise<Float32Array>;
  /** Keeps only these rows (indices into the current batch, in the new order). */
  keepRows(rows: readonly number[]): Promise<void>;
  close(): Promise<void>;
}

export function reasonerDecoder(spec: ReasonerSpec): Promise<Decoder> {
  const compile = { threads: spec.threads, ...(spec.providers ? { providers: spec.providers } : {}) };
  const fusion = spec.fusion;
  const quantization = spec.quantization ? { quantization: spec.quantization } : {};
  if (!fusion) return Decoder.create(spec.config, spec.weights, { logits: "none", hidden: "all", compile, ...quantization });
  const weights = new Map(spec.weights);
  if (fusion.projection) weights.set(PROJECTION_NAME, fusion.projection);
  return Decoder.create(spec.config, weights, {
    logits: "none",
    hidden: "all",
    compile,
    ...quantization,
    hiddenHook: (hidden) => {
      const g = hidden.graph;
      const projection = fusion.options.fuse === "projection"
        ? g.input(PROJECTION_NAME, "float32", [fusion.generatorHidden, spec.config.hiddenSize])
        : undefined;
      return thoughtVector(hidden, g.scalar(fusion.scale), fusion.options, fusion.generatorHidden, projection);
    },
  });
}

/** The Reasoner's decoder with the batch operations both handles share (the worker runs one of these). */
export class ReasonerCore {
  private constructor(private readonly decoder: Decoder) {}

  static async create(spec: ReasonerSpec): Promise<ReasonerCore> {
    return new ReasonerCore(await reasonerDecoder(spec));
  }

  async prefill(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return (await this.decoder.prefill(rows)).hidden;
  }

  async addRows(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return (await this.decoder.addRows(rows)).hidden;
  }

  async step(ids: readonly number[]): Promise<Float32Array> {
    const out = (await this.decoder.step(ids)).hidden;
    if (out.length === 1) return out[0]!;
    const width = out[0]!.length;
    const all = new Float32Array(out.length * width);
    out.forEach((t, r) => all.set(t, r * width));
    return all;
  }

  keepRows(rows: readonly number[]): void {
    this.decoder.keepRows(rows);
  }

  release(): Promise<void> {
    return this.decoder.release();
  }
}

export class LocalReasoner implements ReasonerHandle {
  private tokens: readonly number[] | undefined;

  private constructor(private readonly core: ReasonerCore) {}

  static async create(spec: ReasonerSpec): Promise<LocalReasoner> {
    return new LocalReasoner(await ReasonerCore.create(spec));
  }

  prefill(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return this.core.prefill(rows);
  }

  addRows(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return this.core.addRows(rows);
  }

  begin(ids: readonly number[]): void {
    this.tokens = [...ids];
  }

  async thought(): Promise<Float32Array> {
    if (this.tokens === undefined) throw new Error("Reasoner: thought() without begin()");
    const ids = this.tokens;
    this.tokens = undefined;
    return this.core.step(ids);
  }

  async keepRows(rows: readonly number[]): Promise<void> {
    this.core.keepRows(rows);
  }

  async close(): Promise<void> {
    await this.core.release();
  }
}

/** How long the main thread blocks on the worker before it lets its event loop run (to notice a dead worker). */
const WAIT_SLICE_MS = 20;

/** The Reasoner in a worker thread, driven through shared memory (see reasoner-protocol.ts). */
export class WorkerReasoner implements ReasonerHandle {
  private readonly ctrl: Int32Array;
  private sequence = 0;
  private pending: number | undefined;
  private exited: Error | undefined;
  /** Rows of the step in flight. */
  private rows = 0;
  /** Rows of the batch (a step's ids and thoughts must fit the buffers). */
  private batchRows = 0;

  private constructor(
    private readonly worker: Worker,
    control: SharedArrayBuffer,
    private buffers: ReasonerBuffers,
    private readonly port: MessagePort,
    private readonly width: number,
  ) {
    this.ctrl = new Int32Array(control);
    worker.on("error", (err) => (this.exited ??= new Error(`Reasoner worker failed: ${err.message}`)));
    worker.on("exit", (code) => (this.exited ??= new Error(`Reasoner worker exited with code ${code}`)));
  }

  static async create(spec: ReasonerSpec, capacity = 1024): Promise<WorkerReasoner> {
    const control = new SharedArrayBuffer(CTRL_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const buffers = allocateBuffers(capacity, reasonerWidth(spec));
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(new URL("./reasoner-worker-entry.js", import.meta.url), {
      workerData: { spec, control, buffers, port: port2 },
      transferList: [port2],
    });
    await new Promise<void>((resolve, reject) => {
      worker.once("message", (msg: string) => (msg === "ready" ? resolve() : reject(new Error(`Reasoner worker: ${msg}`))));
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`Reasoner worker exited with code ${code}`)));
    });
    worker.removeAllListeners();
    return new WorkerReasoner(worker, control, buffers, port1, reasonerWidth(spec));
  }

  prefill(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return this.promptsRequest(rows, KIND.prefill);
  }

  addRows(rows: readonly (readonly number[])[]): Promise<Float32Array[]> {
    return this.promptsRequest(rows, KIND.add);
  }

  /** A request carrying prompts (prefill, add): every position's thought of those rows. */
  private async promptsRequest(rows: readonly (readonly number[])[], kind: number): Promise<Float32Array[]> {
    const lengths = rows.map((r) => r.length);
    const total = lengths.reduce((a, b) => a + b, 0);
    this.batchRows = (kind === KIND.add ? this.batchRows : 0) + rows.length;
    await this.ensureCapacity(Math.max(1 + rows.length + total, 1 + this.batchRows));
    this.ctrl[CTRL.length] = writePrompts(new Int32Array(this.buffers.ids), rows);
    this.send(kind);
    await this.collect();
    const thoughts = new Float32Array(this.buffers.thoughts);
    let offset = 0;
    return lengths.map((n) => {
      const t = thoughts.slice(offset, offset + n * this.width);
      offset += n * this.width;
      return t;
    });
  }

  begin(ids: readonly number[]): void {
    this.rows = ids.length;
    this.writeInts(ids);
    this.send(KIND.step);
  }

  async thought(): Promise<Float32Array> {
    await this.collect();
    return new Float32Array(this.buffers.thoughts, 0, this.rows * this.width).slice();
  }

  async keepRows(rows: readonly number[]): Promise<void> {
    this.batchRows = rows.length;
    this.writeInts(rows);
    this.send(KIND.keep);
    await this.collect();
  }

  async close(): Promise<void> {
    if (!this.exited && this.pending === undefined) this.send(KIND.stop);
    this.port.close();
    await this.worker.terminate();
  }

  /** Grows the shared buffers (through the port) to hold at least `positions` positions. */
  private async ensureCapacity(positions: number): Promise<void> {
    if (positions <= this.buffers.capacity) return;
    this.buffers = allocateBuffers(2 ** Math.ceil(Math.log2(positions)), this.width);
    this.port.postMessage({ type: "buffers", buffers: this.buffers } satisfies PortMessage);
    this.send(KIND.buffers);
    await this.collect();
  }

  /** Writes a list as the request's integers (a batch never outgrows its prefill's buffers). */
  private writeInts(values: readonly number[]): void {
    this.ctrl[CTRL.length] = writeList(new Int32Array(this.buffers.ids), values);
  }

  /** Posts a request (its operands already written) and wakes the worker. */
  private send(kind: number): void {
    if (this.exited) throw this.exited;
    if (this.pending !== undefined) throw new Error("Reasoner worker: a request is still in flight");
    this.ctrl[CTRL.kind] = kind;
    this.pending = ++this.sequence;
    Atomics.store(this.ctrl, CTRL.request, this.pending);
    Atomics.notify(this.ctrl, CTRL.request);
  }

  /** Waits for the request in flight: blocks in slices, letting the event loop run between them. */
  private async collect(): Promise<void> {
    const request = this.pending;
    if (request === undefined) throw new Error("Reasoner worker: no request in flight");
    spinWhile(this.ctrl, CTRL.done, request - 1, SPIN_MS);
    for (;;) {
      const done = Atomics.load(this.ctrl, CTRL.done);
      if (done === request) break;
      if (Atomics.wait(this.ctrl, CTRL.done, done, WAIT_SLICE_MS) === "timed-out") {
        await new Promise((resolve) => setImmediate(resolve));
        if (this.exited) throw this.exited;
      }
    }
    this.pending = undefined;
    if (this.ctrl[CTRL.failed]) {
      const msg = receiveMessageOnPort(this.port)?.message as PortMessage | undefined;
      throw new Error(`Reasoner worker: ${msg?.type === "error" ? msg.message : "request failed"}`);
    }
  }
}
