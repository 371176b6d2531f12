// Compiled graphs: feeds are checked before ONNX Runtime sees them; run-time failures name the graph tensor.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../src/graph/index.ts";
import { compile, InputError, RunError, type Feed } from "../../src/runtime/session.ts";

async function affine() {
  const g = new Graph();
  const x = g.input("x", "float32", ["batch", 3]);
  const w = g.input("w", "float32", [3, 2]);
  const ids = g.input("ids", "int64", ["batch"]);
  g.input("unused", "float32", [1]);
  const y = x.matmul(w).add(ids.cast("float32").unsqueeze(-1));
  return compile(g, { y }, { threads: 1 });
}

const good = (): Record<string, Feed> => ({
  x: { data: Float32Array.of(1, 2, 3, 4, 5, 6), dims: [2, 3] },
  w: Float32Array.of(1, 0, 0, 1, 1, 1),
  ids: BigInt64Array.of(10n, 20n),
});

async function rejectsWith(p: Promise<unknown>, cls: new (...a: never[]) => Error, ...parts: string[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    for (const part of parts) assert.ok(err.message.includes(part), `message "${err.message}" lacks "${part}"`);
    return true;
  });
}

test("a good run: values, dims, symbolic dims from {data, dims} and inferred from bare arrays", async () => {
  const c = await affine();
  const r = await c.run(good());
  assert.deepEqual(r.y.dims, [2, 2]);
  assert.deepEqual(Array.from(r.y.data as Float32Array), [1 + 3 + 10, 2 + 3 + 10, 4 + 6 + 20, 5 + 6 + 20]);
  // "batch" is bound by ids (a bare array), then x's bare array has one unknown dim left: inferred.
  const r2 = await c.run({ ids: BigInt64Array.of(0n, 0n, 0n), x: new Float32Array(9).fill(1), w: good().w! });
  assert.deepEqual(r2.y.dims, [3, 2]);
  // Feeding a declared input the outputs do not need is allowed.
  const r3 = await c.run({ ...good(), unused: Float32Array.of(0) });
  assert.deepEqual(Array.from(r3.y.data as Float32Array), Array.from(r.y.data as Float32Array));
});

test("wrong dtype at run time names the input and the expected type", async () => {
  const c = await affine();
  await rejectsWith(c.run({ ...good(), w: Float64Array.of(1, 0, 0, 1, 1, 1) }), InputError, '"w"', "float32", "Float64Array");
  await rejectsWith(c.run({ ...good(), ids: Int32Array.of(1, 2) }), InputError, '"ids"', "int64", "BigInt64Array", "Int32Array");
  await rejectsWith(c.run({ ...good(), w: new Int8Array(6) as never }), InputError, '"w"', "Int8Array");
  await rejectsWith(c.run({ ...good(), w: [1, 0, 0, 1, 1, 1] as never }), InputError, '"w"', "plain array");
  await rejectsWith(c.run({ ...good(), w: null as never }), InputError, '"w"', "null");
  await rejectsWith(c.run({ ...good(), w: 3 as never }), InputError, '"w"', "number");
});

test("wrong shape at run time names the input, the expected shape and the mismatch", async () => {
  const c = await affine();
  await rejectsWith(c.run({ ...good(), w: { data: new Float32Array(6), dims: [2, 3] } }), InputError, '"w"', "[3, 2]", "[2, 3]", "axis 0");
  await rejectsWith(c.run({ ...good(), w: { data: new Float32Array(6), dims: [6] } }), InputError, '"w"', "rank 2", "[6]");
  await rejectsWith(c.run({ ...good(), w: new Float32Array(5) }), InputError, '"w"', "5 values", "[3, 2]");
  await rejectsWith(c.run({ ...good(), x: { data: new Float32Array(6), dims: [3, 3] } }), InputError, '"x"', "need 9 values, got 6");
  await rejectsWith(c.run({ ...good(), x: { data: new Float32Array(6), dims: [2, -3] } }), InputError, '"x"', "non-negative integers");
  // "batch" is 2 in x but 3 in ids.
  await rejectsWith(c.run({ ...good(), ids: { data: BigInt64Array.of(1n, 2n, 3n), dims: [3] } }), InputError, '"ids"', '"batch"', "3", "2", '"x"');
});

test("unknown and missing input names", async () => {
  const c = await affine();
  await rejectsWith(c.run({ ...good(), wx: Float32Array.of(1) }), InputError, 'unknown input "wx"', "x, w, ids");
  const { w: _w, ...noW } = good();
  await rejectsWith(c.run(noW), InputError, 'missing input "w"', "float32[3, 2]");
});

test("ONNX Runtime failures become RunErrors naming the graph tensor; the process carries on", async () => {
  const g = new Graph();
  const table = g.input("table", "float32", [4, 2]);
  const ids = g.input("ids", "int64", ["n"]);
  const c = await compile(g, { rows: table.gather(ids).mul(2) }, { threads: 1 });
  await rejectsWith(c.run({ table: new Float32Array(8), ids: BigInt64Array.of(1n, 7n) }), RunError, "Gather#", "float32[n, 2]", "out of data bounds");
  // The same compiled graph still works afterwards.
  const r = await c.run({ table: Float32Array.of(0, 1, 2, 3, 4, 5, 6, 7), ids: BigInt64Array.of(3n) });
  assert.deepEqual(Array.from(r.rows.data as Float32Array), [12, 14]);
});

