// The step-memory estimate (numbers worked out by hand from the formulas in src/train/memory-budget.ts), the budget
// chosen from free memory, and the refusal of a budget that cannot fit, before any training.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PairConfig } from "../../src/flythinker/graph.ts";
import { parameterCount } from "../../src/model/config.ts";
import {
  budgetCandidates,
  checkBatchTokens,
  chooseBatchTokens,
  chunkedHead,
  estimateStepMemory,
  GROUPED_UPDATE_SLACK,
  pairWeightCounts,
  unfusedHead,
} from "../../src/train/memory-budget.ts";
import { type Reporter, silentReporter } from "../../src/train/progress.ts";
import { type RunOptions, runTraining } from "../../src/train/run.ts";
import { DEFAULT_TRAIN_CONFIG } from "../../src/train/trainer.ts";
import { UserError } from "../../src/util/errors.ts";
import { writePair, writePairsFile } from "./fixtures.ts";
import { tiny } from "./helpers.ts";

// V = 1000, D = 16, 1 layer, 2 heads / 1 kv head of 8, MLP 32, untied head, q/k/v biases.
const GEN = tiny({ vocabSize: 1000, hiddenSize: 16, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 8, intermediateSize: 32 });
const SFT: PairConfig = { generator: GEN, fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" } };

test("memory budget: parameter count and every term of the estimate, by hand", () => {
  // attention 16*16 + 2*16*8 + 16*16 + (16 + 16) = 800; layer 800 + 3*16*32 + 2*16 = 2368; 2 * 1000*16 + 2368 + 16.
  assert.equal(parameterCount(GEN), 34384);
  assert.deepEqual(pairWeightCounts(SFT), { trained: 34384, frozen: 0 });
  const e = estimateStepMemory({ models: [GEN], trainedWeights: 34384, frozenWeights: 0, batchTokens: 256, longestRow: 64, head: unfusedHead(1000) });
  assert.equal(e.loaded, 4 * 34384);
  assert.equal(e.weights, 8 * 34384); // loaded + the optimiser's flat copy
  assert.equal(e.optimizer, 8 * 34384);
  assert.equal(e.update, 40 * 34384);
  // Per token: layer 8*16 + 3*(2 + 2)*8 + 4*32 = 352, attention 3*2*64 = 384, embeddings + final norm 2*16 = 32.
  assert.equal(e.activations, 4 * (352 + 384 + 32) * 256);
  assert.equal(e.head, 4 * 4 * 1000 * 256);
  assert.equal(e.total, 275072 + 275072 + 1375360 + 786432 + 4096000);
  // A chunked head of 128 columns holds 4 x 128 floats per token instead of 4 x 1000.
  const c = estimateStepMemory({ models: [GEN], trainedWeights: 34384, frozenWeights: 0, batchTokens: 256, longestRow: 64, head: chunkedHead(128) });
  assert.equal(c.head, 4 * 4 * 128 * 256);
  assert.equal(e.total - c.total, 4 * 4 * (1000 - 128) * 256);
  // Rows longer than the budget cannot happen: the attention row is cut to the budget.
  const short = estimateStepMemory({ models: [GEN], trainedWeights: 1, frozenWeights: 0, batchTokens: 32, longestRow: 64, head: chunkedHead(1) });
  assert.equal(short.activations, 4 * (352 + 3 * 2 * 32 + 32) * 32);
});

test("memory budget: a large model's grouped update holds its gradients twice plus the slices, not new moments", () => {
  const base = { models: [GEN], trainedWeights: 34384, frozenWeights: 0, batchTokens: 256, longestRow: 64, head: chunkedHead(1) };
  const grouped = estimateStepMemory({ ...base, groupedUpdate: true });
  assert.equal(grouped.update, 8 * 34384 + 2 ** 30 + 3 * 4 * 2 ** 22);
  assert.equal(grouped.total - estimateStepMemory(base).total, grouped.update - 40 * 34384);
  // By default the path follows the trained weights' size: the 0.5B shape (494M weights, 1.98 GB) is grouped.
  const big = { ...base, trainedWeights: 494_032_768 };
  assert.equal(estimateStepMemory(big).update, 8 * 494_032_768 + GROUPED_UPDATE_SLACK);
  assert.equal(estimateStepMemory({ ...big, trainedWeights: 2 ** 28 }).update, 40 * 2 ** 28); // exactly 1 GiB: whole
});

test("memory budget: with activation checkpointing a layer keeps its input only, plus one layer's working set", () => {
  const GEN3 = { ...GEN, numLayers: 3 };
  const base = { models: [GEN3], trainedWeights: 1, frozenWeights: 0, batchTokens: 256, longestRow: 64, head: chunkedHead(1) };
  const plain = estimateStepMemory(base);
  const ckpt = estimateStepMemory({ ...base, checkpointActivations: true });
  // Per token: plain 3 * (352 + 384) + 32; checkpointed 3 * 16 (layer inputs) + (352 + 384) + 32.
  assert.equal(plain.activations, 4 * (3 * 736 + 32) * 256);
  assert.equal(ckpt.activations, 4 * (3 * 16 + 736 + 32) * 256);
});

test("memory budget: a frozen Reasoner's weights count once, with no optimiser state", () => {
  const rsn = tiny({ vocabSize: 1000, hiddenSize: 8, numHeads: 1, numKvHeads: 1, headDim: 8, intermediateSize: 16 });
  const pair: PairConfig = { generator: GEN, reasoner: rsn, fusion: { lambda: 0.5, fuse: "projection", enhance: "global" } };
  const r = parameterCount(rsn);
  assert.deepEqual(pairWeightCounts(pair), { trained: 34384 + r + 16 * 8, frozen: 0 });
  assert.deepEqual(pairWeightCounts(pair, true), { trained: 34384 + 16 * 8, frozen: r });
});

test("memory budget: candidates are powers of two and 1.5 x powers of two, down to the longest example", () => {
  assert.deepEqual(budgetCandidates(4096, 300), [4096, 3072, 2048, 1536, 1024, 768, 512, 384, 300]);
  assert.deepEqual(budgetCandidates(4096, 4096), [4096]);
  assert.deepEqual(budgetCandidates(1000, 700), [768, 700]);
});

test("memory budget: the largest budget that fits is chosen; none fitting is a UserError with the numbers", () => {
  // Longest example 300 tokens, so every candidate's row is 300: per token 352 + 3*2*300 + 32 = 2184 floats of
  // activations and 4000 of head = 24736 bytes. New memory at budget b: 1925504 - 137536 + 24736 b.
  const need = (b: number) => 1787968 + 24736 * b;
  const ctx = { pair: SFT, longestExample: 300, available: 80_000_000 };
  // 0.8 x 80 MB = 64,000,000: 2048 needs 52,447,296, 3072 needs 77,776,960.
  assert.ok(need(2048) <= 64_000_000 && need(3072) > 64_000_000);
  const choice = chooseBatchTokens(ctx);
  assert.equal(choice.batchTokens, 2048);
  assert.equal(choice.estimate.total - choice.estimate.loaded, need(2048));
  assert.equal(chooseBatchTokens({ ...ctx, available: 1e12 }).batchTokens, 4096);
  assert.equal(chooseBatchTokens(ctx, 1024).batchTokens, 1024);
  // 0.8 x 5 MB = 4 MB < need(300) = 9,208,768.
  assert.throws(
    () => chooseBatchTokens({ ...ctx, available: 5_000_000 }),
    (e: unknown) =>
      e instanceof UserError &&
      /no --batch-tokens from 4096 down to the longest example \(300 tokens\) fits in memory; at 300: estimated peak 8\.9 MB/.test(e.message) &&
      /available 4\.8 MB free \+ 0\.1 MB already loaded/.test(e.message),
  );
  assert.equal(checkBatchTokens(ctx, 2048).batchTokens, 2048);
  assert.throws(
    () => checkBatchTokens(ctx, 3072),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.startsWith("--batch-tokens 3072 does not fit in memory: estimated peak 74.3 MB = weights 0.3 MB + optimiser state 0.3 MB + ") &&
      /head 46\.9 MB \(\[tokens, 1000\] logits\)/.test(e.message) &&
      /Lower --batch-tokens \(and raise --grad-accum to keep the tokens per step\), or use --checkpoint-activations\./.test(e.message),
  );
});

test("train: a --batch-tokens that cannot fit is refused before training; without one the budget is chosen and printed", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "memory-budget-test-"));
  try {
    const models = writePair(join(tmp, "models"));
    writePairsFile(join(tmp, "pairs.jsonl"), 30, 3);
    const lines: string[] = [];
    const reporter: Reporter = { ...silentReporter, log: (l) => lines.push(l) };
    const options = (patch: Partial<RunOptions>): RunOptions => ({
      generator: models.generator,
      data: join(tmp, "pairs.jsonl"),
      out: join(tmp, "out"),
      config: { ...DEFAULT_TRAIN_CONFIG, method: "sft", maxSteps: 2, lr: 1e-2, seed: 2 },
      fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
      cadence: { checkpointEvery: 0, evalEvery: 0 },
      threads: 1,
      reporter,
      ...patch,
    });
    // 2^40 tokens of a 300-word vocabulary need petabytes.
    const huge = 2 ** 40;
    await assert.rejects(
      runTraining(options({ config: { ...options({}).config, batchTokens: huge } })),
      (e: unknown) => e instanceof UserError && e.message.startsWith(`--batch-tokens ${huge} does not fit in memory: estimated peak `),
    );
    assert.equal(existsSync(join(tmp, "out")), false, "nothing was trained or written");
    const { result } = await runTraining(options({ autoBatchTokens: true }));
    assert.equal(result.steps, 2);
    const chosen = lines.find((l) => l.startsWith("--batch-tokens "));
    assert.ok(chosen, lines.join("\n"));
    assert.match(chosen, /^--batch-tokens 4096 \(chosen from free memory: estimated peak [\d.]+ MB = weights /);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
