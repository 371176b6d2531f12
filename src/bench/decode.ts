// Decode speed of one model (batch 1) with the KV-cache decoder, against a memory-bandwidth bound measured in the
// same run. Generating a token reads every weight once (the tied embedding table included, as the LM head), so a
// step cannot take less than (f32 weight bytes) / (memory bandwidth); the bandwidth is that of a large in-memory copy
// (bytes copied per second). Random weights are generated in memory (normal values of one random block, tiled), so
// a Qwen2.5-0.5B-shaped model (~2 GB in f32) needs no file.

import { availableParallelism } from "node:os";
import { type TensorSpec, expectedTensors } from "../model/checkpoint.ts";
import { quantizeRows } from "../graph/quant.ts";
import { type QuantScheme, type QuantizeMode, describeScheme, isQuantizedShape, quantScheme, setQuantized, tensorBytes } from "../model/quantize.ts";
import { type ModelConfig, parameterCount, presetConfig } from "../model/config.ts";
import { Decoder } from "../model/decode.ts";
import { releaseIdleSessions } from "../runtime/session.ts";
import { argmax } from "../model/sampling.ts";
import { Rng } from "../util/random.ts";
import { median, round } from "./stats.ts";
import { ortReadRate } from "./ort-read.ts";

export interface DecodeBenchOptions {
  /** Model shape: a preset name (default "qwen2.5-0.5b-shape") or a config. */
  preset?: string;
  config?: ModelConfig;
  /** Prompt length of the prefill (default 64). */
  promptTokens?: number;
  /** Tokens decoded per run (default 16). */
  newTokens?: number;
  /** Runs (prefill + decode each; default 3). */
  runs?: number;
  /** ONNX Runtime threads (default: all cores). */
  threads?: number;
  seed?: number;
  /** Called with progress lines. */
  log?: (line: string) => void;
  /** Also measure these quantized variants of the same weights (block-quantized, symmetric blocks of 32). */
  quantize?: QuantizeMode[];
  /** Bytes of the buffer ONNX Runtime sums for its read rate (default 512 MiB: far beyond any cache). */
  readBytes?: number;
}

export interface DecodeBenchResult {
  model: string;
  parameters: number;
  weight_bytes: number;
  threads: number;
  prompt_tokens: number;
  new_tokens: number;
  runs: number;
  /** Prompt tokens per second of the prefill (median over runs). */
  prefill_tokens_per_s: number;
  /** Time per generated token: one decoder step plus the greedy choice (median over every step of every run). */
  decode_ms_per_token: number;
  /** Bytes copied per second by a large in-memory copy (median of repeats, before and after the decoding). */
  copy_gb_per_s: number;
  /** Memory traffic of that copy: every copied byte is read once and written once (2 x copy_gb_per_s). */
  memory_gb_per_s: number;
  /** weight_bytes / memory traffic rate: the time to stream every weight from memory once. */
  bound_ms_per_token: number;
  /** decode_ms_per_token / bound_ms_per_token (target: <= 2). */
  decode_over_bound: number;
  /**
   * The best read rate of ONNX Runtime itself with the decoder's threads (a ReduceSum over a large float32 buffer,
   * bench/ort-read.ts; best run, before and after the decoding), bytes read per second / 1e9.
   */
  ort_read_gb_per_s: number;
  /** weight_bytes / ort_read_gb_per_s: the time the same threads need to read every weight once. */
  ort_bound_ms_per_token: number;
  /** decode_ms_per_token / ort_bound_ms_per_token (target: <= 1.10). */
  decode_over_ort_bound: number;
  /** Setup costs, for information. */
  weights_ms: number;
  compile_ms: number;
  /**
   * With `quantize`: each quantized variant, in rounds alternating with float32 rounds on the same prompts (the
   * float32 figures above are then the median over all its rounds).
   */
  quantized?: QuantizedDecodeResult[];
}

