// Reverse-mode autodiff: pruning of unused branches, zero gradients, seeds, repeated use, emitted-model contents.
import { test } from "node:test";
import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import { Graph, grad, emitOnnx, neededTensors } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";

const opTypes = (bytes: Uint8Array) => onnxProto.onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.opType!);

test("branches the loss does not use are neither differentiated nor emitted", () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const unused = x.sin().cos(); // built, never reaches the loss
  const loss = x.exp().sum();
  const [gx] = grad(loss, [x]);
  const ops = opTypes(emitOnnx(g, { gx: gx! }).bytes);
  assert.ok(!ops.includes("Sin") && !ops.includes("Cos"), ops.join(","));
  assert.ok(ops.includes("Exp"));
  assert.ok(!neededTensors([gx!]).includes(unused));
  // Only the forward tensors the gradient needs: exp(x) is reused, the ReduceSum value itself is not needed.
  assert.ok(!neededTensors([gx!]).some((t) => t.op.type === "ReduceSum" && t === loss));
});

test("zero gradients for unused inputs keep their (symbolic) shape at run time", async () => {
  const g = new Graph();
  const x = g.input("x", "float64", ["n", 2]);
  const z = g.input("z", "float64", ["m"]);
  const [gx, gz] = grad(x.mul(x).sum(), [x, z]);
  const c = await compile(g, { gx: gx!, gz: gz! }, { threads: 1 });
  const r = await c.run({ x: { data: Float64Array.of(1, 2, 3, 4, 5, 6), dims: [3, 2] }, z: Float64Array.of(7, 8, 9, 10) });
  assert.deepEqual(Array.from(r.gx.data as Float64Array), [2, 4, 6, 8, 10, 12]);
  assert.deepEqual(r.gz.dims, [4]);
  assert.deepEqual(Array.from(r.gz.data as Float64Array), [0, 0, 0, 0]);
});

test("seeded gradients, several grad calls on one graph, gradients as inputs to more ops", async () => {
  const g = new Graph();
  const x = g.input("x", "float64", [3]);
  const s = g.input("s", "float64", [3]);
  const y = x.mul(x).mul(x); // dy/dx = 3x^2
  const [vjp] = grad(y, [x], s); // s * 3x^2
  const [gSum] = grad(y.sum(), [x]); // 3x^2
  // A gradient is an ordinary tensor: differentiate a function of it (d/dx sum(3x^2) = 6x).
  const [second] = grad(gSum!.sum(), [x]);
  const c = await compile(g, { vjp: vjp!, gSum: gSum!, second: second! }, { threads: 1 });
  const r = await c.run({ x: Float64Array.of(1, -2, 0.5), s: Float64Array.of(2, 1, -1) });
  assert.deepEqual(Array.from(r.vjp.data as Float64Array), [6, 12, -0.75]);
  assert.deepEqual(Array.from(r.gSum.data as Float64Array), [3, 12, 0.75]);
  assert.deepEqual(Array.from(r.second.data as Float64Array), [6, -12, 3]);
});

test("a size-1 output of any rank is a valid loss; the seed is ones", async () => {
  const g = new Graph();
  const x = g.input("x", "float32", [2, 2]);
  const loss = x.sum([0, 1], true); // [1, 1]
  const [gx] = grad(loss, [x]);
  const c = await compile(g, { gx: gx! }, { threads: 1 });
  const r = await c.run({ x: Float32Array.of(1, 2, 3, 4) });
  assert.deepEqual(Array.from(r.gx.data as Float32Array), [1, 1, 1, 1]);
});
