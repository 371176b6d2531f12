// The decode benchmark's bookkeeping (never its timings): weights, byte counts and the bound's arithmetic.
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchQuantizedWeights, benchWeights, decodeBenchTable, runDecodeBench } from "../../src/bench/decode.ts";
import { quantScheme, quantizeWeights } from "../../src/model/quantize.ts";
import { expectedTensors } from "../../src/model/checkpoint.ts";
import { parameterCount, presetConfig } from "../../src/model/config.ts";

test("benchWeights: every tensor of the config, normal weights with the init's spread, norms 1, biases 0", () => {
  const config = presetConfig("tiny");
  const w = benchWeights(config, 3);
  const specs = expectedTensors(config);
  assert.deepEqual([...w.keys()], specs.map((s) => s.name));
  for (const s of specs) assert.equal(w.get(s.name)!.length, s.shape.reduce((a, b) => a * b, 1), s.name);
  assert.ok(w.get("model.norm.weight")!.every((v) => v === 1));
  assert.ok(w.get("model.layers.0.self_attn.q_proj.bias")!.every((v) => v === 0));
  const e = w.get("model.embed_tokens.weight")!;
  const sd = Math.sqrt(e.reduce((s, v) => s + v * v, 0) / e.length);
  assert.ok(Math.abs(sd - 0.02) < 0.001, `sd ${sd}`);
  assert.deepEqual(benchWeights(config, 3).get("lm_head.weight"), w.get("lm_head.weight"), "seeded");
});

test("runDecodeBench: byte count of the f32 weights, bound = bytes / memory traffic rate (2 x copy rate), ratio = decode / bound", async () => {
  const r = await runDecodeBench({ preset: "tiny", promptTokens: 8, newTokens: 3, runs: 1, threads: 1, readBytes: 1 << 20 });
  const config = presetConfig("tiny");
  assert.equal(r.model, "tiny");
  assert.equal(r.parameters, parameterCount(config));
  assert.equal(r.weight_bytes, 4 * parameterCount(config));
  assert.equal(r.threads, 1);
  assert.deepEqual([r.prompt_tokens, r.new_tokens, r.runs], [8, 3, 1]);
  for (const k of ["prefill_tokens_per_s", "decode_ms_per_token", "copy_gb_per_s", "bound_ms_per_token"] as const) {
    assert.ok(Number.isFinite(r[k]) && r[k] > 0, k);
  }
  assert.ok(Math.abs(r.memory_gb_per_s - 2 * r.copy_gb_per_s) < 0.02, "a copy reads and writes each byte");
  const bound = (r.weight_bytes / (r.memory_gb_per_s * 1e9)) * 1000;
  assert.ok(Math.abs(bound - r.bound_ms_per_token) / bound < 0.01, `${bound} vs ${r.bound_ms_per_token}`);
  assert.ok(Math.abs(r.decode_over_bound - r.decode_ms_per_token / r.bound_ms_per_token) < 0.01 * r.decode_over_bound + 1e-3);
  // The second bound: weight bytes over ONNX Runtime's best read rate.
  assert.ok(r.ort_read_gb_per_s > 0);
  const ortBound = (r.weight_bytes / (r.ort_read_gb_per_s * 1e9)) * 1000;
  assert.ok(Math.abs(ortBound - r.ort_bound_ms_per_token) / ortBound < 0.01, `${ortBound} vs ${r.ort_bound_ms_per_token}`);
  assert.ok(Math.abs(r.decode_over_ort_bound - r.decode_ms_per_token / r.ort_bound_ms_per_token) < 0.01 * r.decode_over_ort_bound + 1e-3);
  assert.match(decodeBenchTable(r), /^model tiny: 0\.2M parameters/);
  assert.match(decodeBenchTable(r), /\nORT read {2}[\d.]+ ms\/token .* decode = [\d.]+ x/);
});