export interface QuantizedDecodeResult {
  mode: QuantizeMode;
  /** Bytes of the quantized tensors (codes, scales, float32 norms and biases). */
  weight_bytes: number;
  prefill_tokens_per_s: number;
  decode_ms_per_token: number;
  /** float32's figures over the rounds that alternated with this variant's. */
  float_decode_ms_per_token: number;
  float_prefill_tokens_per_s: number;
  /** float_decode_ms_per_token over this variant's: how many times faster it decodes. */
  ratio: number;
  /** This variant's prefill tokens/s over float32's (the same rounds). */
  prefill_ratio: number;
  /** The first variant only: the process's peak resident memory after it ran alone (before the float32 model existed). */
  peak_rss_mb?: number;
  weights_ms: number;
  compile_ms: number;
}

/**
 * The random tensors of a benchmark model, fast: normal(0, std) values of one random block, tiled from a random
 * offset (element k of a tensor is block[(offset + k) mod block size]). `f` gets each tensor's spec and a writer of
 * any range of its values, so a tensor can be produced whole or row by row.
 */
function forEachBenchTensor(config: ModelConfig, seed: number, f: (spec: TensorSpec, write: (start: number, out: Float32Array) => void) => void): void {
  const rng = new Rng(seed);
  const block = new Float32Array(1 << 20);
  rng.fillNormal(block, config.initializerRange);
  for (const spec of expectedTensors(config)) {
    const off = spec.init === "normal" ? rng.int(block.length) : 0;
    f(spec, (start, out) => {
      if (spec.init === "ones") out.fill(1);
      else if (spec.init === "zeros") out.fill(0);
      else {
        let at = (off + start) % block.length;
        for (let i = 0; i < out.length; ) {
          const take = Math.min(block.length - at, out.length - i);
          out.set(block.subarray(at, at + take), i);
          i += take;
          at = 0;
        }
      }
    });
  }
}

/** Random weights for benchmarks (see forEachBenchTensor). */
export function benchWeights(config: ModelConfig, seed = 0): Map<string, Float32Array> {
  const weights = new Map<string, Float32Array>();
  forEachBenchTensor(config, seed, (spec, write) => {
    const w = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    write(0, w);
    weights.set(spec.name, w);
  });
  return weights;
}

/**
 * The same random weights as `benchWeights`, quantized row by row as they are made: no float32 copy of a matrix is
 * ever held, so the resident memory is that of the quantized model.
 */
export function benchQuantizedWeights(config: ModelConfig, scheme: QuantScheme, seed = 0): Map<string, Float32Array | Uint8Array> {
  const out = new Map<string, Float32Array | Uint8Array>();
  forEachBenchTensor(config, seed, (spec, write) => {
    if (!isQuantizedShape(spec.shape)) {
      const w = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
      write(0, w);
      out.set(spec.name, w);
      return;
    }
    const [rows, cols] = spec.shape as [number, number];
    setQuantized(out, spec.name, quantizeRows(rows, cols, (r, row) => write(r * cols, row), scheme));
  });
  return out;
}

