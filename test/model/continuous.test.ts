// Continuous batching: requests that join a running batch at different steps, each with its own sampling options and
// seed, get exactly the tokens of generating their prompt alone; a cancelled row leaves at the next step; bad options
// are refused before anything is queued; the influence of extra inputs is KL and a log-probability change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { generateBatch } from "../../src/model/generate.ts";
import { ContinuousBatcher, influenceOf, type BatchStepInfo } from "../../src/model/generation/continuous.ts";
import type { GenerateOptions } from "../../src/model/generation/session.ts";
import { UserError } from "../../src/util/errors.ts";
import { loadParityFixture } from "./fixtures.ts";

const untied = loadParityFixture("untied").checkpoint;
const model = new LoadedModel(untied.config, untied.weights);

const requests: { prompt: number[]; options: GenerateOptions; at: number }[] = [
  { prompt: [5, 17, 42, 96], options: { greedy: true, maxNewTokens: 9 }, at: 0 },
  { prompt: [71, 3], options: { temperature: 0.9, topP: 0.9, maxNewTokens: 6, seed: 4 }, at: 0 },
  { prompt: [9, 9, 9, 9, 9, 9, 9, 9], options: { temperature: 1.2, topK: 20, repetitionPenalty: 1.3, maxNewTokens: 7, seed: 11 }, at: 2 },
  { prompt: [1, 2], options: { temperature: 0.7, maxNewTokens: 5, seed: 3, eosIds: [7, 8, 9] }, at: 3 },
  { prompt: [33], options: { greedy: true, maxNewTokens: 4 }, at: 3 },
];

test("continuous batching: rows joining at different steps each get the tokens of generating alone", async () => {
  const steps: BatchStepInfo[] = [];
  const batcher = new ContinuousBatcher(await model.decoder(), null, { maxBatch: 3, onStep: (s) => steps.push(s) });
  let stepCount = 0;
  const results: Promise<{ ids: number[] }>[] = [];
  const submitAt = (n: number) => {
    for (const r of requests) if (r.at === n) results.push(batcher.submit({ prompt: r.prompt, options: r.options }));
  };
  submitAt(0);
  // Later requests arrive while the batch runs: after the first and the second step of it.
  const origin = batcher.model.stepLogits.bind(batcher.model);
  batcher.model.stepLogits = async (tokens) => {
    stepCount++;
    submitAt(stepCount + 1);
    return origin(tokens);
  };
  await Promise.all(results);
  await batcher.whenIdle();
  assert.equal(results.length, requests.length);
  const got = await Promise.all(results);
  const dec = await model.decoder();
  for (const [i, r] of requests.entries()) {
    const [alone] = await generateBatch(dec, [r.prompt], r.options);
    assert.deepEqual(got[i]!.ids, alone!.ids, `request ${i}`);
  }
  // maxBatch 3: the two first rows prefill together, then rows join (at most 3 live) as others leave.
  assert.equal(steps[0]!.kind, "prefill");
  assert.equal(steps[0]!.rows, 2);
  assert.ok(steps.some((s) => s.kind === "join"), "rows joined the running batch");
  assert.ok(steps.every((s) => s.rows <= 3), "never more than maxBatch rows");
  await batcher.whenIdle();
  assert.equal(batcher.active + batcher.queued, 0);
});

test("continuous batching: a cancelled row leaves at the next step and the others go on unchanged", async () => {
  const steps: BatchStepInfo[] = [];
  const batcher = new ContinuousBatcher(await model.decoder(), null, { onStep: (s) => steps.push(s) });
  let seen = 0;
  const cancelled = batcher.submit({
    prompt: [4, 5, 6], options: { greedy: true, maxNewTokens: 50 },
    onEvent: () => void seen++, cancelled: () => seen >= 3,
  });
  const other = batcher.submit({ prompt: [8, 8], options: { temperature: 0.8, seed: 2, maxNewTokens: 8 } });
  const [c, o] = await Promise.all([cancelled, other]);
  assert.equal(c.cancelled, true);
  assert.equal(c.ids.length, 3);
  const [alone] = await generateBatch(await model.decoder(), [[8, 8]], { temperature: 0.8, seed: 2, maxNewTokens: 8 });
  assert.deepEqual(o.ids, alone!.ids);
  // The row is cancelled after its third token: the step that fed it still had two rows, the later ones one.
  const stepRows = steps.filter((s) => s.kind === "step").map((s) => s.rows);
  assert.deepEqual(stepRows, [2, 2, 2, 1, 1, 1, 1]);
});

test("continuous batching: bad options are refused at submit, naming what is wrong", async () => {
  const batcher = new ContinuousBatcher(await model.decoder(), null);
  assert.throws(() => batcher.submit({ prompt: [1], options: { topP: 2 } }), (e) => e instanceof UserError && /top-p/.test(e.message));
  assert.throws(() => batcher.submit({ prompt: [1], options: { maxNewTokens: -1 } }), /max new tokens/);
  assert.throws(() => batcher.submit({ prompt: [], options: {} }), /empty/);
  assert.throws(() => batcher.submit({ prompt: [1, 1e6], options: {} }), /outside the vocabulary/);
  assert.equal(batcher.queued, 0);
});

test("influence: KL of the two softmaxes and the emitted token's log-probability change", () => {
  const a = Float32Array.of(1, 2, 3);
  const b = Float32Array.of(3, 2, 1);
  const p = [Math.exp(1), Math.exp(2), Math.exp(3)].map((x, _i, all) => x / all.reduce((s, y) => s + y, 0));
  const q = [...p].reverse();
  const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
  const inf = influenceOf(a, b, 2);
  assert.ok(Math.abs(inf.kl - kl) < 1e-6, `${inf.kl} vs ${kl}`);
  assert.ok(Math.abs(inf.logprobDelta - Math.log(p[2]! / q[2]!)) < 1e-6);
  assert.equal(influenceOf(a, a, 0).kl, 0);
});
