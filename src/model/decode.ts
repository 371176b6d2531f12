// Batched decoding with a key/value cache. One compiled graph serves both the prefill and the one-token steps: its
// cached keys/values have a symbolic length `past` (fed as 0 for the prefill), and it returns the extended cache.
//
// Rows of a batch share one cache length. Prompts of different lengths are left-padded: padded positions are masked
// out of attention for every later query, and each row's positions count its own tokens only (0, 1, 2, ...), so a
// row decodes exactly as it would alone. Rows that finish can be dropped (`keepRows`); the cache is then compacted
// and left padding no row needs any more is cut.
//
// The cache is time-major, [length, rows, kvHeads, headDim] per layer, so it grows by appending in place: the decoder
// keeps it in buffers with spare capacity and feeds the filled prefix; a call returns only its new keys/values. No
// per-token allocation grows with the sequence.
//
// Graph inputs: `ids` [rows, seq] (or `embeds` [rows, seq, hidden]), `positions` [rows, seq], `mask` [rows, past + seq]
// (1 = real token), `past.<layer>.key` / `past.<layer>.value` [past, rows, kvHeads, headDim]; the weights (HF names)
// are constants of the session. Outputs: `logits` (last position [rows, vocab], or every position [rows, seq, vocab]),
// `hidden` (final-norm hidden states, last or every position), `new.<layer>.key` / `.value` [seq, rows, kvHeads,
// headDim].

import { Graph, type Tensor } from "../graph/index.ts";
import { addDims } from "../graph/dims.ts";
import { compile, type CompiledGraph, type CompileOptions, type Feed, type Output } from "../runtime/session.ts";
import { UserError } from "../util/errors.ts";
import type { ModelConfig } from "./config.ts";
import { declareParams, embedTokens, forward, type KVCache, type Params } from "./qwen2.ts";
import type { StepModel } from "./generation/step-model.ts";
import { type ModelTensors, type QuantScheme, declareQuantizedParams, tensorBytes, validateQuantizedTensors } from "./quantize.ts";

export type Weights = ReadonlyMap<string, Float32Array>;

export interface DecoderOptions {
  /** What the model reads: token ids (default) or input embeddings. */
  input?: "ids" | "embeds";
  /** Next-token logits: of the last position of each call (default), of every fed position, or none. */
  logits?: "last" | "all" | "none";
  /** Final-norm hidden states: none (default), of the last position of each call, or of every fed position. */
  hidden?: "none" | "last" | "all";
  /**
   * Changes the input embeddings [rows, seq, hidden] inside the graph (e.g. adds FlyThinker's thoughts). It may
   * declare more graph inputs on `embeds.graph`; their values go in the `extra` feeds of prefill/append/step, laid out
   * for the padded batch (see `Decoder.padding`).
   */
  embedHook?: (embeds: Tensor, params: Params) => Tensor;
  /**
   * Changes the final-norm hidden states [rows, seq, hidden] before they are output (e.g. into FlyThinker's thought
   * vectors); may declare more graph inputs, like `embedHook`. The output's last axis may then have another width.
   */
  hiddenHook?: (hidden: Tensor, params: Params) => Tensor;
  /** ONNX Runtime options (threads, providers). */
  compile?: CompileOptions;
  /**
   * How the weights reach the session. "constants": compiled in (ONNX Runtime keeps its own pre-packed copy, and a
   * step binds no weights: fastest for small models, but the weights are then held twice). "inputs": fed to every run
   * from the caller's arrays (no copy). Default "auto": constants up to CONSTANT_WEIGHTS_MAX_BYTES of weights, inputs
   * above, where per-run binding is a small share of a step and a second copy is not.
   */
  weights?: "auto" | "constants" | "inputs";
  /**
   * The weights are block-quantized with this scheme (model/quantize.ts): projections and the head run through
   * MatMulNBits, the embedding through GatherBlockQuantized. They are then constants unless `weights` is "inputs".
   */
  quantization?: QuantScheme;
  /**
   * MatMulNBits' accuracy_level for quantized weights: 4 (default) quantizes each activation block to int8 and
   * multiplies in integers (fastest on CPUs); 0 multiplies the dequantized weights in float32 (exact reference).
   */
  quantizedAccuracy?: 0 | 4;
}

