// The rescale-baseline recipe: which texts are kept, disjoint random pairs, per-layer means of the pairs' scores.
import { test } from "node:test";
import assert from "node:assert/strict";
import { baselinePairs, baselineTexts, computeBaseline } from "../../../src/eval/bertscore/baseline.ts";
import { BertScorer } from "../../../src/eval/bertscore/scorer.ts";
import { EncoderModel } from "../../../src/model/encoder/model.ts";
import { fixtureDir } from "../../model/encoder/fixtures.ts";

test("texts of 1..31 space-separated words (stripped) are kept; pairs are disjoint halves of a shuffle", () => {
  const kept = baselineTexts(["  a b  ", "", "   ", "w ".repeat(31).trim(), "w ".repeat(32).trim(), "c"]);
  assert.deepEqual(kept, ["a b", "w ".repeat(31).trim(), "c"]);
  const texts = Array.from({ length: 9 }, (_, i) => `text ${i}`);
  const { hyp, ref } = baselinePairs(texts, 5);
  assert.equal(hyp.length, 4);
  assert.equal(ref.length, 4);
  assert.equal(new Set([...hyp, ...ref]).size, 8);
  assert.deepEqual(baselinePairs(texts, 5), { hyp, ref });
  assert.notDeepEqual(baselinePairs(texts, 6).hyp, hyp);
  assert.equal(baselinePairs(texts, 5, 2).hyp.length, 2);
});

test("each layer's baseline is the mean P, R, F of its pairs without idf", async () => {
  const texts = ["the food was very good", "she said it was great", "a chef cooked the food", "he was the cook", "it was a good year", "the cook was great"];
  const model = EncoderModel.fromDir(fixtureDir("distilbert"));
  const rows = await computeBaseline(model, "distilbert", texts, { seed: 1 });
  assert.deepEqual(rows.map((r) => r.layer), [0, 1, 2]);
  const { hyp, ref } = baselinePairs(texts, 1);
  for (const layer of [0, 2]) {
    const s = await new BertScorer(model, "distilbert", { layer }).score(hyp, ref);
    for (const k of ["P", "R", "F"] as const) {
      const mean = s[k].reduce((a, b) => a + b, 0) / s[k].length;
      assert.ok(Math.abs(rows[layer]![k] - mean) < 1e-12, `layer ${layer} ${k}`);
    }
  }
  await model.release();
});
