// Reverse-mode autodiff: pruning of unused branches, zero gradients, seeds, repeated use, broadcast gradients
// reduced in one place, emitted-model contents.
import { test } from "node:test";
import assert from "node:assert/strict";
import onnxProto from "onnx-proto";
import { Graph, Tensor, grad, emitOnnx, neededTensors, ops, type OpDef } from "../../src/graph/index.ts";
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

test("broadcast gradients are summed to each input's shape by autodiff, once", async () => {
  const g = new Graph();
  const x = g.input("x", "float64", ["n", 3]);
  const b = g.input("b", "float64", [3]);
  const c = g.input("c", "float64", ["n", 1]);
  const [gb, gc] = grad(x.mul(b).add(c).sum(), [b, c]);
  // d/db = column sums of x: Mul's rule gives g * x [n, 3]; one ReduceSum over axis 0 (keepdims), one Reshape to [3].
  const summed = gb!.inputs[0]!;
  assert.equal(gb!.op.type, "Reshape");
  assert.equal(summed.op.type, "ReduceSum");
  assert.deepEqual(summed.attrs, { axes: [0], keepdims: true });
  assert.deepEqual(summed.inputs[0]!.shape, ["n", 3]);
  assert.equal(opTypes(emitOnnx(g, { gb: gb! }).bytes).filter((t) => t === "ReduceSum").length, 1);
  assert.deepEqual(gb!.shape, [3]);
  assert.deepEqual(gc!.shape, ["n", 1]);
  const compiled = await compile(g, { gb: gb!, gc: gc! }, { threads: 1 });
  const r = await compiled.run({
    x: { data: Float64Array.of(1, 2, 3, 4, 5, 6), dims: [2, 3] },
    b: Float64Array.of(1, 1, 1),
    c: { data: Float64Array.of(0, 0), dims: [2, 1] },
  });
  assert.deepEqual(Array.from(r.gb.data as Float64Array), [5, 7, 9]);
  assert.deepEqual(r.gc.dims, [2, 1]);
  assert.deepEqual(Array.from(r.gc.data as Float64Array), [3, 3]);
});

test("the weight gradient of a batched product is one folded MatMul, with no sum over the batch", async () => {
  const g = new Graph();
  const a = g.input("a", "float64", ["b", 2, 2]);
  const w = g.input("w", "float64", [2, 1]);
  const [gw] = grad(a.matmul(w).sum(), [w]);
  const types = opTypes(emitOnnx(g, { gw: gw! }).bytes);
  assert.equal(types.filter((t) => t === "MatMul").length, 1, types.join(","));
  assert.ok(!types.includes("ReduceSum"), types.join(","));
  const compiled = await compile(g, { gw: gw! }, { threads: 1 });
  const r = await compiled.run({ a: { data: Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8), dims: [2, 2, 2] } });
  // d/dw[k] = sum of a[..., k] over batch and rows.
  assert.deepEqual(Array.from(r.gw.data as Float64Array), [16, 20]);
});

test("a gradient rule whose result the input does not broadcast to is an error naming the op", () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const wrongShape: OpDef = {
    type: "WrongShapeGrad",
    infer: ([t]) => ({ dtype: t!.dtype, shape: t!.shape.slice() }),
    emit: () => {},
    grad: (_out, d) => [ops.slice(d, 0, 0, 2)],
  };
  const y = g.add(wrongShape, [x], {});
  assert.throws(() => grad(y.sum(), [x]), /the rule of WrongShapeGrad gave .*\[2\]> as the gradient of its input Input "x"/);
  const wrongDtype: OpDef = { ...wrongShape, type: "WrongDtypeGrad", grad: (_out, d) => [d.cast("float64")] };
  const z = g.add(wrongDtype, [x], {});
  assert.throws(() => grad(z.sum(), [x]), /the rule of WrongDtypeGrad gave .*float64/);
});

test("SiLU and RMSNorm emit the node patterns ONNX Runtime fuses", () => {
  const g = new Graph();
  const x = g.input("x", "float32", ["n", 4]);
  const w = g.input("w", "float32", [4]);
  // (The Identity that names the graph output is left out.)
  const nodes = (y: Tensor) => onnxProto.onnx.ModelProto.decode(emitOnnx(g, { y }).bytes).graph!.node!.filter((n) => n.opType !== "Identity");
  const silu = nodes(x.silu());
  assert.deepEqual(silu.map((n) => n.opType), ["Sigmoid", "Mul"]);
  assert.deepEqual(silu[1]!.input, ["x", silu[0]!.output![0]]);
  // x / sqrt(mean(x^2) + eps) * w: fused into SimplifiedLayerNormalization.
  assert.deepEqual(nodes(ops.rmsNorm(x, w, 1e-6)).map((n) => n.opType), ["Pow", "ReduceMean", "Add", "Sqrt", "Div", "Mul"]);
});
