import { test } from "node:test";
import assert from "node:assert/strict";
import { lcsLength, lcsLengthDP, ngramCounts, rougeL, rougeN, rougeScore, rougeTokenize } from "../../src/eval/rouge.ts";

test("rouge tokenizer: lower case, runs outside [a-z0-9] become spaces, optional stemming of tokens > 3 chars", () => {
  assert.deepEqual(rougeTokenize("The QUICK brown-fox, isn't it? 3.14!"), ["the", "quick", "brown", "fox", "isn", "t", "it", "3", "14"]);
  assert.deepEqual(rougeTokenize("Café naïve 東京 ünïcödé"), ["caf", "na", "ve", "n", "c", "d"]);
  assert.deepEqual(rougeTokenize("running dogs ran cats"), ["running", "dogs", "ran", "cats"]);
  assert.deepEqual(rougeTokenize("running dogs ran cats", { stemmer: true }), ["run", "dog", "ran", "cat"]);
  assert.deepEqual(rougeTokenize(""), []);
  assert.deepEqual(rougeTokenize("!!! --- ???"), []);
});

test("LCS: hand-computed lengths", () => {
  const t = (s: string): string[] => (s ? s.split(" ") : []);
  assert.equal(lcsLength(t("a b c d e"), t("a c e")), 3);
  assert.equal(lcsLength(t("a b c b d a b"), t("b d c a b a")), 4); // BCBA / BDAB
  assert.equal(lcsLength(t("x y z"), t("a b c")), 0);
  assert.equal(lcsLength(t("a a a"), t("a a")), 2);
  assert.equal(lcsLength(t(""), t("a")), 0);
  assert.equal(lcsLength(t("the cat sat on the mat"), t("on the mat the cat sat")), 3);
  // Symmetric.
  assert.equal(lcsLength(t("b d c a b a"), t("a b c b d a b")), 4);
});

test("LCS: agrees with a full-table reference on random sequences", () => {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const full = (a: string[], b: string[]): number => {
    const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
    for (let i = 1; i <= a.length; i++)
      for (let j = 1; j <= b.length; j++) t[i]![j] = a[i - 1] === b[j - 1] ? t[i - 1]![j - 1]! + 1 : Math.max(t[i - 1]![j]!, t[i]![j - 1]!);
    return t[a.length]![b.length]!;
  };
  for (let k = 0; k < 200; k++) {
    const a = Array.from({ length: rand(30) }, () => String.fromCharCode(97 + rand(5)));
    const b = Array.from({ length: rand(30) }, () => String.fromCharCode(97 + rand(5)));
    assert.equal(lcsLength(a, b), full(a, b), `${a.join("")} / ${b.join("")}`);
  }
});

test("LCS: the bit-parallel algorithm equals the dynamic programme across word boundaries", () => {
  let seed = 11;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let k = 0; k < 150; k++) {
    const vocab = 2 + rand(40);
    const a = Array.from({ length: rand(300) }, () => `w${rand(vocab)}`);
    const b = Array.from({ length: rand(300) }, () => `w${rand(vocab)}`);
    assert.equal(lcsLength(a, b), lcsLengthDP(a, b), `case ${k}: ${a.length} x ${b.length}, vocab ${vocab}`);
  }
  for (const m of [31, 32, 33, 63, 64, 65]) {
    const a = Array.from({ length: m }, (_, i) => `t${i % 3}`);
    assert.equal(lcsLength(a, a), m);
    assert.equal(lcsLength(a, a.slice(1)), m - 1);
  }
});

test("ROUGE-1: clipped unigram overlap; ROUGE-L: LCS precision/recall/F1 (hand-computed)", () => {
  // ref: the cat sat on the mat (6), pred: the the the cat (4): overlap the=min(2,3)=2, cat=1 -> 3.
  const r1 = rougeN("the cat sat on the mat".split(" "), "the the the cat".split(" "), 1);
  assert.equal(r1.precision, 3 / 4);
  assert.equal(r1.recall, 3 / 6);
  assert.ok(Math.abs(r1.fmeasure - (2 * 0.75 * 0.5) / 1.25) < 1e-15);
  // LCS(the cat sat on the mat, the the the cat) = "the cat" = 2.
  const rl = rougeL("the cat sat on the mat".split(" "), "the the the cat".split(" "));
  assert.equal(rl.precision, 2 / 4);
  assert.equal(rl.recall, 2 / 6);
  // rouge_score's documented example.
  const s = rougeScore("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.");
  assert.equal(s.rouge1.precision, 0.75);
  assert.ok(Math.abs(s.rouge1.fmeasure - 0.7058823529411765) < 1e-12);
  assert.ok(Math.abs(s.rougeL.fmeasure - 0.5882352941176471) < 1e-12);
  assert.deepEqual([...ngramCounts(["a", "b", "a", "b"], 2)], [["a b", 2], ["b a", 1]]);
});

test("ROUGE: empty prediction / reference / both give zeros, no crash", () => {
  for (const [ref, pred] of [["", "some text"], ["some text", ""], ["", ""], ["...", "!!!"]]) {
    const s = rougeScore(ref!, pred!);
    assert.deepEqual(s.rouge1, { precision: 0, recall: 0, fmeasure: 0 });
    assert.deepEqual(s.rougeL, { precision: 0, recall: 0, fmeasure: 0 });
  }
});

test("ROUGE-L on 20k-token texts: correct on a known case (time is measured, not asserted)", (t) => {
  const n = 20000;
  const vocab = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"];
  // ref = v0 v1 ... (cyclic); pred = the same with every 4th token replaced by a word absent from ref.
  const ref = Array.from({ length: n }, (_, i) => vocab[i % vocab.length]!);
  const pred = ref.map((w, i) => (i % 4 === 3 ? "omega" : w));
  const t0 = performance.now();
  const lcs = lcsLength(ref, pred);
  const ms = performance.now() - t0;
  assert.equal(lcs, n - n / 4);
  const t2 = performance.now();
  assert.equal(lcsLengthDP(ref, pred), n - n / 4);
  const msDP = performance.now() - t2;
  const t1 = performance.now();
  const s = rougeScore(ref.join(" "), pred.join(" "));
  const ms2 = performance.now() - t1;
  assert.equal(s.rougeL.precision, 0.75);
  assert.equal(s.rougeL.recall, 0.75);
  t.diagnostic(`LCS of two 20,000-token sequences: bit-parallel ${ms.toFixed(0)} ms, dynamic programme ${msDP.toFixed(0)} ms; full rougeScore ${ms2.toFixed(0)} ms`);
});
