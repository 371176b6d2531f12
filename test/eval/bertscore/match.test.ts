// BERTScore's matching arithmetic on hand-made vectors, idf smoothing, the multi-reference max and the rescaling
// formula against the bert_score README's numbers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { greedyMatch, IdfWeights, maxOver, normalize, plainWeights, type TokenVectors } from "../../../src/eval/bertscore/match.ts";
import { formatBaseline, parseBaseline, readBaseline, rescale } from "../../../src/eval/bertscore/rescale.ts";

const CLS = 0;
const SEP = 1;
const tv = (ids: number[], rows: number[][]): TokenVectors => ({ ids, vectors: normalize(rows.flat(), 2), dim: 2 });
const close = (a: number, b: number, tol = 1e-12, what = "") => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test("normalize divides each token vector by its L2 norm", () => {
  const v = Array.from(normalize([3, 4, 0, -2], 2));
  [0.6, 0.8, 0, -1].forEach((want, i) => close(v[i]!, want, 1e-15, `element ${i}`));
});

test("P, R, F: special tokens weigh 0 but a candidate token may match the reference's [CLS]", () => {
  // cand: [CLS] (1,0), a (0,1), b (1,1), [SEP] (-1,0); ref: [CLS] (0,1), c (5,0), [SEP] (0,-1) (scales do not matter)
  const cand = tv([CLS, 5, 6, SEP], [[1, 0], [0, 1], [1, 1], [-1, 0]]);
  const ref = tv([CLS, 7, SEP], [[0, 1], [5, 0], [0, -1]]);
  const s = greedyMatch(cand, ref, plainWeights(CLS, SEP));
  // a's best is the reference's [CLS] (cos 1), b's best is cos 45 degrees; the only weighted reference token c
  // finds the candidate's [CLS] (cos 1).
  const P = (1 + Math.SQRT1_2) / 2;
  close(s.P, P, 1e-12, "P");
  close(s.R, 1, 1e-12, "R");
  close(s.F, (2 * P) / (P + 1), 1e-12, "F");
  // Swapping roles swaps P and R.
  const t = greedyMatch(ref, cand, plainWeights(CLS, SEP));
  close(t.P, 1, 1e-12, "swapped P");
  close(t.R, P, 1e-12, "swapped R");
});

test("a padded partner adds a similarity of 0 to the max (the package zeroes padded cells)", () => {
  const cand = tv([CLS, 5, SEP], [[1, 0], [-1, 0.1], [1, 0.2]]);
  const ref = tv([CLS, 7, SEP], [[1, 0.1], [1, -0.3], [1, 0]]);
  const plain = greedyMatch(cand, ref, plainWeights(CLS, SEP));
  assert.ok(plain.P < 0, `all of token 5's similarities are negative: P ${plain.P}`);
  const padded = greedyMatch(cand, ref, plainWeights(CLS, SEP), { refPadded: true });
  assert.equal(padded.P, 0);
  assert.equal(padded.R, plain.R);
});

test("an empty candidate or reference (only its two special tokens) scores 0; F's NaN becomes 0", () => {
  const empty = tv([CLS, SEP], [[1, 0], [0, 1]]);
  const text = tv([CLS, 5, SEP], [[1, 0], [1, 1], [0, 1]]);
  assert.deepEqual(greedyMatch(empty, text, plainWeights(CLS, SEP)), { P: 0, R: 0, F: 0 });
  assert.deepEqual(greedyMatch(text, empty, plainWeights(CLS, SEP)), { P: 0, R: 0, F: 0 });
  // Weights that are all zero give P = R = NaN, F = 0 (as the package's masked_fill of NaN).
  const zero = greedyMatch(text, text, () => 0);
  assert.ok(Number.isNaN(zero.P));
  assert.equal(zero.F, 0);
});

test("identical texts score 1", () => {
  const t = tv([CLS, 5, 6, SEP], [[1, 2], [3, -1], [0.5, 0.5], [-2, 1]]);
  const s = greedyMatch(t, t, plainWeights(CLS, SEP));
  for (const v of [s.P, s.R, s.F]) close(v, 1, 1e-12, "x vs x");
});

test("idf from the references: ln((M+1)/(c+1)), unseen ids ln(M+1), ids in every reference 0", () => {
  const idf = new IdfWeights([[CLS, 5, 5, SEP], [CLS, 5, 6, SEP], [CLS, 7, SEP]]);
  assert.equal(idf.documents, 3);
  close(idf.weight(5), Math.log(4 / 3), 1e-15, "in 2 of 3 (counted once per reference)");
  close(idf.weight(6), Math.log(2), 1e-15, "in 1 of 3");
  assert.equal(idf.weight(CLS), 0);
  assert.equal(idf.weight(SEP), 0);
  close(idf.weight(99), Math.log(4), 1e-15, "unseen");
  // Weighted precision with idf: token 5 (weight ln 4/3) matched at 1, token 99 (ln 4) matched at 0.
  const cand = tv([CLS, 5, 99, SEP], [[1, 0], [0, 1], [1, 0], [1, 0]]);
  const ref = tv([CLS, 5, SEP], [[0, -1], [0, 1], [0, -1]]);
  const s = greedyMatch(cand, ref, (id) => idf.weight(id));
  close(s.P, Math.log(4 / 3) / (Math.log(4 / 3) + Math.log(4)), 1e-12, "idf P");
  close(s.R, 1, 1e-12, "idf R (only token 5 weighs)");
});

test("several references: the element-wise max of P, R and F", () => {
  assert.deepEqual(maxOver([{ P: 0.5, R: 0.9, F: 0.6 }, { P: 0.7, R: 0.2, F: 0.4 }]), { P: 0.7, R: 0.9, F: 0.6 });
});

test("rescaling reproduces the package README (roberta-large L17)", () => {
  const s = rescale({ P: 0.957378, R: 0.961325, F: 0.959333 }, { P: 0.83150584, R: 0.8314941, F: 0.83122575 });
  close(s.P, 0.747042, 5e-7, "P");
  close(s.R, 0.770483, 5e-7, "R");
  close(s.F, 0.759045, 5e-7, "F");
});

test("baseline files: comma or tab separated, the row of the layer; a missing layer names the layers there", () => {
  const rows = [
    { layer: 0, P: 0.1, R: 0.2, F: 0.15 },
    { layer: 1, P: 0.5, R: 0.25, F: 0.3 },
  ];
  assert.deepEqual(parseBaseline(formatBaseline(rows), "x.tsv"), rows);
  assert.deepEqual(parseBaseline("LAYER\tP\tR\tF\n0\t0.1\t0.2\t0.15\n", "t.tsv"), [rows[0]]);
  const dir = mkdtempSync(join(tmpdir(), "baseline-"));
  try {
    const file = join(dir, "b.tsv");
    writeFileSync(file, formatBaseline(rows));
    assert.deepEqual(readBaseline(file, 1), rows[1]);
    assert.throws(() => readBaseline(file, 17), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: no baseline for layer 17 \\(the file has layers 0, 1\\)`));
    writeFileSync(file, "LAYER,P,R\n0,1,2\n");
    assert.throws(() => readBaseline(file, 0), /b.tsv:1: the header must name the columns LAYER, P, R and F/);
    writeFileSync(file, "LAYER,P,R,F\n0,0.1,oops,0.2\n");
    assert.throws(() => readBaseline(file, 0), /b.tsv:2: column R must be a number, got "oops"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
