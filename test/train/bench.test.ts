import { test } from "node:test";
import assert from "node:assert/strict";
import { forwardFlopsPerToken } from "../../src/bench/train.ts";
import { halfWidth } from "../../src/bench/flythinker-decode.ts";
import { presetConfig } from "../../src/model/config.ts";
import { buildProgram } from "../../src/cli/main.ts";

test("bench train: forward FLOPs per token of the reference Generator and its half-width Reasoner", () => {
  const g = presetConfig("reference");
  const r = halfWidth(g);
  assert.deepEqual([r.hiddenSize, r.numLayers, r.numHeads, r.numKvHeads, r.headDim, r.vocabSize], [128, 4, 2, 1, 64, 4096]);
  // Generator: per layer q 256x256 + k, v 128x256 + o 256x256 + MLP 3 x 688x256 = 724,992; x4 layers + head 4096x256
  // = 3,948,544 matmul parameters -> 7,897,088; attention 4 x 4 layers x 256 x 4 heads x 64 = 1,048,576.
  assert.equal(forwardFlopsPerToken(g, 256, true), 7_897_088 + 1_048_576);
  // Reasoner (no LM head): per layer 2 x 128x128 + 2 x 64x128 + 3 x 344x128 = 181,248; x4 -> 1,449,984; attention
  // 4 x 4 x 256 x 2 x 64 = 524,288.
  assert.equal(forwardFlopsPerToken(r, 256, false), 1_449_984 + 524_288);
  assert.equal(forwardFlopsPerToken(r, 256, true), 1_449_984 + 524_288 + 2 * 4096 * 128);
});

test("bench train: registered as `flythinker bench train` with --json", () => {
  const bench = buildProgram().commands.find((c) => c.name() === "bench")!;
  const train = bench.commands.find((c) => c.name() === "train");
  assert.ok(train, "bench train is registered");
  assert.deepEqual(train.options.map((o) => o.long).sort(), ["--json", "--memory-cases", "--method", "--steps", "--threads"]);
});

test("bench train --method: an unknown method names the valid ones", async () => {
  const { trainBench } = await import("../../src/bench/benches.ts");
  await assert.rejects(trainBench.run({ method: "dpo", steps: "7" }, () => {}), /--method must be flythinker or nextquill, got "dpo"/);
});
