// Coconut's stage-k layout and label masks, written out by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inferencePrompt, stageExample, stagePlan } from "../../../src/baselines/coconut/layout.ts";
import { coconutBatch } from "../../../src/baselines/coconut/batch.ts";
import { IGNORE_INDEX as TRAIN_IGNORE } from "../../../src/train/batching.ts";
import { IGNORE_INDEX } from "../../../src/baselines/coconut/batch.ts";
import { UserError } from "../../../src/util/errors.ts";

const T = { bot: 90, eot: 91, latent: 92 };
const EOS = 2;
const q = [10, 11, 12];
const steps = [[20, 21], [30], [40, 41, 42]]; // K = 3
const a = [50, 51];
const L = T.latent;
const X = IGNORE_INDEX;


function layout(stage: number, c: number, maxLatentStage = 4, markers = true) {
  const e = stageExample(q, steps, a, T, { stage, c, maxLatentStage, eosId: EOS, markers });
  return { prompt: e.promptIds, target: e.targetIds, start: e.latentStart, n: e.latentCount };
}

test("coconut layout: stage k replaces the first k steps by k*c slots; past the last stage all steps, max*c slots", () => {
  // k = 0: markers, no slots, every step kept.
  assert.deepEqual(layout(0, 1), { prompt: [10, 11, 12, 90, 91], target: [20, 21, 30, 40, 41, 42, 50, 51, 2], start: 4, n: 0 });
  // k = 1 < K, c = 1.
  assert.deepEqual(layout(1, 1), { prompt: [10, 11, 12, 90, L, 91], target: [30, 40, 41, 42, 50, 51, 2], start: 4, n: 1 });
  // k = 2 < K, c = 2: 4 slots.
  assert.deepEqual(layout(2, 2), { prompt: [10, 11, 12, 90, L, L, L, L, 91], target: [40, 41, 42, 50, 51, 2], start: 4, n: 4 });
  // k = 4 >= K = 3 (k <= max): every step gone, still k*c = 4 slots.
  assert.deepEqual(layout(4, 1), { prompt: [10, 11, 12, 90, L, L, L, L, 91], target: [50, 51, 2], start: 4, n: 4 });
  // k = 5 > max = 4: every step gone, max*c slots (c = 2: 8).
  assert.deepEqual(layout(5, 2), { prompt: [10, 11, 12, 90, ...Array(8).fill(L), 91], target: [50, 51, 2], start: 4, n: 8 });
  // k = 5 > max = 2 with K = 3: all steps skipped even though k - 1 = max < K.
  assert.deepEqual(stagePlan(5, 3, { maxLatentStage: 2, c: 1 }), { skip: 3, latents: 2 });
  // No markers and no slots: the SFT example (prompt = question, target = steps + answer + EOS).
  assert.deepEqual(layout(0, 1, 4, false), { prompt: [10, 11, 12], target: [20, 21, 30, 40, 41, 42, 50, 51, 2], start: 3, n: 0 });
  assert.throws(() => layout(-1, 1), UserError);
  assert.throws(() => layout(1, 1.5), UserError);
});

test("coconut batch: the ignore label is the trainer's", () => assert.equal(IGNORE_INDEX, TRAIN_IGNORE));

test("coconut layout: decoding prompt has c * min(stage, max) slots", () => {
  assert.deepEqual(inferencePrompt(q, T, { stage: 2, maxLatentStage: 3, c: 2 }), [10, 11, 12, 90, L, L, L, L, 91]);
  assert.deepEqual(inferencePrompt(q, T, { stage: 9, maxLatentStage: 3, c: 1 }), [10, 11, 12, 90, L, L, L, 91]);
  assert.deepEqual(inferencePrompt(q, T, { stage: 0, maxLatentStage: 3, c: 1 }), [10, 11, 12, 90, 91]);
});

test("coconut batch: labels are -100 exactly on the question, the markers and the slots (and padding)", () => {
  const o = { stage: 2, maxLatentStage: 3, c: 1, eosId: EOS };
  const long = stageExample(q, steps, a, T, o, "long"); // [10 11 12 90 L L 91 | 40 41 42 50 51 2]
  const short = stageExample([13], [[60], [61], [62]], [70], T, o, "short"); // [13 90 L L 91 | 62 70 2]
  const b = coconutBatch([long, short], 0);
  assert.deepEqual([b.prefix, b.latents, b.tail], [4, 2, 7]);
  const rows = (t: BigInt64Array, w: number) => [0, 1].map((r) => Array.from(t.subarray(r * w, (r + 1) * w), Number));
  const f = b.feeds as Record<string, { data: BigInt64Array }>;
  assert.deepEqual(rows(f.prefix_ids!.data, 4), [[10, 11, 12, 90], [0, 0, 13, 90]]);
  assert.deepEqual(rows(f.prefix_mask!.data, 4), [[1, 1, 1, 1], [0, 0, 1, 1]]);
  assert.deepEqual(rows(f.prefix_positions!.data, 4), [[0, 1, 2, 3], [0, 0, 0, 1]]);
  assert.deepEqual(rows(f.tail_ids!.data, 7), [[91, 40, 41, 42, 50, 51, 2], [91, 62, 70, 2, 0, 0, 0]]);
  // Column p holds the label of column p + 1's token: <eot>'s column (6) predicts the first target token.
  assert.deepEqual(rows(f.labels!.data, 13), [
    [X, X, X, X, X, X, 40, 41, 42, 50, 51, 2, X],
    [X, X, X, X, X, X, 62, 70, 2, X, X, X, X],
  ]);
  assert.equal(b.scored, 6 + 3);
  assert.throws(() => coconutBatch([long, stageExample(q, steps, a, T, { ...o, stage: 1 }, "other")]), /latent slots/);
});
