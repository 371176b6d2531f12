// The Impr. column: the mean relative change over the metrics present, against a reference method.
import { test } from "node:test";
import assert from "node:assert/strict";
import { averageRelativeImprovement } from "../../src/eval/improvement.ts";

const METRICS = ["rouge1", "rougeL", "bleu", "meteor", "bertscore"];

test("reproduces the paper's RAG row on Product Review: (11.87 + 7.82 + 114.82 + 29.50 + 1.38) / 5 = 33.08%", () => {
  // Only the per-metric relative changes of this row are at hand, so the reference scores are arbitrary and the
  // method's scores are built from them; the mean of the five changes must give the paper's 33.08.
  const base = { rouge1: 0.2791, rougeL: 0.1544, bleu: 1.0137, meteor: 0.1651, bertscore: 0.7461 };
  const rel = { rouge1: 11.87, rougeL: 7.82, bleu: 114.82, meteor: 29.5, bertscore: 1.38 };
  const method = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, v * (1 + rel[k as keyof typeof rel] / 100)]));
  const r = averageRelativeImprovement(method, base, METRICS);
  assert.deepEqual(r.metrics, METRICS);
  assert.ok(Math.abs(r.value! - 33.08) < 0.01, `Impr. ${r.value}`);
  // Without BERTScore the mean is over four metrics (and differs: the paper's value needs all five).
  const four = averageRelativeImprovement(method, base, METRICS.slice(0, 4));
  assert.ok(Math.abs(four.value! - (11.87 + 7.82 + 114.82 + 29.5) / 4) < 1e-9);
});

test("the reference itself is 0; metrics missing or 0 in the reference are left out; none left gives null", () => {
  const a = { rouge1: 0.3, rougeL: 0.2, bleu: 0 };
  assert.equal(averageRelativeImprovement(a, a, ["rouge1", "rougeL"]).value, 0);
  const r = averageRelativeImprovement({ rouge1: 0.4, rougeL: 0.3, bleu: 2, bertscore: 0.9 }, { rouge1: 0.2, rougeL: 0.2, bleu: 0, bertscore: null }, METRICS);
  assert.deepEqual(r.metrics, ["rouge1", "rougeL"]);
  assert.ok(Math.abs(r.value! - 75) < 1e-9);
  assert.deepEqual(averageRelativeImprovement({}, {}, METRICS), { value: null, metrics: [] });
});
