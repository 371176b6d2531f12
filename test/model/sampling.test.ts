// Next-token choice on hand-made logits: exact expected tokens and kept sets for each rule (HF semantics).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Sampler, applyRepetitionPenalty, argmax, draw, samplingDistribution, validateSampling, type Distribution,
} from "../../src/model/sampling.ts";
import { Rng } from "../../src/util/random.ts";
import { UserError } from "../../src/util/errors.ts";

const f32 = (xs: number[]) => Float32Array.from(xs);
const logOf = (ps: number[]) => f32(ps.map(Math.log));
/** An Rng stand-in that returns the given uniforms. */
const fixedRng = (...us: number[]) => ({ float: () => us.shift()! }) as unknown as Rng;

test("argmax: first index of the largest value", () => {
  assert.equal(argmax(f32([1, 5, 2, 5])), 1);
  assert.equal(argmax(f32([-3, -1, -2])), 1);
  assert.equal(argmax(f32([NaN, 0, 1])), 2);
});

test("repetition penalty: positive logits divided, negative multiplied, each distinct id once", () => {
  const l = f32([2, -2, 1, 0.5, 3]);
  applyRepetitionPenalty(l, [0, 1, 1, 1, 3], 2);
  assert.deepEqual([...l], [1, -4, 1, 0.25, 3]);
  const same = f32([2, -2]);
  applyRepetitionPenalty(same, [0, 1], 1);
  assert.deepEqual([...same], [2, -2]);
});

test("greedy with a repetition penalty: a repeated token loses to a fresh one", () => {
  const logits = f32([0, 3, 2.5, -1]);
  assert.equal(new Sampler({ greedy: true }).next(logits, [1]), 1);
  assert.equal(new Sampler({ greedy: true, repetitionPenalty: 1.5 }).next(logits, [1]), 2, "3 / 1.5 = 2 < 2.5");
  assert.equal(new Sampler({ temperature: 0 }).next(logits), 1, "temperature 0 is greedy");
  assert.deepEqual([...logits], [0, 3, 2.5, -1], "the caller's logits are not modified");
});

function kept(d: Distribution): number[] {
  return [...d.ids];
}

test("top-k keeps the k largest logits, with ties at the k-th value", () => {
  assert.deepEqual(kept(samplingDistribution(f32([1, 3, 2, 0, -1]), { topK: 2 })), [1, 2]);
  assert.deepEqual(kept(samplingDistribution(f32([1, 3, 2, 3, 0]), { topK: 1 })), [1, 3], "tie at the top");
  assert.deepEqual(kept(samplingDistribution(f32([1, 3, 2, 2, 0]), { topK: 2 })), [1, 2, 3], "tie at the boundary");
  assert.deepEqual(kept(samplingDistribution(f32([1, 3, 2]), { topK: 10 })), [0, 1, 2], "k above the vocabulary");
  const d = samplingDistribution(f32([0, Math.log(3), -5]), { topK: 2 });
  assert.deepEqual([...d.probs].map((p) => +p.toFixed(6)), [0.25, 0.75], "renormalised over the kept tokens");
});

test("top-p keeps each token while the probability ranked above it is below p", () => {
  const probs = [0.15, 0.5, 0.05, 0.3];
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.5 })), [1]);
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.51 })), [1, 3]);
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.79 })), [1, 3]);
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.81 })), [0, 1, 3]);
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.96 })), [0, 1, 2, 3]);
  assert.deepEqual(kept(samplingDistribution(logOf(probs), { topP: 0.01 })), [1], "the most likely token always stays");
  const d = samplingDistribution(logOf(probs), { topP: 0.7 });
  assert.deepEqual([...d.probs].map((p) => +p.toFixed(6)), [0.625, 0.375]);
});

