// The FlyThinker decode bench's bookkeeping at the tiny shape in int4 (never its timings): the models, the ratios
// from its own figures, one interference slowdown per load.
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchFlyThinkerDecode, flyThinkerDecodeTable, halfWidth } from "../../src/bench/flythinker-decode.ts";
import { presetConfig } from "../../src/model/config.ts";

test("benchFlyThinkerDecode --pair at the tiny shape in int4: ratios are the quotients of its figures", async () => {
  const r = await benchFlyThinkerDecode({ preset: "tiny", quantize: "int4", promptTokens: 8, newTokens: 3, runs: 1, interferenceRounds: 1 });
  const g = presetConfig("tiny");
  const h = halfWidth(g);
  assert.equal(r.weights, "int4");
  assert.equal(r.generator, `d${g.hiddenSize} L${g.numLayers} H${g.numHeads}/${g.numKvHeads} F${g.intermediateSize} V${g.vocabSize}`);
  assert.equal(r.reasoner, `d${h.hiddenSize} L${h.numLayers} H${h.numHeads}/${h.numKvHeads} F${h.intermediateSize} V${h.vocabSize}`);
  assert.deepEqual([r.prompt_tokens, r.new_tokens, r.runs], [8, 3, 1]);
  for (const k of ["sft_ms_per_token", "sequential_ms_per_token", "parallel_ms_per_token", "sft_all_cores_ms_per_token", "generator_alone_ms"] as const) {
    assert.ok(Number.isFinite(r[k]) && r[k] > 0, k);
  }
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 0.01 * Math.abs(b) + 2e-3, `${what}: ${a} vs ${b}`);
  close(r.parallel_over_sft, r.parallel_ms_per_token / r.sft_ms_per_token, "parallel / SFT");
  close(r.parallel_over_sft_all_cores, r.parallel_ms_per_token / r.sft_all_cores_ms_per_token, "parallel / SFT all cores");
  close(r.parallel_over_sft_p50, r.parallel_p50_ms / r.sft_p50_ms, "p50 ratio");
  close(r.generator_slowdown_in_parallel, r.parallel_generator_ms / r.generator_alone_ms, "Generator slowdown");
  assert.equal(r.interference.length, 5);
  assert.equal(r.interference[0]!.load, "the Reasoner decoding");
  assert.ok(r.interference.every((x) => x.ratio > 0 && Number.isFinite(x.ratio)));
  assert.match(flyThinkerDecodeTable(r), /; int4; 3 tokens after 8, median of 1\n/);
  assert.match(flyThinkerDecodeTable(r), /x SFT \(target <= 1\.15\)/);
});

test("halfWidth: half the width and heads, key/value heads a divisor of the heads (the 0.5B shape's 14 heads -> 7, 1)", () => {
  const q = halfWidth(presetConfig("qwen2.5-0.5b-shape"));
  assert.deepEqual([q.hiddenSize, q.numHeads, q.numKvHeads, q.headDim, q.intermediateSize], [448, 7, 1, 64, 2432]);
  const r = halfWidth(presetConfig("reference"));
  assert.equal(r.numHeads % r.numKvHeads, 0);
  assert.equal(r.hiddenSize, presetConfig("reference").hiddenSize / 2);
});