test("ortReadRate: ReduceSum over the buffer (its sums checked), one rate per timed run, best >= median", async () => {
  const { ortReadRate } = await import("../../src/bench/ort-read.ts");
  const r = await ortReadRate(3 * 4096 + 100, 1, 3);
  assert.equal(r.bytes, 3 * 4096, "whole rows of 1024 floats");
  assert.equal(r.rates.length, 3);
  assert.ok(r.rates.every((x) => Number.isFinite(x) && x > 0));
  assert.equal(r.best_bytes_per_s, Math.max(...r.rates));
  assert.ok(r.best_bytes_per_s >= r.median_bytes_per_s && r.median_bytes_per_s >= Math.min(...r.rates));
});

test("benchQuantizedWeights: the bench's weights quantized row by row equal quantizing benchWeights whole", () => {
  const config = presetConfig("tiny");
  for (const mode of ["int4", "int8"] as const) {
    const scheme = quantScheme(mode);
    const rowByRow = benchQuantizedWeights(config, scheme, 5);
    const whole = quantizeWeights(config, benchWeights(config, 5), scheme);
    assert.deepEqual([...rowByRow.keys()], [...whole.keys()]);
    for (const [name, t] of whole) assert.deepEqual(rowByRow.get(name), t, `${mode} ${name}`);
  }
});

test("runDecodeBench --quantize: each variant's bytes, ratio = float32 ms / its ms, prefill ratio, peak RSS", async () => {
  const r = await runDecodeBench({ preset: "tiny", promptTokens: 8, newTokens: 3, runs: 1, threads: 1, quantize: ["int4", "int8"], readBytes: 1 << 20 });
  const config = presetConfig("tiny");
  assert.deepEqual(r.quantized!.map((q) => q.mode), ["int4", "int8"]);
  for (const q of r.quantized!) {
    const bytes = [...benchQuantizedWeights(config, quantScheme(q.mode), 0).values()].reduce((n, t) => n + t.byteLength, 0);
    assert.equal(q.weight_bytes, bytes, q.mode);
    assert.ok(q.weight_bytes < r.weight_bytes / (q.mode === "int4" ? 4 : 2), q.mode);
    assert.ok(Math.abs(q.ratio - q.float_decode_ms_per_token / q.decode_ms_per_token) <= 0.01 * q.ratio + 1e-3, `${q.mode} ratio`);
    assert.ok(Math.abs(q.prefill_ratio - q.prefill_tokens_per_s / q.float_prefill_tokens_per_s) <= 0.01 * q.prefill_ratio + 1e-3, `${q.mode} prefill ratio`);
  }
  assert.ok(r.quantized![0]!.peak_rss_mb! > 0, "the first variant's own peak");
  assert.equal(r.quantized![1]!.peak_rss_mb, undefined);
  assert.match(decodeBenchTable(r), /\nint4 +decode [\d.]+ ms\/token = [\d.]+x faster/);
});

test("measureInterference: one slowdown per load, in order, each load running during its windows; the worker exits", async () => {
  const { measureInterference } = await import("../../src/bench/interference.ts");
  const { initWeights } = await import("../../src/model/init.ts");
  const config = presetConfig("tiny");
  const r = await measureInterference(
    config,
    initWeights(config, { seed: 1 }),
    [
      { kind: "decode", name: "model", config },
      { kind: "stream", name: "stream", bytes: 1 << 16 },
      { kind: "arithmetic", name: "alu" },
    ],
    1,
  );
  assert.ok(r.alone_ms > 0 && Number.isFinite(r.alone_ms));
  assert.deepEqual(r.slowdowns.map((s) => s.load), ["model", "stream", "alu"]);
  for (const s of r.slowdowns) {
    assert.ok(s.ratio > 0 && Number.isFinite(s.ratio), `${s.load}: ${s.ratio}`);
    assert.ok(s.units > 0, `${s.load}: the worker did no work during its windows`);
  }
});