/** One row's input for a call: token ids, or (input "embeds") n * hidden floats. */
export type RowInput = readonly number[] | Float32Array;

export interface DecodeOutput {
  /** Per active row: [vocab] logits of its last position ("last"), or [n * vocab] for its n fed tokens ("all"). */
  logits: Float32Array[];
  /** Per active row: [hidden] ("last") or [n * hidden] ("all") final-norm hidden states; empty with "none". */
  hidden: Float32Array[];
}

/** What one call returned, before it is split into rows. */
interface RawOutput {
  logits: Output | undefined;
  hidden: Output | undefined;
  seq: number;
  callPads: number[];
}

/** The decoding graph (see the file comment) for a config. */
export function buildDecodeGraph(config: ModelConfig, options: DecoderOptions = {}): { graph: Graph; outputs: Record<string, Tensor> } {
  const g = new Graph();
  const params = options.quantization ? declareQuantizedParams(g, config, options.quantization, "", options.quantizedAccuracy ?? 4) : declareParams(g, config);
  let embeds: Tensor;
  if ((options.input ?? "ids") === "ids") {
    embeds = embedTokens(params, g.input("ids", "int64", ["rows", "seq"]));
  } else {
    embeds = g.input("embeds", "float32", ["rows", "seq", config.hiddenSize]);
  }
  if (options.embedHook) embeds = options.embedHook(embeds, params);
  const positions = g.input("positions", "int64", ["rows", "seq"]);
  const past: KVCache = { keys: [], values: [] };
  const kvShape = ["past", "rows", config.numKvHeads, config.headDim];
  const toHeadMajor = [1, 2, 0, 3]; // [past, rows, kv, hd] -> [rows, kv, past, hd]
  for (let i = 0; i < config.numLayers; i++) {
    past.keys.push(g.input(`past.${i}.key`, "float32", kvShape).transpose(toHeadMajor));
    past.values.push(g.input(`past.${i}.value`, "float32", kvShape).transpose(toHeadMajor));
  }
  const mask = g.input("mask", "int64", ["rows", addDims("past", "seq")]);
  const logitsMode = options.logits ?? "last";
  const hiddenMode = options.hidden ?? "none";
  const out = forward(config, params, { embeds, positions, attentionMask: mask, past, lastOnly: logitsMode === "last" });
  const outputs: Record<string, Tensor> = {};
  if (logitsMode !== "none") outputs.logits = logitsMode === "last" ? out.logits.squeeze(1) : out.logits;
  if (hiddenMode !== "none") {
    const hidden = options.hiddenHook ? options.hiddenHook(out.hidden, params) : out.hidden;
    outputs.hidden = hiddenMode === "last" ? hidden.slice(1, -1).squeeze(1) : hidden;
  }
  const toTimeMajor = [2, 0, 1, 3]; // [rows, kv, seq, hd] -> [seq, rows, kv, hd]
  out.fresh.keys.forEach((k, i) => (outputs[`new.${i}.key`] = k.transpose(toTimeMajor)));
  out.fresh.values.forEach((v, i) => (outputs[`new.${i}.value`] = v.transpose(toTimeMajor)));
  return { graph: g, outputs };
}

/** Weights up to this size are compiled into decoding sessions by default (see DecoderOptions.weights). */
export const CONSTANT_WEIGHTS_MAX_BYTES = 2 ** 29;

