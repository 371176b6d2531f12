// Resident memory stays flat over a training run whose batches keep changing shape (rows x longest row), with a
// vocabulary large enough that the [tokens, vocab] tensors of the head dominate the step. Memory that ONNX Runtime
// keeps for one shape must serve the next: after the first steps have seen the large shapes, nothing may pile up.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { PairConfig } from "../../src/flythinker/graph.ts";
import { type Example, exampleLength, makeBatch, planEpoch } from "../../src/train/batching.ts";
import { Trainer } from "../../src/train/trainer.ts";
import { rssMb } from "../../src/bench/stats.ts";
import { collectGarbage } from "../../src/util/memory.ts";
import { Rng } from "../../src/util/random.ts";
import { config, fusion, pairWeights, tiny } from "./helpers.ts";

const VOCAB = 32768;
const BUDGET = 384;

function examples(n: number, seed: number): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = 8 + rng.int(BUDGET - 8); // 8 .. 383 tokens
    const prompt = 2 + rng.int(Math.min(16, len - 3));
    return {
      promptIds: Array.from({ length: prompt }, () => rng.int(VOCAB)),
      targetIds: Array.from({ length: len - prompt }, () => rng.int(VOCAB)),
    };
  });
}

/** RSS once dead buffers are gone: without a collection a reading depends on where V8's collection cycle stands
 * (ORT's outputs are array buffers outside V8's heap; tens of MiB of them can be dead but resident at any moment). */
function settledRssMb(): number {
  collectGarbage();
  collectGarbage();
  return rssMb();
}

/** Median of the per-step RSS readings the trainer logged for steps first..last (1-based, inclusive). */
function windowMedian(logged: number[], first: number, last: number): number {
  const w = logged.slice(first - 1, last).sort((a, b) => a - b);
  return w[w.length >> 1]!;
}

test("training memory: RSS after step 200 is within 10% of RSS after step 20 over batches of changing shapes", async (t) => {
  const gen = tiny({ vocabSize: VOCAB, eosTokenId: VOCAB - 1, hiddenSize: 16, intermediateSize: 32 });
  const pair: PairConfig = { generator: gen, fusion: fusion() };
  const train = examples(600, 5);
  const cfg = config({ method: "sft", maxSteps: 200, batchTokens: BUDGET, lr: 1e-3, seed: 7 });
  // The shapes the run meets: those of its first epoch (same lengths, budget and seed) already number in the dozens.
  const lengths = train.map(exampleLength);
  const shapes = new Set(planEpoch(lengths, BUDGET, new Rng(cfg.seed)).map((b) => {
    const batch = makeBatch(train, b);
    return `${batch.rows}x${batch.seq}`;
  }));
  assert.ok(shapes.size >= 50, `only ${shapes.size} batch shapes`);

  const trainer = await Trainer.create({ pair, weights: pairWeights(pair, 1, 0.02), train, config: cfg, threads: 1 });
  await trainer.run({ stopAfter: 20 });
  const at20 = settledRssMb();
  const r = await trainer.run();
  const at200 = settledRssMb();
  assert.equal(r.steps, 200);
  assert.ok(Number.isFinite(r.finalLoss));
  const logged = r.metrics.map((m) => m.rss_mb!);
  t.diagnostic(`${shapes.size} shapes in the first epoch; RSS after step 20: ${at20.toFixed(0)} MiB, after step 200: ${at200.toFixed(0)} MiB; ` +
    `logged rss_mb at steps 1, 20, 50, 100, 200: ${[0, 19, 49, 99, 199].map((i) => logged[i]).join(", ")}; peak ${r.metrics[199]!.peak_rss_mb} MiB`);
  // The claim is on settled readings; the medians of the trainer's own unsettled per-step readings are shown beside.
  const early = windowMedian(logged, 11, 30);
  const late = windowMedian(logged, 181, 200);
  t.diagnostic(`median logged RSS, steps 11-30: ${early} MiB, steps 181-200: ${late} MiB`);
  assert.ok(at200 <= at20 * 1.1, `RSS grew from ${at20.toFixed(0)} MiB (step 20) to ${at200.toFixed(0)} MiB (step 200)`);
  assert.ok(at200 >= at20 * 0.5, `RSS fell from ${at20.toFixed(0)} MiB to ${at200.toFixed(0)} MiB (measurement broken?)`);
});
