// Build-time errors: shape mismatches name both shapes; bad gradient requests and bad outputs name the tensor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, ShapeError, GraphError, grad, ops, emitOnnx } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";

function throwsWith(f: () => unknown, cls: new (...a: never[]) => Error, ...parts: string[]): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    for (const p of parts) assert.ok(err.message.includes(p), `message "${err.message}" lacks "${p}"`);
    return true;
  });
}

test("encoder ops check their inputs at build time", () => {
  const g = new Graph();
  const x = g.input("x", "float32", ["batch", "seq", 8]);
  const w8 = g.input("w8", "float32", [8]);
  const w4 = g.input("w4", "float32", [4]);
  const ids = g.input("ids", "int64", ["batch", "seq"]);
  throwsWith(() => ops.layerNorm(x, w4, w8, 1e-5), ShapeError, "LayerNorm", "[8]", "[4]");
  throwsWith(() => ops.layerNorm(x, w8, g.input("b64", "float64", [8]), 1e-5), ShapeError, "LayerNorm", "dtypes differ");
  throwsWith(() => ops.paddingBias(x, "float32"), ShapeError, "PaddingBias", "[batch, keys]", "[batch, seq, 8]");
  throwsWith(() => ops.paddingBias(ids, "int64"), ShapeError, "PaddingBias", "float32 or float64");
  throwsWith(() => ids.erf(), ShapeError, "Erf", "float");
  throwsWith(() => ids.gelu(), ShapeError, "Gelu", "float");
  assert.deepEqual(ops.paddingBias(ids, "float32").shape, ["batch", 1, 1, "seq"]);
});

test("shape mismatches at build time name both shapes", () => {
  const g = new Graph();
  const a = g.input("a", "float32", [2, 3]);
  const b = g.input("b", "float32", [4]);
  const m = g.input("m", "float32", [5, 7]);
  const s = g.input("s", "float32", ["batch", 3]);
  throwsWith(() => a.add(b), ShapeError, "Add", "[2, 3]", "[4]");
  throwsWith(() => a.mul(s.slice(1, 0, 2)), ShapeError, "Mul", "[2, 3]", "[batch, 2]");
  throwsWith(() => a.matmul(m), ShapeError, "MatMul", "[2, 3]", "[5, 7]");
  throwsWith(() => a.matmul(b), ShapeError, "MatMul", "[2, 3]", "[4]");
  throwsWith(() => a.reshape([4, 2]), ShapeError, "Reshape", "[2, 3]", "[4, 2]");
  throwsWith(() => a.reshape([-1, 4]), ShapeError, "Reshape", "[2, 3]", "[-1, 4]");
  throwsWith(() => s.reshape([2, -1]), ShapeError, "Reshape", "[batch, 3]", "[2, -1]");
  throwsWith(() => a.expand([4, 3, 2]), ShapeError, "Expand", "[2, 3]", "[4, 3, 2]");
  throwsWith(() => ops.concat([a, m], 0), ShapeError, "Concat", "[2, 3]", "[5, 7]");
  throwsWith(() => ops.where(a.greater(0), a, b), ShapeError, "Where", "[2, 3]", "[4]");
  throwsWith(() => a.transpose([0, 0]), ShapeError, "Transpose", "[0,0]", "[2, 3]");
  throwsWith(() => a.squeeze(0), ShapeError, "Squeeze", "[2, 3]");
  throwsWith(() => a.sum(2), ShapeError, "axis 2", "rank 2");
  throwsWith(() => ops.rmsNorm(a, b, 1e-6), ShapeError, "[2, 3]", "[4]");
  const ids = g.input("ids", "int64", [2]);
  throwsWith(() => ops.crossEntropy(a, g.input("lab", "int64", [3])), ShapeError, "crossEntropy", "[2, 3]", "[3]");
  throwsWith(() => a.gatherElements(ids, 1), ShapeError, "GatherElements", "[2, 3]", "[2]");
});

