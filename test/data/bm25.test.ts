import { test } from "node:test";
import assert from "node:assert/strict";
import { Bm25, retrievalTokens } from "../../src/data/index.ts";

// Corpus: N = 4, avgdl = 3. Document frequencies: a 3, b 2, c 2, d e f g 1.
const corpus = [
  ["a", "b", "c"],
  ["a", "a", "d"],
  ["b", "e"],
  ["a", "c", "f", "g"],
];

test("bm25: idf by hand, with the negative idf replaced by epsilon x mean idf", () => {
  const bm = new Bm25(corpus);
  const L = Math.log(3.5 / 1.5); // idf of a term in 1 of 4 documents
  // idf(a) = ln(1.5 / 3.5) = -L < 0; idf(b) = idf(c) = ln(2.5 / 2.5) = 0; d, e, f, g: L.
  const mean = (-L + 0 + 0 + 4 * L) / 7;
  const eps = 0.25 * mean;
  assert.ok(Math.abs(bm.averageIdf - mean) < 1e-12);
  assert.ok(Math.abs(bm.idf.get("a")! - eps) < 1e-12);
  assert.equal(bm.idf.get("b"), 0);
  assert.ok(Math.abs(bm.idf.get("g")! - L) < 1e-12);
  assert.equal(bm.avgdl, 3);
});

test("bm25: scores equal the Okapi formula (k1 1.5, b 0.75) to 1e-9", () => {
  const bm = new Bm25(corpus);
  const L = Math.log(7 / 3);
  const eps = 0.25 * ((3 * L) / 7);
  const k1 = 1.5;
  const b = 0.75;
  const tf = (f: number, len: number): number => (f * (k1 + 1)) / (f + k1 * (1 - b + (b * len) / 3));
  // query "a d b": b has idf 0 and adds nothing
  const expected = [
    eps * tf(1, 3), // = eps
    eps * tf(2, 3) + L * tf(1, 3), // = eps * 10/7 + L
    0,
    eps * tf(1, 4), // = eps * 2.5 / 2.875
  ];
  const got = bm.scores(["a", "d", "b"]);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(got[i]! - expected[i]!) < 1e-9, `doc ${i}: ${got[i]} vs ${expected[i]}`);
  // the same numbers written out: eps = 0.0907818..., L = 0.8472978...
  assert.ok(Math.abs(got[0]! - 0.09078191361291468) < 1e-9);
  assert.ok(Math.abs(got[1]! - (0.09078191361291468 * 10) / 7 - 0.8472978603872037) < 1e-9);
  // repeated query tokens count again; unknown tokens add nothing
  const twice = bm.scores(["d", "d", "zzz"]);
  assert.ok(Math.abs(twice[1]! - 2 * L) < 1e-9);
  assert.deepEqual(bm.topN(["a", "d", "b"], 2), [1, 0]);
});

test("bm25: custom k1 and b follow the same formula", () => {
  const bm = new Bm25(corpus, { k1: 1.2, b: 0.5 });
  const L = Math.log(7 / 3);
  const got = bm.scores(["g"]);
  const expected = (L * (1 * 2.2)) / (1 + 1.2 * (0.5 + (0.5 * 4) / 3));
  assert.ok(Math.abs(got[3]! - expected) < 1e-9);
  assert.deepEqual(got.slice(0, 3), [0, 0, 0]);
});

test("bm25: ties rank the later document first, as rank_bm25's get_top_n does; empty corpus scores nothing", () => {
  const bm = new Bm25([["x"], ["y"], ["z"]]);
  assert.deepEqual(bm.topN(["none"], 3), [2, 1, 0]);
  assert.deepEqual(new Bm25([]).scores(["x"]), []);
  assert.deepEqual(new Bm25([]).topN(["x"], 2), []);
});

test("bm25: retrieval tokenizer lower-cases, splits on punctuation and drops stop words unless told not to", () => {
  assert.deepEqual(retrievalTokens("The QUICK, brown-fox's e-mail: café 42!"), ["quick", "brown", "fox", "e", "mail", "café", "42"]);
  assert.deepEqual(retrievalTokens("The fox and the dog", { stopWords: false }), ["the", "fox", "and", "the", "dog"]);
  assert.deepEqual(retrievalTokens("...  "), []);
});
