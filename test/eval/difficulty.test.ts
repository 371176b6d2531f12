// Difficulty levels: group sizes, ranking by the normalised mean, the same groups for every method, sentence BLEU.
import { test } from "node:test";
import assert from "node:assert/strict";
import { difficultyLevels, levelSizes } from "../../src/eval/difficulty.ts";
import { bleuSegmentStats, sentenceBleu, corpusBleu } from "../../src/eval/bleu.ts";
import { evaluateRuns, renderMarkdown } from "../../src/eval/report.ts";

test("four groups of equal size, the remainder to the hardest first", () => {
  assert.deepEqual(levelSizes(8), [2, 2, 2, 2]);
  assert.deepEqual(levelSizes(10), [3, 3, 2, 2]);
  assert.deepEqual(levelSizes(11), [3, 3, 3, 2]);
  assert.deepEqual(levelSizes(3), [1, 1, 1, 0]);
});

test("levels follow the mean of min-max normalised metrics (or z-scores); ties keep the input order", () => {
  // Eight samples whose metrics rise together: the mean of the normalised values orders them.
  const s = [
    { rouge1: 0.9, rougeL: 0.9, bleu: 50, meteor: 0.9 }, // easiest
    { rouge1: 0.1, rougeL: 0.1, bleu: 1, meteor: 0.1 }, // hardest
    { rouge1: 0.5, rougeL: 0.5, bleu: 20, meteor: 0.5 },
    { rouge1: 0.3, rougeL: 0.3, bleu: 10, meteor: 0.3 },
    { rouge1: 0.7, rougeL: 0.7, bleu: 40, meteor: 0.6 },
    { rouge1: 0.2, rougeL: 0.2, bleu: 5, meteor: 0.2 },
    { rouge1: 0.6, rougeL: 0.6, bleu: 30, meteor: 0.6 },
    { rouge1: 0.4, rougeL: 0.4, bleu: 15, meteor: 0.4 },
  ];
  assert.deepEqual(difficultyLevels(s), [3, 0, 2, 1, 3, 0, 2, 1]);
  assert.deepEqual(difficultyLevels(s, "zscore"), [3, 0, 2, 1, 3, 0, 2, 1]);
  // Only the normalised scale matters: BLEU's 0..100 range weighs like the others. Sample 0 has the top BLEU but the
  // lowest ROUGE and METEOR: its mean (1 + 0 + 0 + 0) / 4 = 0.25 puts it below sample 1 (all 0.5).
  const t = [
    { rouge1: 0, rougeL: 0, bleu: 100, meteor: 0 },
    { rouge1: 0.5, rougeL: 0.5, bleu: 50, meteor: 0.5 },
    { rouge1: 1, rougeL: 1, bleu: 0, meteor: 1 },
    { rouge1: 0.5, rougeL: 0.5, bleu: 50, meteor: 0.5 },
  ];
  assert.deepEqual(difficultyLevels(t), [0, 1, 3, 2]);
});

test("sentence BLEU uses the effective order (sacreBLEU sentence_bleu)", () => {
  // "the cat" vs "the cat sat": unigrams 2/2, bigrams 1/1, no trigrams: order 2, BP exp(1 - 3/2).
  const s = sentenceBleu(bleuSegmentStats("the cat", "the cat sat"));
  assert.ok(Math.abs(s - 100 * Math.exp(-0.5)) < 1e-9, `${s}`);
  // Long enough texts: the same as corpus BLEU of one sentence.
  const h = "the quick brown fox jumps over the dog";
  const r = "the quick brown fox jumped over the lazy dog";
  assert.ok(Math.abs(sentenceBleu(bleuSegmentStats(h, r)) - corpusBleu([h], [r]).score) < 1e-12);
  assert.equal(sentenceBleu(bleuSegmentStats("a b", "c d")), 0);
});

test("the report's level table: the source's levels applied to every method, per-level means and p-values", () => {
  const refs = Array.from({ length: 10 }, (_, i) => `reference text number ${i} about the weather and the food ${"word ".repeat(i)}`);
  const rec = (preds: string[]) => preds.map((p, i) => ({ id: `s${i}`, user: "u", prediction: p, reference: refs[i]!, line: i + 1 }));
  const base = rec(refs.map((r, i) => r.split(" ").slice(0, 1 + i).join(" ")));
  const good = rec(refs.map((r) => r.split(" ").slice(0, -1).join(" ")));
  const result = evaluateRuns([{ name: "Non-pers", records: base }, { name: "Good", records: good }], { difficultyFrom: "Non-pers", bootstrap: { resamples: 50 } });
  const d = result.difficulty!;
  assert.deepEqual(d.levels.map((l) => l.n), [3, 3, 2, 2]);
  assert.deepEqual(d.rankedBy, ["rouge1", "rougeL", "bleu", "meteor"]);
  // Non-pers predictions grow with i, so the first samples are the hardest; both methods use the same groups.
  const perSample = result.methods[0]!.perSample.map((s) => s.rouge1);
  const h0 = [0, 1, 2].map((i) => perSample[i]!);
  assert.ok(Math.abs(d.methods[0]!.levels[0]!.means.rouge1! - h0.reduce((a, b) => a + b, 0) / 3) < 1e-12);
  const goodR1 = result.methods[1]!.perSample.map((s) => s.rouge1);
  assert.ok(Math.abs(d.methods[1]!.levels[3]!.means.rouge1! - (goodR1[8]! + goodR1[9]!) / 2) < 1e-12);
  assert.ok(d.methods[1]!.levels[0]!.vsFirst!.rouge1!.delta > 0);
  const md = renderMarkdown(result, [{ name: "Non-pers", records: base }, { name: "Good", records: good }]);
  assert.match(md, /## Difficulty levels/);
  assert.match(md, /\| Method \| H0 very hard \| H1 hard \| H2 medium \| H3 easy \|/);
  assert.throws(() => evaluateRuns([{ name: "A", records: base }], { difficultyFrom: "B" }), /--difficulty-from B: no such method \(methods: A\)/);
});