test("sessions are cached per emitted model and options", async () => {
  const build = () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    return { g, y: x.mul(3) };
  };
  const a = build();
  const b = build();
  const ca = await compile(a.g, { y: a.y }, { threads: 1 });
  const cb = await compile(b.g, { y: b.y }, { threads: 1 });
  const cc = await compile(b.g, { y: b.y }, { threads: 2 });
  const session = (c: unknown) => (c as { session: unknown }).session;
  assert.equal(session(ca), session(cb));
  assert.notEqual(session(ca), session(cc));
  assert.deepEqual(Array.from((await cc.run({ x: Float32Array.of(1, 2) })).y.data as Float32Array), [3, 6]);
});

test("a released graph does not take a shared session away from another graph", async () => {
  const build = () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    return { g, y: x.add(7) };
  };
  const a = build();
  const b = build();
  const ca = await compile(a.g, { y: a.y }, { threads: 1 });
  const cb = await compile(b.g, { y: b.y }, { threads: 1 });
  await ca.release();
  await ca.release(); // twice is harmless
  assert.deepEqual(Array.from((await cb.run({ x: Float32Array.of(1, 2) })).y.data as Float32Array), [8, 9]);
  await rejectsWith(ca.run({ x: Float32Array.of(1, 2) }), InputError, "released");
});

/** y = x @ w + b with w, b as constants (in the model, or as external data above `externalDataAbove` bytes). */
async function withConstants(w: Float32Array, b: Float32Array, externalDataAbove?: number) {
  const g = new Graph();
  const x = g.input("x", "float32", ["batch", 3]);
  const wt = g.input("w", "float32", [3, 2]);
  const bt = g.input("b", "float32", [2]);
  return compile(g, { y: x.matmul(wt).add(bt) }, { threads: 1, constants: new Map([["w", w], ["b", b]]), externalDataAbove });
}

test("constants: same values as feeding them, in the model and as external data; they are not fed", async () => {
  const g = new Graph();
  const x = g.input("x", "float32", ["batch", 3]);
  const y = x.matmul(g.input("w", "float32", [3, 2])).add(g.input("b", "float32", [2]));
  const fed = await compile(g, { y }, { threads: 1 });
  const w = Float32Array.of(0.5, -1, 2, 0.25, -3, 4);
  const b = Float32Array.of(10, -10);
  const xs = { data: Float32Array.of(1, 2, 3, -1, 0, 1), dims: [2, 3] };
  const expected = Array.from((await fed.run({ x: xs, w, b })).y.data as Float32Array);
  assert.deepEqual(expected, [1 * 0.5 + 2 * 2 + 3 * -3 + 10, -1 + 2 * 0.25 + 3 * 4 - 10, -0.5 - 3 + 10, 1 + 4 - 10]);
  for (const above of [undefined, 0]) {
    const c = await withConstants(w, b, above);
    assert.deepEqual(Array.from((await c.run({ x: xs })).y.data as Float32Array), expected, `externalDataAbove ${above}`);
    assert.deepEqual(c.inputs.map((t) => t.inputName), ["x"]);
    await rejectsWith(c.run({ x: xs, w }), InputError, '"w"', "constant");
    await c.release();
  }
});

test("constants: graphs over the same arrays share a session; other arrays get their own; bad constants are named", async () => {
  const w = new Float32Array(6).fill(1);
  const b = new Float32Array(2);
  const session = (c: unknown) => (c as { session: unknown }).session;
  const c1 = await withConstants(w, b);
  const c2 = await withConstants(w, b);
  const c3 = await withConstants(new Float32Array(6).fill(2), b);
  assert.equal(session(c1), session(c2));
  assert.notEqual(session(c1), session(c3));
  const xs = { data: Float32Array.of(1, 1, 1), dims: [1, 3] };
  assert.deepEqual(Array.from((await c3.run({ x: xs })).y.data as Float32Array), [6, 6]);
  await c1.release();
  assert.deepEqual(Array.from((await c2.run({ x: xs })).y.data as Float32Array), [3, 3]);
  await Promise.all([c2.release(), c3.release()]);

  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const wt = g.input("w", "float32", [3]);
  await assert.rejects(compile(g, { y: x.mul(wt) }, { constants: new Map([["v", w]]) }), /constant "v" is not an input/);
  await assert.rejects(compile(g, { y: x.mul(wt) }, { constants: new Map([["w", w]]) }), /constant "w" must be a Float32Array of 3 values.*got a Float32Array of 6/);
  const sym = g.input("s", "float32", ["n"]);
  await assert.rejects(compile(g, { y: sym.mul(2) }, { constants: new Map([["s", w]]) }), /constant "s" needs a static shape/);
});
