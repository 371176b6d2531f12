// BERTScore end to end on the tiny encoder fixtures: P/R/F of candidate/reference pairs (several references each,
// an empty candidate) equal the PyTorch reference's package arithmetic, with and without idf; x against x is 1;
// rescaling with a baseline file; the hash names model, layer, idf and rescaling.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BertScorer } from "../../../src/eval/bertscore/scorer.ts";
import { formatBaseline } from "../../../src/eval/bertscore/rescale.ts";
import { fixtureDir, loadEncoderFixture } from "../../model/encoder/fixtures.ts";

for (const variant of ["bert", "roberta"] as const) {
  test(`${variant}: BERTScore equals the reference at every fixture layer, with and without idf`, async () => {
    const f = loadEncoderFixture(variant);
    const cands = f.pairs.map((p) => p.cand);
    const refs = f.pairs.map((p) => p.refs);
    for (const [layer, want] of Object.entries(f.bertscore)) {
      for (const idf of [false, true]) {
        const scorer = BertScorer.fromDir(f.dir, { layer: Number(layer), idf });
        const progress: number[] = [];
        const got = await scorer.score(cands, refs, (p) => progress.push(p.done));
        assert.deepEqual(progress, [refs.flat().length]);
        const rows = idf ? want.idf : want.no_idf;
        rows.forEach(([P, R, F], i) => {
          for (const [k, a, b] of [["P", got.P[i]!, P!], ["R", got.R[i]!, R!], ["F", got.F[i]!, F!]] as const) {
            assert.ok(Math.abs(a - b) <= 1e-5, `layer ${layer} idf ${idf} pair ${i} ${k}: ${a} vs ${b}`);
          }
        });
        assert.deepEqual([got.P[2], got.R[2], got.F[2]], [0, 0, 0], "the empty candidate");
        await scorer.release();
      }
    }
  });
}

test("BERTScore(x, x) = 1; rescaling; the hash", async () => {
  const dir = fixtureDir("distilbert");
  const texts = ["the cook was great", "A chef, who was great, cooked the food!", "she said it was good"];
  const scorer = BertScorer.fromDir(dir, { layer: 2 });
  const same = await scorer.score(texts, texts);
  for (const v of [...same.P, ...same.R, ...same.F]) assert.ok(Math.abs(v - 1) <= 1e-6, `x vs x gave ${v}`);
  assert.equal(scorer.hash, "distilbert_L2_no-idf_version=flythinker.ts(slow-tokenizer encoding)");
  const raw = await scorer.score(["the food was good"], [["she said it was good", "the cook was great"]]);
  await scorer.release();

  const tmp = mkdtempSync(join(tmpdir(), "bs-"));
  try {
    const file = join(tmp, "custom.tsv");
    writeFileSync(file, formatBaseline([{ layer: 1, P: 0, R: 0, F: 0 }, { layer: 2, P: 0.5, R: 0.25, F: 0.4 }]));
    const rescaled = BertScorer.fromDir(dir, { layer: 2, idf: true, baselineFile: file });
    assert.equal(rescaled.hash, "distilbert_L2_idf_version=flythinker.ts(slow-tokenizer encoding)-custom-rescaled");
    await rescaled.release();
    const plain = BertScorer.fromDir(dir, { layer: 2, baselineFile: file });
    const r = await plain.score(["the food was good"], [["she said it was good", "the cook was great"]]);
    await plain.release();
    assert.ok(Math.abs(r.P[0]! - (raw.P[0]! - 0.5) / 0.5) < 1e-12);
    assert.ok(Math.abs(r.R[0]! - (raw.R[0]! - 0.25) / 0.75) < 1e-12);
    assert.ok(Math.abs(r.F[0]! - (raw.F[0]! - 0.4) / 0.6) < 1e-12, "F rescaled from the raw F");
    assert.throws(() => BertScorer.fromDir(dir, { layer: 0, baselineFile: file }), /no baseline for layer 0 \(the file has layers 1, 2\)/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  assert.throws(() => BertScorer.fromDir(dir), /no default layer for the model "distilbert"; give --bertscore-layer/);
  assert.throws(() => BertScorer.fromDir(dir, { layer: 3 }), /--bertscore-layer must be an integer in 0..2/);
});
