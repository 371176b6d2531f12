// The self-training reward: mean of ROUGE-1 and ROUGE-L F1, stemmed by default (REST-PG), on hand-counted cases.
import { test } from "node:test";
import assert from "node:assert/strict";
import { rougeReward } from "../../src/eval/reward.ts";

test("rougeReward: mean of ROUGE-1 and ROUGE-L F1, with Porter stemming unless stemmer is false", () => {
  // Identical texts: both F1 are 1.
  assert.equal(rougeReward("the cat sat", "the cat sat"), 1);
  // "running dogs" vs "run dog": stemmed, both tokens match (F1 1 and LCS 2/2); unstemmed, none does.
  assert.equal(rougeReward("running dogs", "run dog"), 1);
  assert.equal(rougeReward("running dogs", "run dog", { stemmer: false }), 0);
  // Prediction "a b c d", reference "a c": unigram P 2/4, R 2/2, F1 2/3; LCS 2 ("a c"): the same F1.
  assert.ok(Math.abs(rougeReward("a b c d", "a c") - 2 / 3) < 1e-12);
  // Reference "a b", prediction "b a": unigram F1 1; LCS 1, P = R = 1/2, F1 1/2; mean 3/4.
  assert.ok(Math.abs(rougeReward("b a", "a b") - 0.75) < 1e-12);
});
