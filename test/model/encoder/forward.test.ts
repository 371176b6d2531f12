// The BERT, RoBERTa and DistilBERT encoders against the independent PyTorch reference (test/fixtures/encoder):
// every layer's hidden states to 1e-4 absolute; RoBERTa's offset positions; the BERTScore encoding of texts
// through @huggingface/tokenizers equal to the reference's own slow WordPiece and byte-level BPE code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, cpSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Graph } from "../../../src/graph/index.ts";
import { compile } from "../../../src/runtime/session.ts";
import { EncoderModel } from "../../../src/model/encoder/model.ts";
import { declareEncoderWeights, encoderHiddenStates } from "../../../src/model/encoder/forward.ts";
import { parseEncoderConfig, positionIds } from "../../../src/model/encoder/config.ts";
import { UserError } from "../../../src/util/errors.ts";
import { ENCODER_VARIANTS, fixtureDir, loadEncoderFixture } from "./fixtures.ts";

const ids64 = (rows: number[][]) => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), dims: [rows.length, rows[0]!.length] });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

for (const variant of ENCODER_VARIANTS) {
  test(`${variant}: tokenization, positions and every layer's hidden states equal the PyTorch reference`, async () => {
    const f = loadEncoderFixture(variant);
    const model = EncoderModel.fromDir(f.dir);
    const config = model.config;
    f.texts.forEach((t, i) => assert.deepEqual(model.encodeText(t), f.ids[i], `ids of ${JSON.stringify(t)}`));
    assert.equal(model.maxLength, 24);
    f.batch.ids.forEach((row, i) => assert.deepEqual(positionIds(config, row), f.batch.positions[i]));

    const g = new Graph();
    const w = declareEncoderWeights(g, config);
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    const positions = g.input("positions", "int64", ["batch", "seq"]);
    const mask = g.input("mask", "int64", ["batch", "seq"]);
    const states = encoderHiddenStates(config, w, { ids, positions, mask });
    assert.equal(states.length, config.numLayers + 1);
    const outputs = Object.fromEntries(states.map((s, i) => [`h${i}`, s]));
    const run = await compile(g, outputs, { threads: 1 });
    const r = await run.run({
      ...Object.fromEntries(model.weights),
      ids: ids64(f.batch.ids),
      positions: ids64(f.batch.positions),
      mask: ids64(f.batch.mask),
    });
    f.hiddenStates.forEach((want, i) => {
      const got = r[`h${i}`]!;
      assert.deepEqual(got.dims, want.shape);
      const d = maxAbsDiff(got.data as Float32Array, want.data);
      assert.ok(d <= 1e-4, `layer ${i}: hidden states differ by ${d}`);
    });
    await run.release();

    // The batched runner (rows sorted by length, padded at the end) gives each row's real positions.
    const L = config.numLayers;
    const rows = f.batch.ids.map((row, i) => row.slice(0, f.batch.mask[i]!.reduce((a, b) => a + b, 0)));
    const progress: number[] = [];
    const hidden = await model.hiddenStates(rows, L, { batchSize: 2, onProgress: (p) => progress.push(p.done) });
    assert.deepEqual(progress, [2, 3]);
    const [, seq, D] = f.hiddenStates[L]!.shape as [number, number, number];
    rows.forEach((row, b) => {
      const want = f.hiddenStates[L]!.data.slice(b * seq * D, (b * seq + row.length) * D);
      assert.ok(maxAbsDiff(hidden[b]!, want) <= 1e-4, `row ${b} through hiddenStates`);
    });
    await model.release();
  });
}

test("old gamma/beta names without a prefix load the same weights as the prefixed folder", () => {
  const a = EncoderModel.fromDir(fixtureDir("bert"));
  const b = EncoderModel.fromDir(fixtureDir("bert-legacy"));
  assert.deepEqual([...a.weights.keys()].sort(), [...b.weights.keys()].sort());
  for (const [name, w] of a.weights) assert.deepEqual(b.weights.get(name), w, name);
  assert.ok(a.weights.has("embeddings.LayerNorm.weight") && !a.weights.has("pooler.dense.weight"));
});

test("bad encoder folders: unsupported model_type, missing tensor, wrong layer", async () => {
  assert.throws(
    () => parseEncoderConfig({ model_type: "qwen2", hidden_size: 8 }, "x/config.json"),
    (e: unknown) => e instanceof UserError && /x\/config.json: model_type "qwen2" is not a supported encoder \(supported: bert, roberta, distilbert\)/.test(e.message),
  );
  assert.throws(() => parseEncoderConfig({ model_type: "bert", vocab_size: 5, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 4, hidden_act: "relu" }), /"hidden_act" must be "gelu"/);
  const dir = mkdtempSync(join(tmpdir(), "encoder-"));
  try {
    cpSync(fixtureDir("bert"), dir, { recursive: true });
    const real = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...real, num_hidden_layers: 4 }));
    assert.throws(() => EncoderModel.fromDir(dir), /missing tensor "encoder.layer.3.attention.self.query.weight"/);
    writeFileSync(join(dir, "config.json"), JSON.stringify(real));
    const m = EncoderModel.fromDir(dir);
    await assert.rejects(m.hiddenStates([[2, 3]], 4), /layer 4 does not exist \(the encoder has layers 0..3\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
