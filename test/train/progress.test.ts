import { test } from "node:test";
import assert from "node:assert/strict";
import { formatDuration, formatStep, lineReporter } from "../../src/train/progress.ts";

test("progress: plain lines about every 1% of the run, always with validation and at the end", () => {
  const lines: string[] = [];
  const r = lineReporter((l) => lines.push(l));
  r.start(250, 0);
  for (let s = 1; s <= 250; s++) {
    r.step({ step: s, total: 250, epoch: s / 100, loss: 2 + 1 / s, lr: 1e-4, tokensPerS: 1234.4, etaS: 250 - s, valLoss: s === 7 ? 2.5 : undefined, rssBytes: 1.234 * 2 ** 30 + s });
  }
  r.log("checkpoint x");
  // ceil(250 / 100) = 3: steps 3, 6, ..., 249, plus step 7 (validation), step 250 and the log line.
  assert.equal(lines.length, 83 + 1 + 1 + 1);
  assert.equal(lines[0], "step 3/250 epoch 0.03 loss 2.3333 lr 1.00e-4 1234 tok/s eta 4m07s rss 1.23 GB");
  assert.equal(lines[2], "step 7/250 epoch 0.07 loss 2.1429 val 2.5000 lr 1.00e-4 1234 tok/s eta 4m03s rss 1.23 GB");
  assert.equal(lines[lines.length - 2], "step 250/250 epoch 2.50 loss 2.0040 lr 1.00e-4 1234 tok/s eta 0s rss 1.23 GB");
  assert.equal(lines[lines.length - 1], "checkpoint x");
});

test("progress: a step without a memory reading leaves the rss field out; GB are 2^30 bytes", () => {
  const info = { step: 1, total: 2, epoch: 0.5, loss: 1, lr: 1e-3, tokensPerS: 10, etaS: 5 };
  assert.equal(formatStep(info), "step 1/2 epoch 0.50 loss 1.0000 lr 1.00e-3 10 tok/s eta 5s");
  assert.equal(formatStep({ ...info, rssBytes: 5.5 * 2 ** 30 }), "step 1/2 epoch 0.50 loss 1.0000 lr 1.00e-3 10 tok/s eta 5s rss 5.50 GB");
});

test("progress: durations", () => {
  assert.deepEqual([formatDuration(0), formatDuration(59.6), formatDuration(61), formatDuration(3 * 3600 + 5 * 60 + 9), formatDuration(NaN)], ["0s", "1m00s", "1m01s", "3h05m", "?"]);
});