/** Next-token decoding; with logits "last" it is a StepModel (prefillLogits / stepLogits / keepRows). */
export class Decoder implements StepModel {
  /** Cache per layer: keys then values, each [capacity, rows, kvHeads, headDim], the first `length` positions filled. */
  private kv: Float32Array[] = [];
  /** Left padding of each row in the cache. */
  private pads: number[] = [];
  private len = 0;

  private constructor(
    readonly config: ModelConfig,
    readonly options: DecoderOptions,
    private readonly compiled: CompiledGraph,
    /** The weights when they are fed to every run (options.weights "inputs"), else empty. */
    private readonly weightFeeds: Readonly<Record<string, Feed>>,
  ) {}

  /**
   * Compiles the decoding graph for `config` over `weights` (see DecoderOptions.weights; as constants, decoders of
   * the same arrays share one session, and later changes to the arrays are not seen). Call `release` when done.
   */
  static async create(config: ModelConfig, weights: ModelTensors, options: DecoderOptions = {}): Promise<Decoder> {
    if (options.quantization) validateQuantizedTensors(config, options.quantization, weights, "decoder weights", true);
    const { graph, outputs } = buildDecodeGraph(config, options);
    const mode = options.weights ?? "auto";
    // Quantized weights are small, and MatMulNBits repacks constant weights once for its fastest kernels.
    const asConstants = mode === "constants" || (mode === "auto" && (options.quantization !== undefined || tensorBytes(weights) <= CONSTANT_WEIGHTS_MAX_BYTES));
    // Quantized constants go to ONNX Runtime as external data (a file it reads), not inside the model's protobuf:
    // one copy fewer while the session is made (measured: peak RSS 639 instead of 1,024 MB for an 8-layer 0.5B-shape
    // int4 model).
    const external = options.quantization && asConstants ? { externalDataAbove: 0 } : {};
    const compiled = await compile(graph, outputs, { ...external, ...options.compile, ...(asConstants ? { constants: weights } : {}) });
    return new Decoder(config, options, compiled, asConstants ? {} : Object.fromEntries(weights));
  }

  /** Width of a logits row. */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** Number of rows in the batch (after `keepRows`, the kept ones). */
  get rows(): number {
    return this.pads.length;
  }

  /** Positions in the cache, left padding included. */
  get length(): number {
    return this.len;
  }

  /** Left padding of a row in the cache (its real tokens occupy positions padding(row) .. length-1). */
  padding(row: number): number {
    return this.pads[row]!;
  }

  /** Number of real tokens a row has seen. */
  tokens(row: number): number {
    return this.len - this.pads[row]!;
  }

  /** Forget everything (a new batch starts with `prefill`). */
  reset(): void {
    this.kv = [];
    this.pads = [];
    this.len = 0;
  }

  /**
   * Starts a new batch: runs every prompt (of any non-zero lengths, left-padded to the longest) through the model.
   * Returns each row's outputs for its real tokens.
   */
  async prefill(prompts: readonly RowInput[], extra: Record<string, Feed> = {}): Promise<DecodeOutput> {
    return this.perRowOutput(await this.startBatch(prompts, extra));
  }

  /** `prefill` that returns only the logits of the last positions, as the session gave them: [rows, vocab]. */
  async prefillLogits(prompts: readonly RowInput[], extra: Record<string, Feed> = {}): Promise<Float32Array> {
    return this.lastLogits(await this.startBatch(prompts, extra));
  }

  private async startBatch(prompts: readonly RowInput[], extra: Record<string, Feed>): Promise<RawOutput> {
    if (prompts.length === 0) throw new UserError("prefill: no prompts");
    this.reset();
    const lens = prompts.map((p) => this.rowLength(p));
    lens.forEach((n, r) => {
      if (n === 0) throw new UserError(`prefill: prompt ${r} is empty`);
    });
    const seq = Math.max(...lens);
    this.pads = lens.map(() => 0);
    const capacity = 2 * seq + 64;
    for (let i = 0; i < 2 * this.config.numLayers; i++) this.kv.push(new Float32Array(capacity * this.positionSize()));
    return this.run(prompts, lens.map((n) => seq - n), seq, extra);
  }

