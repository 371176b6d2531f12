// The fused, chunked LM head + cross-entropy: float64 finite differences of the chunked log-sum-exp and of the whole
// loss; equality with the plain head + crossEntropy graph (loss and gradients) with ignored labels, padding rows and a
// vocabulary that is not a multiple of the chunk; the emitted graph never holds a [tokens, vocab] tensor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, grad, ops, emitOnnx } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { gradCheck, assertGradClose } from "./gradcheck.ts";
import { Rng } from "../../src/util/random.ts";
import onnxProto from "onnx-proto";

test("lm head: chunk starts cover the vocabulary in near-equal chunks; auto chunk keeps the plain graph when it fits", () => {
  assert.deepEqual(ops.chunkStarts(7, 3), [0, 3, 6]);
  assert.deepEqual(ops.chunkStarts(10, 4), [0, 4, 8]);
  assert.deepEqual(ops.chunkStarts(8, 8), [0]);
  assert.deepEqual(ops.chunkStarts(8, 100), [0]);
  assert.throws(() => ops.chunkStarts(8, 0), /positive integer/);
  // 4096-row vocabulary, 1024 tokens: 16 MB of logits fit the 256 MB default, so one chunk (the plain graph).
  assert.equal(ops.autoHeadChunk(4096, 1024), 4096);
  // Qwen's 151,936 rows at 4096 tokens: 2.3 GiB; chunks of 16,384 rows (256 MiB / (4 B * 4096)).
  assert.equal(ops.autoHeadChunk(151936, 4096), 16384);
  assert.equal(ops.autoHeadChunk(151936, 4096, 64 * 2 ** 20), 4096);
  assert.equal(ops.autoHeadChunk(151936, 10 ** 7, 2 ** 20), 256); // never below 256 rows
});

test("lm head: chunked log-sum-exp gradient matches finite differences (float64), 3 chunks of 3, 3, 1 rows", async () => {
  const r = await gradCheck(
    { h: { shape: [5, 4] }, w: { shape: [7, 4] } },
    ({ h, w }) => ops.chunkedLogSumExp(h!, w!, 3),
  );
  assertGradClose(r, 1e-6, "chunkedLogSumExp");
});

test("lm head: fused loss gradient matches finite differences (float64) with ignored labels", async () => {
  const labels = [3, -100, 0, 6, 6, -100];
  const r = await gradCheck(
    {
      h: { shape: [2, 3, 4] },
      w: { shape: [7, 4] },
      y: { dtype: "int64", shape: [2, 3], value: labels },
    },
    ({ h, w, y }) => ops.lmHeadCrossEntropy(h!, w!, y!, { chunk: 2 }).loss,
  );
  assertGradClose(r, 1e-6, "lmHeadCrossEntropy");
});

