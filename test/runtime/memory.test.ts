// Memory stays flat over many runs of the same compiled training step (parameters, moments and outputs are
// replaced every step; nothing may accumulate). The loop collects garbage every 100 steps and RSS is read after a
// collection, so what is measured is memory still held: V8 collects the step outputs (external buffers) late, and
// when it lets them pile up the allocator keeps the pages, which would show as noise of ~10 MB here.
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import assert from "node:assert/strict";
import { TrainStep } from "../../src/runtime/train-step.ts";
import { rssMb } from "../../src/bench/stats.ts";
import { Rng } from "../../src/util/random.ts";
import { attentionLM, previousTokenBatch } from "./models.ts";

test("after a warm-up of 250 steps, RSS stays within 5% over the next 1,750 training steps", async (t) => {
  const spec = { vocab: 64, seq: 16, dim: 32, heads: 2 };
  const m = attentionLM("float32", spec, 4);
  const step = await TrainStep.create({ graph: m.graph, loss: m.loss, params: m.params }, m.init, { threads: 1 });
  const rng = new Rng(1);
  // The same feed objects every step, as a training loop over prepared batches would; fresh ones are fine too.
  const batches = Array.from({ length: 8 }, () => previousTokenBatch(rng, 8, spec.seq, spec.vocab));
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const settledRss = () => {
    gc();
    return rssMb();
  };
  // Allocators and ONNX Runtime's arena grow during the first steps (by about 7% here); after that nothing may.
  let warm = 0;
  let loss = 0;
  for (let i = 1; i <= 2000; i++) {
    loss = (await step.step(batches[i % batches.length]!, 0.01)).loss;
    if (i % 100 === 0) gc();
    if (i === 250) warm = settledRss();
  }
  const end = settledRss();
  t.diagnostic(`RSS after step 250: ${warm.toFixed(1)} MiB; after step 2000: ${end.toFixed(1)} MiB`);
  assert.ok(Number.isFinite(loss));
  assert.equal(step.stepCount, 2000);
  assert.ok(end <= warm * 1.05, `RSS grew from ${warm.toFixed(1)} MiB (step 250) to ${end.toFixed(1)} MiB (step 2000)`);
  assert.ok(end >= warm * 0.9, `RSS fell from ${warm.toFixed(1)} MiB to ${end.toFixed(1)} MiB (measurement broken?)`);
});