  /**
   * Adds rows to the batch (continuous batching): the new prompts run on their own (their `extra` feeds laid out for
   * them alone, left-padded to their longest), then their keys and values join the cache, which is left-padded to the
   * longer of the two. The new rows come after the old ones; each still decodes as it would alone. Without a batch it
   * is a prefill. Returns the new rows' outputs.
   */
  async addRows(prompts: readonly RowInput[], extra: Record<string, Feed> = {}): Promise<DecodeOutput> {
    return this.join(prompts, extra, (raw) => this.perRowOutput(raw));
  }

  /** `addRows` that returns only the logits of the new rows' last positions: [new rows, vocab]. */
  async addRowsLogits(prompts: readonly RowInput[], extra: Record<string, Feed> = {}): Promise<Float32Array> {
    return this.join(prompts, extra, (raw) => this.lastLogits(raw));
  }

  private async join<T>(prompts: readonly RowInput[], extra: Record<string, Feed>, pick: (raw: RawOutput) => T): Promise<T> {
    if (this.rows === 0) return pick(await this.startBatch(prompts, extra));
    const old = { kv: this.kv, pads: this.pads, len: this.len };
    let result: T;
    try {
      result = pick(await this.startBatch(prompts, extra));
    } catch (e) {
      Object.assign(this, { kv: old.kv, pads: old.pads, len: old.len });
      throw e;
    }
    // Merge [old.len, oldRows] and [len, newRows] into [L, oldRows + newRows], each part right-aligned in time.
    const rowSize = this.config.numKvHeads * this.config.headDim;
    const oldRows = old.pads.length;
    const newRows = this.pads.length;
    const rows = oldRows + newRows;
    const L = Math.max(old.len, this.len);
    const capacity = 2 * L + 64;
    const shiftOld = L - old.len;
    const shiftNew = L - this.len;
    this.kv = this.kv.map((fresh, i) => {
      const prior = old.kv[i]!;
      const b = new Float32Array(capacity * rows * rowSize);
      for (let t = 0; t < L; t++) {
        if (t >= shiftOld) {
          const src = (t - shiftOld) * oldRows * rowSize;
          b.set(prior.subarray(src, src + oldRows * rowSize), t * rows * rowSize);
        }
        if (t >= shiftNew) {
          const src = (t - shiftNew) * newRows * rowSize;
          b.set(fresh.subarray(src, src + newRows * rowSize), (t * rows + oldRows) * rowSize);
        }
      }
      return b;
    });
    this.pads = [...old.pads.map((p) => p + shiftOld), ...this.pads.map((p) => p + shiftNew)];
    this.len = L;
    return result;
  }

  /**
   * The next-token logits [rows, vocab] of one token per row, without keeping it: the cache is left as it was. (What
   * the model would predict with other `extra` feeds, e.g. FlyThinker's Generator without its thoughts.)
   */
  async peekLogits(tokens: readonly number[], extra: Record<string, Feed> = {}): Promise<Float32Array> {
    this.requireStarted("peek");
    if (tokens.length !== this.rows) throw new UserError(`peek: got ${tokens.length} rows, the batch has ${this.rows}`);
    tokens.forEach((t) => this.rowLength([t]));
    return this.lastLogits(await this.run(tokens.map((t) => [t]), tokens.map(() => 0), 1, extra, false));
  }

  /** Feeds the same number of new tokens (>= 1) to every row. */
  async append(chunk: readonly RowInput[], extra: Record<string, Feed> = {}): Promise<DecodeOutput> {
    return this.perRowOutput(await this.extend(chunk, extra));
  }