/** Median bandwidth (bytes copied per second) of copying a `bytes`-sized Float32Array, over `repeats` copies. */
export function copyBandwidth(bytes = 256 * 1024 * 1024, repeats = 5): number {
  const src = new Float32Array(bytes / 4);
  for (let i = 0; i < src.length; i += 1024) src[i] = i;
  const dst = new Float32Array(src.length);
  dst.set(src); // touch the pages once
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    dst.set(src);
    rates.push(bytes / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

/** x to 4 significant digits (small models have sub-millisecond times). */
function significant(x: number): number {
  return Number(x.toPrecision(4));
}

/** One round: a prefill of `prompt` and `newTokens` greedy steps. Returns the prefill rate and each step's ms. */
async function decodeRound(decoder: Decoder, prompt: number[], newTokens: number): Promise<{ prefillRate: number; stepMs: number[] }> {
  let t = performance.now();
  let out = await decoder.prefill([prompt]);
  const prefillRate = prompt.length / ((performance.now() - t) / 1000);
  let next = argmax(out.logits[0]!);
  const stepMs: number[] = [];
  for (let i = 0; i < newTokens; i++) {
    t = performance.now();
    out = await decoder.step([next]);
    next = argmax(out.logits[0]!);
    stepMs.push(performance.now() - t);
  }
  return { prefillRate, stepMs };
}

/** Per contender: prefill rates and step times of its rounds. */
interface Timings {
  prefill: number[];
  steps: number[];
}

function record(into: Timings, r: { prefillRate: number; stepMs: number[] }): void {
  into.prefill.push(r.prefillRate);
  into.steps.push(...r.stepMs);
}

/** The process's peak resident memory so far, in MB. */
function peakRssMb(): number {
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

/**
 * With quantized variants, the float32 decoder and one variant at a time run in alternating rounds on the same
 * prompts, so a loaded machine's drifts hit both alike; each variant's ratio compares it with the float32 rounds
 * that alternated with it. The first variant is also run once alone before the float32 model exists: its peak RSS is
 * that variant's own.
 */
export async function runDecodeBench(opts: DecodeBenchOptions = {}): Promise<DecodeBenchResult> {
  const name = opts.config ? "custom" : (opts.preset ?? "qwen2.5-0.5b-shape");
  const config = opts.config ?? presetConfig(name);
  const promptTokens = opts.promptTokens ?? 64;
  const newTokens = opts.newTokens ?? 16;
  const runs = opts.runs ?? 3;
  const seed = opts.seed ?? 0;
  const threads = opts.threads ?? availableParallelism();
  const log = opts.log ?? (() => {});
  const rng = new Rng(seed + 1);
  const prompts = Array.from({ length: runs }, () => Array.from({ length: promptTokens }, () => rng.int(config.vocabSize)));
  const modes = opts.quantize ?? [];

  const makeQuantized = async (mode: QuantizeMode) => {
    const scheme = quantScheme(mode);
    let t = performance.now();
    const weights = benchQuantizedWeights(config, scheme, seed);
    const weightsMs = performance.now() - t;
    log(`${mode}: weights ${(tensorBytes(weights) / 1e9).toFixed(3)} GB (${describeScheme(scheme)}) in ${weightsMs.toFixed(0)} ms`);
    t = performance.now();
    const decoder = await Decoder.create(config, weights, { compile: { threads }, quantization: scheme });
    return { decoder, weightBytes: tensorBytes(weights), weightsMs, compileMs: performance.now() - t };
  };
  let first: Awaited<ReturnType<typeof makeQuantized>> | undefined;
  let firstPeak: number | undefined;
  if (modes.length) {
    first = await makeQuantized(modes[0]!);
    await decodeRound(first.decoder, prompts[0]!, newTokens); // warm-up, and the variant's own peak memory
    firstPeak = peakRssMb();
    log(`${modes[0]}: peak RSS ${firstPeak} MB (alone)`);
  }

  let t = performance.now();
  const weights = benchWeights(config, seed);
  const weightsMs = performance.now() - t;
  let weightBytes = 0;
  for (const w of weights.values()) weightBytes += w.byteLength;
  log(`weights: ${(weightBytes / 1e9).toFixed(2)} GB f32 in ${weightsMs.toFixed(0)} ms`);
  const copyRates = [copyBandwidth()];
  const readRates = [(await ortReadRate(opts.readBytes, threads)).best_bytes_per_s];
  t = performance.now();
  const decoder = await Decoder.create(config, weights, { compile: { threads } });
  const compileMs = performance.now() - t;

  const float: Timings = { prefill: [], steps: [] };
  const variants: QuantizedDecodeResult[] = [];
  if (!modes.length) {
    for (let r = 0; r < runs; r++) {
      record(float, await decodeRound(decoder, prompts[r]!, newTokens));
      log(`float32 run ${r + 1}/${runs}: decode median ${median(float.steps.slice(-newTokens)).toFixed(1)} ms/token`);
    }
  }
  for (const [i, mode] of modes.entries()) {
    const q = i === 0 ? first! : await makeQuantized(mode);
    const mine: Timings = { prefill: [], steps: [] };
    const paired: Timings = { prefill: [], steps: [] };
    for (let r = 0; r < runs; r++) {
      const f = await decodeRound(decoder, prompts[r]!, newTokens);
      record(float, f);
      record(paired, f);
      record(mine, await decodeRound(q.decoder, prompts[r]!, newTokens));
      log(`${mode} run ${r + 1}/${runs}: decode median ${median(mine.steps.slice(-newTokens)).toFixed(1)} ms/token, float32 ${median(paired.steps.slice(-newTokens)).toFixed(1)}`);
    }
    await q.decoder.release();
    await releaseIdleSessions();
    const decode = median(mine.steps);
    const prefill = median(mine.prefill);
    variants.push({
      mode,
      weight_bytes: q.weightBytes,
      prefill_tokens_per_s: round1(prefill),
      decode_ms_per_token: significant(decode),
      float_decode_ms_per_token: significant(median(paired.steps)),
      float_prefill_tokens_per_s: round1(median(paired.prefill)),
      ratio: significant(median(paired.steps) / decode),
      prefill_ratio: significant(prefill / median(paired.prefill)),
      ...(i === 0 ? { peak_rss_mb: firstPeak! } : {}),
      weights_ms: Math.round(q.weightsMs),
      compile_ms: Math.round(q.compileMs),
    });
  }
  await decoder.release();
  copyRates.push(copyBandwidth());
  readRates.push((await ortReadRate(opts.readBytes, threads)).best_bytes_per_s);
  const read = Math.max(...readRates);
  const ortBound = (weightBytes / read) * 1000;

  const copy = median(copyRates);
  // A copy reads and writes each byte; decoding only reads the weights.
  const bound = (weightBytes / (2 * copy)) * 1000;
  const decodeMs = median(float.steps);
  return {
    model: name,
    parameters: parameterCount(config),
    weight_bytes: weightBytes,
    threads,
    prompt_tokens: promptTokens,
    new_tokens: newTokens,
    runs,
    prefill_tokens_per_s: round1(median(float.prefill)),
    decode_ms_per_token: significant(decodeMs),
    copy_gb_per_s: round(copy / 1e9, 2),
    memory_gb_per_s: round((2 * copy) / 1e9, 2),
    bound_ms_per_token: significant(bound),
    decode_over_bound: significant(decodeMs / bound),
    ort_read_gb_per_s: round(read / 1e9, 2),
    ort_bound_ms_per_token: significant(ortBound),
    decode_over_ort_bound: significant(decodeMs / ortBound),
    weights_ms: round(weightsMs, 0),
    compile_ms: round(compileMs, 0),
    ...(variants.length ? { quantized: variants } : {}),
  };
}

const round1 = (x: number) => round(x, 1);

/** Human-readable rendering of a result. */
export function decodeBenchTable(r: DecodeBenchResult): string {
  const ms = (x: number) => (x >= 10 ? x.toFixed(1) : x.toPrecision(3));
  return [
    `model ${r.model}: ${(r.parameters / 1e6).toFixed(1)}M parameters, ${(r.weight_bytes / 1e9).toFixed(2)} GB f32, ${r.threads} threads`,
    `prefill   ${r.prefill_tokens_per_s.toFixed(1)} tokens/s (${r.prompt_tokens}-token prompt)`,
    `decode    ${ms(r.decode_ms_per_token)} ms/token (median of ${r.runs} x ${r.new_tokens} steps)`,
    `bound     ${ms(r.bound_ms_per_token)} ms/token (weights / memory traffic ${r.memory_gb_per_s.toFixed(1)} GB/s = 2 x copy rate)`,
    `ratio     ${r.decode_over_bound.toFixed(2)} x the bound (target <= 2)`,
    `ORT read  ${ms(r.ort_bound_ms_per_token)} ms/token (weights / ONNX Runtime's best read rate ${r.ort_read_gb_per_s.toFixed(1)} GB/s, ${r.threads} threads): ` +
      `decode = ${r.decode_over_ort_bound.toFixed(2)} x (target <= 1.10)`,
    ...(r.quantized ?? []).map((q) =>
      `${q.mode.padEnd(9)} decode ${ms(q.decode_ms_per_token)} ms/token = ${q.ratio.toFixed(2)}x faster, prefill ${q.prefill_tokens_per_s.toFixed(1)} tokens/s ` +
        `(${q.prefill_ratio.toFixed(2)}x), weights ${(q.weight_bytes / 1e9).toFixed(3)} GB${q.peak_rss_mb !== undefined ? `, peak RSS alone ${q.peak_rss_mb} MB` : ""}`,
    ),
  ].join("\n");
}
