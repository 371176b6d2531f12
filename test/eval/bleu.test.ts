import { test } from "node:test";
import assert from "node:assert/strict";
import { bleuFromStats, bleuStatsFromTokens, corpusBleu, tokenize13a } from "../../src/eval/bleu.ts";

const close = (a: number, b: number, tol = 1e-9): boolean => Math.abs(a - b) <= tol;

test("13a tokenizer: punctuation split, period/comma kept inside numbers, dash after digit, entities", () => {
  assert.deepEqual(tokenize13a("Hello, world! It costs $3.50, i.e. 1,000 units."), [
    "Hello", ",", "world", "!", "It", "costs", "$", "3.50", ",", "i", ".", "e", ".", "1,000", "units", ".",
  ]);
  assert.deepEqual(tokenize13a("10-20 a-b (x) [y] {z} <w>"), ["10", "-", "20", "a-b", "(", "x", ")", "[", "y", "]", "{", "z", "}", "<", "w", ">"]);
  assert.deepEqual(tokenize13a("Tom &amp; Jerry &lt;b&gt; &quot;hi&quot;<skipped>"), ["Tom", "&", "Jerry", "<", "b", ">", "\"", "hi", "\""]);
  assert.deepEqual(tokenize13a("line one-\nline two\nthree"), ["line", "oneline", "two", "three"]);
  assert.deepEqual(tokenize13a(""), []);
  assert.deepEqual(tokenize13a("naïve café… 東京。"), ["naïve", "café…", "東京。"]);
});

test("n-gram clipping: a hypothesis n-gram counts at most as often as in the reference (hand-computed)", () => {
  // hyp "the the the the" vs ref "the cat the mat": unigram the: hyp 4, ref 2 -> 2 correct of 4;
  // bigram "the the": 0 of 3; trigram 0 of 2; 4-gram 0 of 1.
  const s = bleuStatsFromTokens("the the the the".split(" "), "the cat the mat".split(" "));
  assert.deepEqual(s.correct, [2, 0, 0, 0]);
  assert.deepEqual(s.total, [4, 3, 2, 1]);
  assert.equal(s.sysLen, 4);
  assert.equal(s.refLen, 4);
});

test("brevity penalty: exp(1 - r/c) when the hypothesis is shorter, else 1 (hand-computed)", () => {
  const r = bleuFromStats({ sysLen: 9, refLen: 10, correct: [8, 4, 2, 1], total: [9, 7, 5, 4] });
  assert.ok(close(r.bp, Math.exp(1 - 10 / 9)));
  const expected = r.bp * Math.exp((Math.log(800 / 9) + Math.log(400 / 7) + Math.log(40) + Math.log(25)) / 4);
  assert.ok(close(r.score, expected), `${r.score} vs ${expected}`);
  // The same statistics sacreBLEU reports 42.48 for ("The cat sat on the mat." / "Hello world").
  assert.ok(close(r.score, 42.481262473249004, 1e-9));
  assert.equal(bleuFromStats({ sysLen: 12, refLen: 10, correct: [8, 4, 2, 1], total: [12, 11, 10, 9] }).bp, 1);
  assert.equal(bleuFromStats({ sysLen: 0, refLen: 10, correct: [0, 0, 0, 0], total: [0, 0, 0, 0] }).bp, 0);
});

test("exp smoothing: each order without matches gets 100 / (2^k * total) (hand-computed)", () => {
  // correct [5, 2, 0, 0], totals [10, 9, 8, 7]: p3 = 100/(2*8) = 6.25, p4 = 100/(4*7).
  const r = bleuFromStats({ sysLen: 10, refLen: 10, correct: [5, 2, 0, 0], total: [10, 9, 8, 7] });
  assert.ok(close(r.precisions[0]!, 50));
  assert.ok(close(r.precisions[1]!, 200 / 9));
  assert.ok(close(r.precisions[2]!, 6.25));
  assert.ok(close(r.precisions[3]!, 100 / 28));
  const expected = Math.exp((Math.log(50) + Math.log(200 / 9) + Math.log(6.25) + Math.log(100 / 28)) / 4);
  assert.ok(close(r.score, expected));
  // A zero total for an order stops the precisions there and gives BLEU 0 (sacreBLEU's floored log).
  const short = bleuFromStats({ sysLen: 3, refLen: 3, correct: [3, 2, 1, 0], total: [3, 2, 1, 0] });
  assert.deepEqual(short.precisions.slice(3), [0]);
  assert.ok(short.score < 1e-300);
  // No match at all: 0 with zero precisions.
  assert.deepEqual(bleuFromStats({ sysLen: 3, refLen: 3, correct: [0, 0, 0, 0], total: [3, 2, 1, 0] }).precisions, [0, 0, 0, 0]);
});

test("corpus BLEU sums statistics over segments (not an average of sentence scores)", () => {
  const hyps = ["The cat sat on the mat.", "Hello world"];
  const refs = ["The cat is on the mat.", "Hello there world"];
  const r = corpusBleu(hyps, refs);
  assert.deepEqual(r.counts, [8, 4, 2, 1]);
  assert.deepEqual(r.totals, [9, 7, 5, 4]);
  assert.equal(r.sysLen, 9);
  assert.equal(r.refLen, 10);
  assert.ok(close(r.score, 42.481262473249004, 1e-9));
  assert.throws(() => corpusBleu(["a"], []), /1 hypotheses but 0 references/);
});

test("BLEU: empty predictions, empty references, identical texts", () => {
  assert.equal(corpusBleu([""], ["some words here"]).score, 0);
  assert.equal(corpusBleu(["some words here"], [""]).score, 0);
  assert.equal(corpusBleu([""], [""]).score, 0);
  assert.equal(corpusBleu([], []).score, 0);
  const same = "One two three four five six seven.";
  assert.ok(close(corpusBleu([same], [same]).score, 100, 1e-9));
});