  private async extend(chunk: readonly RowInput[], extra: Record<string, Feed>): Promise<RawOutput> {
    this.requireStarted("append");
    if (chunk.length !== this.rows) throw new UserError(`append: got ${chunk.length} rows, the batch has ${this.rows}`);
    const lens = chunk.map((p) => this.rowLength(p));
    const seq = lens[0]!;
    if (seq === 0 || lens.some((n) => n !== seq)) {
      throw new UserError(`append: every row needs the same number (>= 1) of new tokens, got ${lens.join(", ")}`);
    }
    return this.run(chunk, lens.map(() => 0), seq, extra);
  }

  /** One new token per row: ids (input "ids") or [hidden] embeddings (input "embeds"). */
  async step(tokens: readonly number[] | readonly Float32Array[], extra: Record<string, Feed> = {}): Promise<DecodeOutput> {
    this.requireStarted("step");
    const chunk: RowInput[] = tokens.map((t) => (typeof t === "number" ? [t] : t));
    return this.append(chunk, extra);
  }

  /** One token id per row; returns only the next-token logits, as the session gave them: [rows, vocab]. */
  async stepLogits(tokens: readonly number[], extra: Record<string, Feed> = {}): Promise<Float32Array> {
    this.requireStarted("step");
    return this.lastLogits(await this.extend(tokens.map((t) => [t]), extra));
  }

