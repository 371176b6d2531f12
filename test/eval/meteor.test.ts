import { test } from "node:test";
import assert from "node:assert/strict";
import { meteorFromTokens, meteorScore } from "../../src/eval/meteor.ts";

const close = (a: number, b: number, tol = 1e-12): boolean => Math.abs(a - b) <= tol;
const toks = (s: string): string[] => (s ? s.split(" ") : []);

test("METEOR chunk penalty: one chunk vs fragmented alignment (hand-computed)", () => {
  // ref a b c d, hyp a b x c d: 4 matches in 2 chunks. P = 4/5, R = 1,
  // Fmean = P R / (0.9 P + 0.1 R) = 0.8 / 0.82, penalty = 0.5 (2/4)^3 = 0.0625.
  const d = meteorFromTokens(toks("a b c d"), toks("a b x c d"));
  assert.equal(d.matches, 4);
  assert.equal(d.chunks, 2);
  assert.ok(close(d.score, (1 - 0.0625) * (0.8 / 0.82)), `${d.score}`);
  // ref "the cat sat on the mat", hyp "on the mat the cat sat": nltk aligns the hypothesis from its last word to the
  // last free reference word, giving (0,3) (1,0) (2,5) (3,4) (4,1) (5,2): 5 chunks, m = 6, P = R = 1.
  const e = meteorFromTokens(toks("the cat sat on the mat"), toks("on the mat the cat sat"));
  assert.deepEqual(e.alignment, [[0, 3], [1, 0], [2, 5], [3, 4], [4, 1], [5, 2]]);
  assert.equal(e.chunks, 5);
  assert.ok(close(e.score, 1 - 0.5 * (5 / 6) ** 3));
  // Identical: one chunk, penalty 0.5 / m^3.
  const f = meteorFromTokens(toks("x y z"), toks("x y z"));
  assert.ok(close(f.score, 1 - 0.5 * (1 / 3) ** 3));
  // alpha, beta, gamma are honoured.
  const g = meteorFromTokens(toks("a b c d"), toks("a b x c d"), { alpha: 0.5, beta: 2, gamma: 0.2 });
  assert.ok(close(g.score, (1 - 0.2 * 0.5 ** 2) * ((0.8 * 1) / (0.5 * 0.8 + 0.5 * 1))));
});

test("METEOR stages: exact, then Porter stem, then WordNet synonyms of the stems (nltk's alignments)", () => {
  // nltk: "was" stems to "wa" and "were" stays "were", so no stage matches them; running/runs match by stem.
  const stem = meteorFromTokens(toks("the dogs were running"), toks("the dog was runs"));
  assert.deepEqual(stem.alignment, [[0, 0], [1, 1], [3, 3]]);
  // auto -> {auto, automobile, car, machine, motorcar} contains "car"; "big"/"larg" (the stem of large) do not match.
  const syn = meteorFromTokens(toks("my car is large"), toks("my auto is big"));
  assert.deepEqual(syn.alignment, [[0, 0], [1, 1], [2, 2]]);
  assert.ok(close(syn.score, 0.7361111111111112));
  // The synonym stage sees stems: "automobile" becomes "automobil", which WordNet does not know (as in nltk).
  assert.ok(close(meteorFromTokens(toks("the car was fast"), toks("the automobile was quick")).score, 0.6388888888888888));
  // Exception lists of morphy: "went" -> "go".
  assert.equal(meteorFromTokens(toks("he go home"), toks("he went home")).matches, 3);
  assert.equal(meteorFromTokens(toks("alpha beta"), toks("gamma delta")).score, 0);
});

test("METEOR on raw text equals nltk's documented example (0.6944)", () => {
  const hyp = "It is a guide to action which ensures that the military always obeys the commands of the party";
  const ref = "It is a guide to action that ensures that the military will forever heed Party commands";
  assert.ok(close(meteorScore(ref, hyp), 0.6944444444444445, 1e-12));
});

test("METEOR: empty prediction / reference, punctuation only, Unicode: defined results", () => {
  assert.equal(meteorScore("", "some words"), 0);
  assert.equal(meteorScore("some words", ""), 0);
  assert.equal(meteorScore("", ""), 0);
  assert.equal(meteorScore("   ", "\n\t"), 0);
  assert.ok(close(meteorScore("?!", "!!! ... ???"), 0.4));
  assert.ok(close(meteorScore("Le café à 東京 était “bon”.", "Café à 東京 — très “bon”!"), 0.654320987654321));
});

test("METEOR on 20k-token texts: defined result, no crash (time measured)", (t) => {
  const words = ["house", "car", "quickly", "ran", "running", "dogs", "big", "large", "the", "a"];
  const ref = Array.from({ length: 20000 }, (_, i) => words[(i * 7) % words.length]).join(" ") + ".";
  const hyp = Array.from({ length: 20000 }, (_, i) => words[(i * 3) % words.length]).join(" ") + ".";
  const t0 = performance.now();
  const s = meteorScore(ref, hyp);
  t.diagnostic(`METEOR of two 20,000-token texts: ${(performance.now() - t0).toFixed(0)} ms`);
  assert.ok(s > 0 && s < 1);
});
