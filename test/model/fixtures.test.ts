// Checks of the parity fixtures themselves (that they load, agree with their own conventions and with each other),
// so the forward-pass tests can rely on them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCheckpoint } from "../../src/model/checkpoint.ts";
import { loadParityFixture, parityFixtureDir, PARITY_VARIANTS } from "./fixtures.ts";

test("every fixture checkpoint validates against its config; shapes as documented", () => {
  for (const v of PARITY_VARIANTS) {
    const f = loadParityFixture(v);
    const c = f.checkpoint.config;
    assert.deepEqual([c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize], [97, 32, 2, 4, 2, 8, 48]);
    assert.equal(c.ropeTheta, 10000);
    assert.equal(c.rmsNormEps, 1e-6);
    assert.equal(c.tieWordEmbeddings, v === "tied");
    assert.equal(c.qkvBias, v !== "llama");
    assert.deepEqual(f.logits.shape, [2, 7, 97]);
    assert.deepEqual(f.hidden.shape, [2, 7, 32]);
    assert.equal(f.inputIds.length, 2);
    for (let b = 0; b < 2; b++) {
      for (let t = 0; t < 7; t++) {
        const l = f.labels[b]![t]!;
        assert.ok(l === f.ignoreIndex || l === f.inputIds[b]![t + 1], "labels are ids shifted left");
      }
      assert.equal(f.labels[b]![6], -100);
    }
    // 10 chosen weights; tied has no lm_head, llama no q_proj/v_proj biases, bf16 no gradients.
    assert.equal(f.grads.size, { untied: 10, tied: 9, llama: 8, bf16: 0 }[v]);
  }
});

test("stored logits = stored hidden x lm_head^T and the loss = mean cross-entropy of the stored logits", () => {
  for (const v of PARITY_VARIANTS) {
    const f = loadParityFixture(v);
    const c = f.checkpoint.config;
    const head = f.checkpoint.weights.get(c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight")!;
    const V = c.vocabSize;
    const D = c.hiddenSize;
    let maxErr = 0;
    let sum = 0;
    let count = 0;
    for (let p = 0; p < 14; p++) {
      const row = new Float64Array(V);
      for (let j = 0; j < V; j++) {
        let s = 0;
        for (let k = 0; k < D; k++) s += f.hidden.data[p * D + k]! * head[j * D + k]!;
        row[j] = s;
        maxErr = Math.max(maxErr, Math.abs(s - f.logits.data[p * V + j]!));
      }
      const label = f.labels[Math.floor(p / 7)]![p % 7]!;
      if (label === f.ignoreIndex) continue;
      const lg = Array.from(f.logits.data.subarray(p * V, (p + 1) * V));
      const m = Math.max(...lg);
      const lse = m + Math.log(lg.reduce((a, x) => a + Math.exp(x - m), 0));
      sum += lse - lg[label]!;
      count++;
    }
    assert.ok(maxErr < 1e-4, `${v}: logits vs hidden x head^T differ by ${maxErr}`);
    assert.equal(count, 14 - 2 - 3);
    assert.ok(Math.abs(sum / count - f.loss) < 1e-5 * f.loss, `${v}: loss ${sum / count} vs ${f.loss}`);
  }
});

test("the bf16 checkpoint loads to exactly the values of its float32 twin", () => {
  const bf = loadCheckpoint(parityFixtureDir("bf16"));
  const twin = loadCheckpoint(parityFixtureDir("bf16-f32twin"));
  assert.equal(bf.config.torchDtype, "bfloat16");
  assert.equal(twin.config.torchDtype, "float32");
  assert.deepEqual({ ...bf.config, torchDtype: "float32" }, twin.config);
  assert.equal(bf.weights.size, twin.weights.size);
  for (const [name, w] of twin.weights) {
    assert.equal(bf.dtypes.get(name), "BF16");
    assert.equal(twin.dtypes.get(name), "F32");
    assert.deepEqual(bf.weights.get(name), w, name);
  }
});
