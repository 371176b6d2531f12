// Parity of the Qwen2-family forward pass with the independent PyTorch reference (test/fixtures/model): logits and
// final-norm hidden states to 1e-4 absolute, the loss and the gradients of the chosen weights to 1e-4 relative.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, grad, ops, type Tensor } from "../../src/graph/index.ts";
import { compile, type Feed } from "../../src/runtime/session.ts";
import { declareParams, embedTokens, forward } from "../../src/model/qwen2.ts";
import { namedLeaves } from "../../src/model/hf-names.ts";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { loadParityFixture, PARITY_VARIANTS, type ParityFixture } from "./fixtures.ts";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, "lengths differ");
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** max |a - b| / max |b|: the error relative to the reference tensor's scale. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  return maxAbsDiff(a, b) / scale;
}

const ids64 = (rows: number[][]) => ({ data: BigInt64Array.from(rows.flat(), (v) => BigInt(v)), dims: [rows.length, rows[0]!.length] });

function weightFeeds(f: ParityFixture): Record<string, Feed> {
  return Object.fromEntries(f.checkpoint.weights);
}

for (const variant of PARITY_VARIANTS) {
  test(`parity (${variant}): logits, hidden states, loss and gradients equal the PyTorch reference`, async () => {
    const f = loadParityFixture(variant);
    const config = f.checkpoint.config;
    const g = new Graph();
    const params = declareParams(g, config);
    const ids = g.input("ids", "int64", ["batch", "seq"]);
    const labels = g.input("labels", "int64", ["batch", "seq"]);
    const out = forward(config, params, { embeds: embedTokens(params, ids) });
    const { loss } = ops.crossEntropy(out.logits, labels, f.ignoreIndex);
    const gradNames = [...f.grads.keys()];
    const byName = new Map(namedLeaves(params));
    const grads = grad(loss, gradNames.map((n) => byName.get(n)!));
    const outputs: Record<"logits" | "hidden" | "loss" | `grad${number}`, Tensor> = { logits: out.logits, hidden: out.hidden, loss };
    grads.forEach((t, i) => (outputs[`grad${i}`] = t));
    const run = await compile(g, outputs);
    const r = await run.run({ ...weightFeeds(f), ids: ids64(f.inputIds), labels: ids64(f.labels) });

    assert.deepEqual(r.logits.dims, f.logits.shape);
    assert.deepEqual(r.hidden.dims, f.hidden.shape);
    const dl = maxAbsDiff(r.logits.data as Float32Array, f.logits.data);
    const dh = maxAbsDiff(r.hidden.data as Float32Array, f.hidden.data);
    assert.ok(dl <= 1e-4, `logits differ by ${dl}`);
    assert.ok(dh <= 1e-4, `hidden states differ by ${dh}`);
    const lossValue = Number(r.loss.data[0]);
    assert.ok(Math.abs(lossValue - f.loss) / f.loss <= 1e-4, `loss ${lossValue} vs ${f.loss}`);
    assert.equal(gradNames.length, { untied: 10, tied: 9, llama: 8, bf16: 0 }[variant]);
    gradNames.forEach((name, i) => {
      const got = r[`grad${i}`]!;
      assert.deepEqual(got.dims, f.grads.get(name)!.shape, name);
      const d = relDiff(got.data as Float32Array, f.grads.get(name)!.data);
      assert.ok(d <= 1e-4, `gradient of ${name} differs by ${d} (relative)`);
    });
  });
}

for (const variant of ["untied", "tied", "llama"] as const) {
  test(`parity (${variant}): input embeddings instead of ids`, async () => {
    const f = loadParityFixture(variant);
    const e = f.inputsEmbedsCase!;
    const config = f.checkpoint.config;
    const g = new Graph();
    const params = declareParams(g, config);
    const embeds = g.input("embeds", "float32", ["batch", "seq", config.hiddenSize]);
    const out = forward(config, params, { embeds });
    const run = await compile(g, { logits: out.logits, hidden: out.hidden });
    const r = await run.run({ ...weightFeeds(f), embeds: { data: e.inputsEmbeds.data, dims: e.inputsEmbeds.shape } });
    const dl = maxAbsDiff(r.logits.data as Float32Array, e.logits.data);
    const dh = maxAbsDiff(r.hidden.data as Float32Array, e.hidden.data);
    assert.ok(dl <= 1e-4 && dh <= 1e-4, `logits differ by ${dl}, hidden by ${dh}`);
  });
}

test("parity (untied, llama): the decoding graph with left padding, masks and positions gives the reference values", async () => {
  for (const variant of ["untied", "llama"] as const) {
    const f = loadParityFixture(variant);
    const { vocabSize: V, hiddenSize: D } = f.checkpoint.config;
    const model = new LoadedModel(f.checkpoint.config, f.checkpoint.weights);
    // Row 0 cut to 4 tokens (left-padded by 3 in the batch): causal attention makes its values those of the full row.
    const rows = [f.inputIds[0]!.slice(0, 4), f.inputIds[1]!];
    const out = await model.forward(rows);
    assert.equal(out.logits[0]!.length, 4 * V);
    assert.equal(out.logits[1]!.length, 7 * V);
    assert.ok(maxAbsDiff(out.logits[0]!, f.logits.data.subarray(0, 4 * V)) <= 1e-4);
    assert.ok(maxAbsDiff(out.hidden[0]!, f.hidden.data.subarray(0, 4 * D)) <= 1e-4);
    assert.ok(maxAbsDiff(out.logits[1]!, f.logits.data.subarray(7 * V)) <= 1e-4);
    assert.ok(maxAbsDiff(out.hidden[1]!, f.hidden.data.subarray(7 * D)) <= 1e-4);
  }
});
