// Memory stays flat over many runs of the same compiled training step (parameters, moments and outputs are
// replaced every step; nothing may accumulate).
import { test } from "node:test";
import assert from "node:assert/strict";
import { TrainStep } from "../../src/runtime/train-step.ts";
import { rssMb } from "../../src/bench/stats.ts";
import { Rng } from "../../src/util/random.ts";
import { attentionLM, previousTokenBatch } from "./models.ts";

test("1,000 training steps keep RSS within 10% of its value after step 50", async (t) => {
  const spec = { vocab: 64, seq: 16, dim: 32, heads: 2 };
  const m = attentionLM("float32", spec, 4);
  const step = await TrainStep.create({ graph: m.graph, loss: m.loss, params: m.params }, m.init, { threads: 1 });
  const rng = new Rng(1);
  // The same feed objects every step, as a training loop over prepared batches would; fresh ones are fine too.
  const batches = Array.from({ length: 8 }, () => previousTokenBatch(rng, 8, spec.seq, spec.vocab));
  let at50 = 0;
  let loss = 0;
  for (let i = 1; i <= 1000; i++) {
    loss = (await step.step(batches[i % batches.length]!, 0.01)).loss;
    if (i === 50) at50 = rssMb();
  }
  const at1000 = rssMb();
  t.diagnostic(`RSS after step 50: ${at50.toFixed(1)} MiB; after step 1000: ${at1000.toFixed(1)} MiB`);
  assert.ok(Number.isFinite(loss));
  assert.equal(step.stepCount, 1000);
  assert.ok(at1000 <= at50 * 1.1, `RSS grew from ${at50.toFixed(1)} MiB (step 50) to ${at1000.toFixed(1)} MiB (step 1000)`);
  assert.ok(at1000 >= at50 * 0.9, `RSS fell from ${at50.toFixed(1)} MiB to ${at1000.toFixed(1)} MiB (measurement broken?)`);
});
