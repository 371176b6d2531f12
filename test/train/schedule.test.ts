import { test } from "node:test";
import assert from "node:assert/strict";
import { learningRate, warmupStepsFor } from "../../src/train/schedule.ts";

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

test("schedule: linear warm-up then cosine decay to 0 (transformers' formula)", () => {
  const o = { lr: 2, totalSteps: 10, warmupSteps: 2, kind: "cosine" as const };
  const got = Array.from({ length: 10 }, (_, s) => learningRate(s, o));
  const want = [0, 1, 2, 1.9238795325112867, 1.7071067811865475, 1.3826834323650898, 1, 0.6173165676349102, 0.2928932188134524, 0.07612046748871326];
  got.forEach((v, i) => close(v, want[i]!));
});

test("schedule: linear decay reaches lr / (T - W) at the last step", () => {
  const o = { lr: 1, totalSteps: 10, warmupSteps: 2, kind: "linear" as const };
  assert.deepEqual(
    Array.from({ length: 10 }, (_, s) => learningRate(s, o)),
    [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125],
  );
});

test("schedule: no warm-up starts at the peak; constant stays there", () => {
  close(learningRate(0, { lr: 3e-4, totalSteps: 5, warmupSteps: 0, kind: "cosine" }), 3e-4);
  assert.equal(learningRate(4, { lr: 3e-4, totalSteps: 5, warmupSteps: 1, kind: "constant" }), 3e-4);
  assert.equal(learningRate(0, { lr: 3e-4, totalSteps: 5, warmupSteps: 1, kind: "constant" }), 0);
});

test("schedule: warm-up steps = ceil(ratio x total); bad ratios are refused", () => {
  assert.equal(warmupStepsFor(0.01, 100), 1);
  assert.equal(warmupStepsFor(0.01, 150), 2);
  assert.equal(warmupStepsFor(0, 100), 0);
  assert.equal(warmupStepsFor(0.1, 35), 4);
  assert.throws(() => warmupStepsFor(1.5, 10), /--warmup-ratio must be in \[0, 1\], got 1.5/);
});