test("temperature reshapes the distribution before top-p (HF order: temperature, top-k, top-p)", () => {
  // Logits 0, 1, 2. T = 1: probs 0.090, 0.245, 0.665; T = 0.5: 0.016, 0.117, 0.867.
  const l = f32([0, 1, 2]);
  assert.deepEqual(kept(samplingDistribution(l, { topP: 0.8 })), [1, 2]);
  assert.deepEqual(kept(samplingDistribution(l, { temperature: 0.5, topP: 0.8 })), [2]);
  const d = samplingDistribution(l, { temperature: 2 });
  const e = [0, 0.5, 1].map(Math.exp);
  const z = e[0]! + e[1]! + e[2]!;
  assert.ok(Math.abs(d.probs[1]! - e[1]! / z) < 1e-12);
  // top-k then top-p: top-k 2 leaves {1: 0.269, 2: 0.731}; top-p 0.7 then keeps only 2.
  assert.deepEqual(kept(samplingDistribution(l, { topK: 2, topP: 0.7 })), [2]);
});

test("draw: the uniform number picks by cumulative probability in id order", () => {
  const d: Distribution = { ids: Int32Array.from([2, 5, 9]), probs: Float64Array.from([0.5, 0.3, 0.2]) };
  assert.equal(draw(d, fixedRng(0)), 2);
  assert.equal(draw(d, fixedRng(0.49)), 2);
  assert.equal(draw(d, fixedRng(0.5)), 5);
  assert.equal(draw(d, fixedRng(0.79)), 5);
  assert.equal(draw(d, fixedRng(0.81)), 9);
  assert.equal(draw(d, fixedRng(0.999999)), 9);
});

test("Sampler: a seed reproduces the draws; frequencies follow the distribution", () => {
  const logits = logOf([0.6, 0.3, 0.1]);
  const a = new Sampler({}, 7);
  const b = new Sampler({}, 7);
  const c = new Sampler({}, 8);
  const sa = Array.from({ length: 200 }, () => a.next(logits));
  const sb = Array.from({ length: 200 }, () => b.next(logits));
  const sc = Array.from({ length: 200 }, () => c.next(logits));
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  const counts = [0, 0, 0];
  const s = new Sampler({}, 1);
  for (let i = 0; i < 20000; i++) counts[s.next(logits)]!++;
  [0.6, 0.3, 0.1].forEach((p, i) => assert.ok(Math.abs(counts[i]! / 20000 - p) < 0.015, `token ${i}: ${counts[i]}`));
  // The choice equals drawing from the documented distribution with the same generator.
  const rng = new Rng(5);
  const direct = Array.from({ length: 50 }, () => draw(samplingDistribution(logits, { topP: 0.8 }), rng));
  const viaSampler = new Sampler({ topP: 0.8 }, 5);
  assert.deepEqual(Array.from({ length: 50 }, () => viaSampler.next(logits)), direct);
  assert.ok(direct.every((t) => t === 0 || t === 1));
});

test("top-p on a Qwen-sized vocabulary equals sorting every token", () => {
  const V = 151936;
  const rng = new Rng(3);
  for (const [scale, topP] of [[1, 0.95], [4, 0.9], [0.2, 0.5], [8, 0.999]] as const) {
    const logits = new Float32Array(V);
    rng.fillNormal(logits, scale);
    const d = samplingDistribution(logits, { topP });
    // Reference: sort all tokens by probability (ties by id), keep while the mass above is below p.
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    const w = Float64Array.from(logits, (v) => Math.exp(v - max));
    const total = w.reduce((s, v) => s + v, 0);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => w[b]! - w[a]! || a - b);
    const ref: number[] = [];
    let above = 0;
    for (const i of order) {
      if (above >= topP * total) break;
      ref.push(i);
      above += w[i]!;
    }
    ref.sort((a, b) => a - b);
    assert.deepEqual(kept(d), ref, `scale ${scale}, p ${topP}: ${ref.length} tokens`);
  }
});

test("option checks name the bad value", () => {
  assert.throws(() => validateSampling({ temperature: -1 }), UserError);
  assert.throws(() => validateSampling({ topK: 1.5 }), /top-k must be an integer >= 0, got 1.5/);
  assert.throws(() => validateSampling({ topP: 0 }), /top-p must be in \(0, 1\], got 0/);
  assert.throws(() => validateSampling({ topP: 1.2 }), UserError);
  assert.throws(() => validateSampling({ repetitionPenalty: 0 }), /repetition penalty must be a number > 0/);
  assert.throws(() => samplingDistribution(f32([-Infinity, -Infinity]), {}), /every logit is -Infinity/);
});
