// The Reasoner worker (parallel decoding): same thoughts as the in-thread Reasoner for a batch of rows (prefill, steps,
// dropping a row), prompts longer than its shared buffers, errors carried back with their message, and a clean close
// with or without a request in flight.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LocalReasoner, WorkerReasoner, type ReasonerSpec } from "../../src/flythinker/reasoner.ts";
import { initWeights } from "../../src/model/init.ts";
import { DEFAULT_FUSION } from "../../src/flythinker/fusion.ts";
import { tinyConfig } from "./helpers.ts";

const config = tinyConfig({ hiddenSize: 16, numHeads: 2, numKvHeads: 1 });
const base: ReasonerSpec = { config, weights: initWeights(config, { seed: 7, std: 0.2 }), threads: 1 };
const withFusion: ReasonerSpec = { ...base, fusion: { options: DEFAULT_FUSION, generatorHidden: 32, scale: 1.7 } };

for (const [name, spec] of [["raw thoughts", base], ["thought vectors", withFusion]] as const) {
  test(`reasoner worker (${name}): equals the in-thread Reasoner, also past its initial buffer capacity`, async () => {
    const local = await LocalReasoner.create(spec);
    const worker = await WorkerReasoner.create(spec, 4); // room for 4 positions: the 11-token prompt must grow it
    try {
      const prompt = [3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46];
      const rows = [prompt, prompt.slice(0, 4), [7]];
      const a = await local.prefill(rows);
      const b = await worker.prefill(rows);
      const width = spec.fusion ? 32 : 16;
      assert.deepEqual(b.map((t) => t.length), rows.map((r) => r.length * width));
      b.forEach((t, r) => assert.deepEqual(Array.from(t), Array.from(a[r]!), `row ${r}`));
      for (const ids of [[26, 43, 38], [5, 6, 7]]) {
        local.begin(ids);
        worker.begin(ids);
        assert.deepEqual(Array.from(await worker.thought()), Array.from(await local.thought()));
      }
      // Drop the middle row: the others go on as before.
      await local.keepRows([0, 2]);
      await worker.keepRows([0, 2]);
      local.begin([9, 10]);
      worker.begin([9, 10]);
      const after = await worker.thought();
      assert.equal(after.length, 2 * width);
      assert.deepEqual(Array.from(after), Array.from(await local.thought()));
    } finally {
      await local.close();
      await worker.close();
    }
  });
}

test("reasoner worker: a failing request rejects with the worker's message; the worker keeps serving", async () => {
  const worker = await WorkerReasoner.create(base);
  try {
    await worker.prefill([[1, 2]]);
    worker.begin([config.vocabSize + 5]);
    await assert.rejects(worker.thought(), /Reasoner worker: token id \d+ is outside the vocabulary/);
    worker.begin([3]);
    assert.equal((await worker.thought()).length, 16);
    assert.throws(() => {
      worker.begin([4]);
      worker.begin([5]);
    }, /a request is still in flight/);
    await worker.thought();
  } finally {
    await worker.close();
  }
});

test("reasoner worker: close returns with a request in flight", async () => {
  const worker = await WorkerReasoner.create(base);
  await worker.prefill([[1, 2, 3]]);
  worker.begin([4]);
  await worker.close();
});