test("dtype mismatches at build time name both tensors", () => {
  const g = new Graph();
  const a = g.input("a", "float32", [2]);
  const d = g.input("d", "float64", [2]);
  const i = g.input("i", "int64", [2]);
  throwsWith(() => a.add(d), ShapeError, "Add", "float32", "float64");
  throwsWith(() => a.matmul(d.unsqueeze(0)), ShapeError, "MatMul", "float32", "float64");
  throwsWith(() => i.exp(), ShapeError, "Exp", "float tensor", '"i"');
  throwsWith(() => a.gather(a), ShapeError, "Gather", "int64 or int32", '"a"');
  throwsWith(() => ops.crossEntropy(a.unsqueeze(0), a), ShapeError, "labels", "int64 or int32");
  throwsWith(() => ops.where(a, a, a), ShapeError, "Where", "bool");
});

test("unknown symbolic dims are rejected when used", () => {
  const g = new Graph();
  const x = g.input("x", "float32", ["batch", 4]);
  throwsWith(() => x.reshape(["seq", -1]), ShapeError, '"seq"', "not the size of any tensor");
  throwsWith(() => ops.range(g, "nope").add(1), ShapeError, '"nope"');
});

test("tensors from another graph are refused", async () => {
  const g1 = new Graph();
  const g2 = new Graph();
  const a = g1.input("a", "float32", [2]);
  const b = g2.input("b", "float32", [2]);
  throwsWith(() => a.add(b), GraphError, "another graph", '"b"');
  throwsWith(() => emitOnnx(g1, { y: b }), GraphError, '"y"', "another graph");
  await assert.rejects(() => compile(g1, { y: b.exp() }), (e: Error) => e instanceof GraphError && e.message.includes('output "y"'));
  throwsWith(() => grad(a.sum(), [b]), GraphError, "another graph", '"b"');
});

test("bad outputs: none, not a tensor, names clashing with inputs", async () => {
  const g = new Graph();
  const a = g.input("a", "float32", [2]);
  await assert.rejects(() => compile(g, {}), (e: Error) => e instanceof GraphError && e.message.includes("no outputs"));
  await assert.rejects(
    () => compile(g, { y: undefined as never }),
    (e: Error) => e instanceof GraphError && e.message.includes('output "y" is not a graph tensor'),
  );
  await assert.rejects(() => compile(g, { a: a.exp() }), (e: Error) => e instanceof GraphError && e.message.includes('"a" is also an input'));
  const c = await compile(g, { y: a.exp() }, { threads: 1 });
  assert.deepEqual(c.inputs.map((t) => t.inputName), ["a"]);
});

test("gradient requests that cannot be honoured are clear errors", () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const ids = g.input("ids", "int64", [3]);
  throwsWith(() => grad(x.sum(), [ids]), GraphError, "integer/bool", '"ids"');
  throwsWith(() => grad(ids.sum(), [x]), GraphError, "not a float tensor");
  throwsWith(() => grad(x.exp(), [x]), GraphError, "not a scalar", "seed");
  throwsWith(() => grad(x.exp(), [x], g.input("s", "float32", [2])), GraphError, "seed", "[2]", "[3]");
  // Only through integers: cast to int64, or a comparison feeding where's condition.
  throwsWith(() => grad(x.cast("int64").cast("float32").sum(), [x]), GraphError, '"x"', "only through integer/bool", "Cast");
  const y = g.input("y", "float32", [3]);
  throwsWith(() => grad(ops.where(x.greater(0), y, 0).sum(), [x]), GraphError, '"x"', "Greater");
  // A float path next to the integer one is fine; so are unused tensors and stopGradient (zeros).
  const [gx] = grad(ops.where(x.greater(0), x, 0).sum(), [x]);
  assert.equal(gx!.op.type, "Where");
  const [gu, gs] = grad(y.sum(), [x, g.input("z", "float32", [2])]);
  assert.equal(gu!.op.type, "ZerosLike");
  assert.equal(gs!.op.type, "ZerosLike");
  const [gd] = grad(x.stopGradient().mul(y).sum(), [x]);
  assert.equal(gd!.op.type, "ZerosLike");
});
