// The report's "What the numbers show" section is written from the results it is given.
import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluateRuns, type RunInput } from "../../src/eval/report.ts";
import { findingsSection } from "../../src/demo/findings.ts";
import { Rng } from "../../src/util/random.ts";

const WORDS = "the meeting list mail patch server build kernel user reply thanks today week code test".split(" ");
const rng = new Rng(4);
const text = (n: number) => Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]!).join(" ");
// 30 references of 150 words (two position segments), SFT's texts unrelated to them
const refs = Array.from({ length: 30 }, () => text(150));
const sftTexts = refs.map(() => text(150));
const run = (name: string, preds: string[]): RunInput => ({
  name,
  records: preds.map((prediction, i) => ({ id: `r${i}`, user: `u${i % 5}`, prediction, reference: refs[i]!, line: i + 1 })),
});
const ctx = { flythinker: "FlyThinker", sft: "SFT", generator: "d128 x 4 layers", seeds: 1 };
const opts = { bootstrap: { resamples: 200, seed: 1 } };

test("findings: a FlyThinker that writes each reference's second half is significantly better, and later more so", () => {
  // first 100 words unrelated, last 50 the reference's own: the lead appears only in the later segment
  const fly = refs.map((r, i) => [...sftTexts[i]!.split(" ").slice(0, 100), ...r.split(" ").slice(100)].join(" "));
  const result = evaluateRuns([run("SFT", sftTexts), run("FlyThinker", fly)], opts);
  const s = findingsSection(result, ctx);
  assert.match(s, /^## What the numbers show\n/);
  assert.match(s, /Against SFT on the same 30 records, FlyThinker scores ROUGE-1 \+0\.\d{4} \(p = 0\.005\)/);
  assert.match(s, /FlyThinker is significantly better on ROUGE-1, ROUGE-L, BLEU, METEOR\./);
  assert.match(s, /in words 100-199 \(30 records reach it\): the gap widens later in the text, the direction the paper reports/);
  assert.match(s, /ROUGE-L 1 of 2 \(best: FlyThinker/);
  assert.match(s, /one seed, and the 4 p-values above are not corrected for multiple comparisons \(with no real difference, about 0\.2 of them/);
});

test("findings: identical texts give zero deltas, nothing significant, and a gap that does not widen", () => {
  const result = evaluateRuns([run("SFT", sftTexts), run("FlyThinker", sftTexts)], opts);
  const s = findingsSection(result, ctx);
  assert.match(s, /ROUGE-1 \+0\.0000 \(p = 1\.000\)/);
  assert.match(s, /none of these differences is significant at 0\.05\./);
  assert.match(s, /the gap does not widen later in the text, unlike the paper's finding/);
});

test("findings: without a FlyThinker row the section is empty", () => {
  const result = evaluateRuns([run("SFT", sftTexts), run("RAG", sftTexts)], opts);
  assert.equal(findingsSection(result, ctx), "");
});