  /**
   * Keeps only the given rows (indices into the current batch, in the new order) and compacts the cache; left
   * padding that every kept row has is removed.
   */
  keepRows(rows: readonly number[]): void {
    this.requireStarted("keepRows");
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= this.rows) throw new UserError(`keepRows: no row ${r} (the batch has ${this.rows})`);
    }
    const same = rows.length === this.rows && rows.every((r, i) => r === i);
    const pads = rows.map((r) => this.pads[r]!);
    const cut = pads.length ? Math.min(...pads) : 0;
    if (same && cut === 0) return;
    const rowSize = this.config.numKvHeads * this.config.headDim;
    const oldRows = this.rows;
    const newLen = this.len - cut;
    this.kv = this.kv.map((a) => {
      const capacity = a.length / (oldRows * rowSize);
      const b = new Float32Array(capacity * rows.length * rowSize);
      for (let t = 0; t < newLen; t++) {
        rows.forEach((r, i) => {
          const src = ((t + cut) * oldRows + r) * rowSize;
          b.set(a.subarray(src, src + rowSize), (t * rows.length + i) * rowSize);
        });
      }
      return b;
    });
    this.pads = pads.map((p) => p - cut);
    this.len = newLen;
  }

  /** Frees the cache and the native session (the decoder cannot be used afterwards). */
  async release(): Promise<void> {
    this.reset();
    await this.compiled.release();
  }

  /** Floats of one cache position (all rows) of one layer's keys or values. */
  private positionSize(): number {
    return this.rows * this.config.numKvHeads * this.config.headDim;
  }

  private requireStarted(what: string): void {
    if (this.rows === 0) throw new UserError(`${what}: call prefill first`);
  }

  private rowLength(row: RowInput): number {
    if ((this.options.input ?? "ids") === "ids") {
      if (row instanceof Float32Array) throw new UserError("this decoder reads token ids, got embeddings");
      const V = this.config.vocabSize;
      for (const id of row) {
        if (!Number.isInteger(id) || id < 0 || id >= V) throw new UserError(`token id ${id} is outside the vocabulary (size ${V})`);
      }
      return row.length;
    }
    if (!(row instanceof Float32Array)) throw new UserError("this decoder reads embeddings (Float32Array rows), got ids");
    const D = this.config.hiddenSize;
    if (row.length % D !== 0) throw new UserError(`an embeddings row must hold n * ${D} values, got ${row.length}`);
    return row.length / D;
  }

  /** Runs one call: row r gets `inputs[r]` left-padded by `callPads[r]` to `seq` positions; `keep`: extend the cache. */
  private async run(inputs: readonly RowInput[], callPads: number[], seq: number, extra: Record<string, Feed>, keep = true): Promise<RawOutput> {
    const B = this.rows;
    const { numLayers, numKvHeads: KV, headDim: hd, hiddenSize: D } = this.config;
    const past = this.len;
    const total = past + seq;
    const feeds: Record<string, Feed> = { ...this.weightFeeds, ...extra };
    const positions = new BigInt64Array(B * seq);
    const mask = new BigInt64Array(B * total);
    for (let r = 0; r < B; r++) {
      const seen = past - this.pads[r]!;
      for (let j = callPads[r]!; j < seq; j++) positions[r * seq + j] = BigInt(seen + j - callPads[r]!);
      for (let j = this.pads[r]!; j < past; j++) mask[r * total + j] = 1n;
      for (let j = callPads[r]!; j < seq; j++) mask[r * total + past + j] = 1n;
    }
    feeds.positions = { data: positions, dims: [B, seq] };
    feeds.mask = { data: mask, dims: [B, total] };
    if ((this.options.input ?? "ids") === "ids") {
      const ids = new BigInt64Array(B * seq);
      inputs.forEach((row, r) => (row as readonly number[]).forEach((id, j) => (ids[r * seq + callPads[r]! + j] = BigInt(id))));
      feeds.ids = { data: ids, dims: [B, seq] };
    } else {
      const embeds = new Float32Array(B * seq * D);
      inputs.forEach((row, r) => embeds.set(row as Float32Array, (r * seq + callPads[r]!) * D));
      feeds.embeds = { data: embeds, dims: [B, seq, D] };
    }
    const kvDims = [past, B, KV, hd];
    const step = this.positionSize();
    for (let i = 0; i < numLayers; i++) {
      feeds[`past.${i}.key`] = { data: this.kv[2 * i]!.subarray(0, past * step), dims: kvDims };
      feeds[`past.${i}.value`] = { data: this.kv[2 * i + 1]!.subarray(0, past * step), dims: kvDims };
    }
    const out = await this.compiled.run(feeds);
    if (!keep) return { logits: out.logits, hidden: out.hidden, seq, callPads };
    if (this.kv[0]!.length < total * step) {
      const capacity = 2 * total + 64;
      this.kv = this.kv.map((a) => {
        const b = new Float32Array(capacity * step);
        b.set(a.subarray(0, past * step));
        return b;
      });
    }
    for (let i = 0; i < numLayers; i++) {
      this.kv[2 * i]!.set(out[`new.${i}.key`]!.data as Float32Array, past * step);
      this.kv[2 * i + 1]!.set(out[`new.${i}.value`]!.data as Float32Array, past * step);
    }
    this.pads = this.pads.map((p, r) => (past === 0 ? callPads[r]! : p));
    this.len = total;
    return { logits: out.logits, hidden: out.hidden, seq, callPads };
  }

  private perRowOutput(raw: RawOutput): DecodeOutput {
    return {
      logits: this.perRow(raw.logits, this.options.logits ?? "last", raw.seq, raw.callPads),
      hidden: this.perRow(raw.hidden, this.options.hidden ?? "none", raw.seq, raw.callPads),
    };
  }

  private lastLogits(raw: RawOutput): Float32Array {
    if ((this.options.logits ?? "last") !== "last" || !raw.logits) throw new UserError('prefillLogits / stepLogits need a decoder with logits "last"');
    return raw.logits.data as Float32Array;
  }

  /** Splits a [rows, ...] output into per-row views, dropping padded positions ("all"). */
  private perRow(out: Output | undefined, mode: "last" | "all" | "none", seq: number, callPads: number[]): Float32Array[] {
    if (!out || mode === "none") return [];
    const data = out.data as Float32Array;
    const B = this.rows;
    const width = data.length / (mode === "last" ? B : B * seq);
    return Array.from({ length: B }, (_, r) =>
      mode === "last"
        ? data.subarray(r * width, (r + 1) * width)
        : data.subarray((r * seq + callPads[r]!) * width, (r + 1) * seq * width),
    );
  }
}