/** Loss, count and gradients of one head/labels setting, chunked or plain, run in float32. */
async function lossAndGrads(chunk: number, h: Float32Array, w: Float32Array, y: BigInt64Array, dims: { B: number; S: number; D: number; V: number }) {
  const g = new Graph();
  const hidden = g.input("h", "float32", ["batch", "seq", dims.D]);
  const head = g.input("w", "float32", [dims.V, dims.D]);
  const labels = g.input("y", "int64", ["batch", "seq"]);
  // A matmul in front so the hidden states' gradient flows into something, as in a model.
  const { loss, count } = ops.lmHeadCrossEntropy(hidden, head, labels, { chunk });
  const [dh, dw] = grad(loss, [hidden, head]);
  const compiled = await compile(g, { loss, count, dh: dh!, dw: dw! });
  const out = await compiled.run({
    h: { data: h, dims: [dims.B, dims.S, dims.D] },
    w: { data: w, dims: [dims.V, dims.D] },
    y: { data: y, dims: [dims.B, dims.S] },
  });
  return {
    loss: Number(out.loss!.data[0]),
    count: Number(out.count!.data[0]),
    dh: out.dh!.data as Float32Array,
    dw: out.dw!.data as Float32Array,
  };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("lm head: chunked equals the plain head + crossEntropy in float32 (loss and gradients to 1e-5), odd vocabulary, padding rows", async () => {
  const rng = new Rng(7);
  const dims = { B: 3, S: 5, D: 16, V: 1001 };
  const h = Float32Array.from({ length: dims.B * dims.S * dims.D }, () => rng.normal());
  const w = Float32Array.from({ length: dims.V * dims.D }, () => 0.5 * rng.normal());
  // Row 2 is padding (all ignored), row 0 has an ignored prompt prefix; label ids include 0 and V-1.
  const y = BigInt64Array.from([-100, -100, 5, 1000, 0, 17, 999, 3, 3, 512, -100, -100, -100, -100, -100].map(BigInt));
  const plain = await lossAndGrads(dims.V, h, w, y, dims);
  for (const chunk of [1000, 333, 256, 64]) {
    const fused = await lossAndGrads(chunk, h, w, y, dims);
    assert.equal(fused.count, 8);
    assert.ok(Math.abs(fused.loss - plain.loss) < 1e-5, `chunk ${chunk}: loss ${fused.loss} vs ${plain.loss}`);
    assert.ok(maxAbsDiff(fused.dh, plain.dh) < 1e-5, `chunk ${chunk}: dHidden differs by ${maxAbsDiff(fused.dh, plain.dh)}`);
    assert.ok(maxAbsDiff(fused.dw, plain.dw) < 1e-5, `chunk ${chunk}: dHead differs by ${maxAbsDiff(fused.dw, plain.dw)}`);
  }
  // Ignored positions and padding rows carry no gradient into the hidden states.
  const fused = await lossAndGrads(64, h, w, y, dims);
  for (let i = 10 * dims.D; i < 15 * dims.D; i++) assert.equal(fused.dh[i], 0);
});

test("lm head: no value of the emitted training graph is [tokens, vocab]; chunks are [tokens, chunk]", () => {
  const g = new Graph();
  const V = 5000;
  const hidden = g.input("h", "float32", [64, 8]);
  const head = g.input("w", "float32", [V, 8]);
  const labels = g.input("y", "int64", [64]);
  const { loss } = ops.lmHeadCrossEntropy(hidden, head, labels, { chunk: 1024 });
  const [dh, dw] = grad(loss, [hidden, head]);
  const model = emitOnnx(g, { loss, dh: dh!, dw: dw! });
  const proto = onnxProto.onnx.ModelProto.decode(model.bytes).graph!;
  const nodes = proto.node!;
  const gemms = nodes.filter((n) => n.opType === "Gemm").length;
  // 5 chunks: 5 forward products, 5 recomputations and 5 head-gradient products.
  assert.equal(gemms, 15);
  // Every slice of the head is one chunk: the products see [tokens, <= 1000] logits, and the chunks tile [0, V).
  const ints = new Map<string, number[]>();
  for (const t of proto.initializer!) {
    if (t.dataType === 7 && t.rawData) ints.set(t.name!, [...new BigInt64Array(Uint8Array.from(t.rawData).buffer)].map(Number));
  }
  const slices = nodes.filter((n) => n.opType === "Slice" && n.input![0] === "w");
  const ranges = new Set(slices.map((n) => `${ints.get(n.input![1]!)![0]}-${ints.get(n.input![2]!)![0]}`));
  assert.deepEqual([...ranges].sort(), ["0-1000", "1000-2000", "2000-3000", "3000-4000", "4000-5000"]);
  // Each chunk is sliced for the forward product and for the recomputation: no product reads the whole head.
  assert.equal(slices.length, 10);
  const wholeHead = nodes.filter((n) => ["Gemm", "MatMul"].includes(n.opType!) && n.input!.includes("w"));
  assert.deepEqual(wholeHead.map((n) => n.opType), []);
  const plain = new Graph();
  const ph = plain.input("h", "float32", [64, 8]);
  const pw = plain.input("w", "float32", [V, 8]);
  const py = plain.input("y", "int64", [64]);
  const pl = ops.lmHeadCrossEntropy(ph, pw, py, { chunk: V }).loss;
  assert.equal(pl.graph.tensors.some((t) => t.shape.length === 2 && t.shape[1] === V), true);
  assert.equal(g.tensors.some((t) => t.shape.includes(V) && t.shape.includes(64)), false);
});
