// Decode speed of one model (batch 1) with the KV-cache decoder, against a memory-bandwidth bound measured in the
// same run. Generating a token reads every weight once (the tied embedding table included, as the LM head), so a
// step cannot take less than (f32 weight bytes) / (memory bandwidth); the bandwidth is that of a large in-memory copy
// (bytes copied per second). Random weights are generated in memory (normal values of one random block, tiled), so
// a Qwen2.5-0.5B-shaped model (~2 GB in f32) needs no file.

import { availableParallelism } from "node:os";
import { expectedTensors } from "../model/checkpoint.ts";
import { type ModelConfig, parameterCount, presetConfig } from "../model/config.ts";
import { Decoder } from "../model/decode.ts";
import { argmax } from "../model/sampling.ts";
import { Rng } from "../util/random.ts";
import { median, round } from "./stats.ts";

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
  /** Setup costs, for information. */
  weights_ms: number;
  compile_ms: number;
}

/** Random weights for benchmarks, fast: normal(0, std) values of one random block, tiled at varying offsets. */
export function benchWeights(config: ModelConfig, seed = 0): Map<string, Float32Array> {
  const rng = new Rng(seed);
  const block = new Float32Array(1 << 20);
  rng.fillNormal(block, config.initializerRange);
  const weights = new Map<string, Float32Array>();
  for (const spec of expectedTensors(config)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const w = new Float32Array(n);
    if (spec.init === "ones") w.fill(1);
    else if (spec.init === "normal") {
      let off = rng.int(block.length);
      for (let i = 0; i < n; ) {
        const take = Math.min(block.length - off, n - i);
        w.set(block.subarray(off, off + take), i);
        i += take;
        off = 0;
      }
    }
    weights.set(spec.name, w);
  }
  return weights;
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

export async function runDecodeBench(opts: DecodeBenchOptions = {}): Promise<DecodeBenchResult> {
  const name = opts.config ? "custom" : (opts.preset ?? "qwen2.5-0.5b-shape");
  const config = opts.config ?? presetConfig(name);
  const promptTokens = opts.promptTokens ?? 64;
  const newTokens = opts.newTokens ?? 16;
  const runs = opts.runs ?? 3;
  const threads = opts.threads ?? availableParallelism();
  const log = opts.log ?? (() => {});

  let t = performance.now();
  const weights = benchWeights(config, opts.seed ?? 0);
  const weightsMs = performance.now() - t;
  let weightBytes = 0;
  for (const w of weights.values()) weightBytes += w.byteLength;
  log(`weights: ${(weightBytes / 1e9).toFixed(2)} GB f32 in ${weightsMs.toFixed(0)} ms`);

  const copyRates = [copyBandwidth()];
  t = performance.now();
  const decoder = await Decoder.create(config, weights, { compile: { threads } });
  const compileMs = performance.now() - t;

  const rng = new Rng((opts.seed ?? 0) + 1);
  const prefillRates: number[] = [];
  const stepMs: number[] = [];
  for (let run = 0; run < runs; run++) {
    const prompt = Array.from({ length: promptTokens }, () => rng.int(config.vocabSize));
    t = performance.now();
    let out = await decoder.prefill([prompt]);
    const prefillMs = performance.now() - t;
    prefillRates.push(promptTokens / (prefillMs / 1000));
    let next = argmax(out.logits[0]!);
    for (let i = 0; i < newTokens; i++) {
      t = performance.now();
      out = await decoder.step([next]);
      next = argmax(out.logits[0]!);
      stepMs.push(performance.now() - t);
    }
    log(`run ${run + 1}/${runs}: prefill ${prefillMs.toFixed(0)} ms, decode median ${median(stepMs.slice(-newTokens)).toFixed(1)} ms/token`);
  }
  await decoder.release();
  copyRates.push(copyBandwidth());

  const copy = median(copyRates);
  // A copy reads and writes each byte; decoding only reads the weights.
  const bound = (weightBytes / (2 * copy)) * 1000;
  const decodeMs = median(stepMs);
  return {
    model: name,
    parameters: parameterCount(config),
    weight_bytes: weightBytes,
    threads,
    prompt_tokens: promptTokens,
    new_tokens: newTokens,
    runs,
    prefill_tokens_per_s: round(median(prefillRates), 1),
    decode_ms_per_token: significant(decodeMs),
    copy_gb_per_s: round(copy / 1e9, 2),
    memory_gb_per_s: round((2 * copy) / 1e9, 2),
    bound_ms_per_token: significant(bound),
    decode_over_bound: significant(decodeMs / bound),
    weights_ms: round(weightsMs, 0),
    compile_ms: round(compileMs, 0),
  };
}

/** Human-readable rendering of a result. */
export function decodeBenchTable(r: DecodeBenchResult): string {
  const ms = (x: number) => (x >= 10 ? x.toFixed(1) : x.toPrecision(3));
  return [
    `model ${r.model}: ${(r.parameters / 1e6).toFixed(1)}M parameters, ${(r.weight_bytes / 1e9).toFixed(2)} GB f32, ${r.threads} threads`,
    `prefill   ${r.prefill_tokens_per_s.toFixed(1)} tokens/s (${r.prompt_tokens}-token prompt)`,
    `decode    ${ms(r.decode_ms_per_token)} ms/token (median of ${r.runs} x ${r.new_tokens} steps)`,
    `bound     ${ms(r.bound_ms_per_token)} ms/token (weights / memory traffic ${r.memory_gb_per_s.toFixed(1)} GB/s = 2 x copy rate)`,
    `ratio     ${r.decode_over_bound.toFixed(2)} x the bound (target <= 2)`,
  ].join("\n");
}
