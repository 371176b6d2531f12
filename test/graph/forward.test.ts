// Forward values of every op against the plain-TypeScript reference in ./reference.ts, on small inputs.
// float32 results are compared with |a - r| <= 1e-5 |r| + 1e-6; float64 and integer results much tighter.
import { test } from "node:test";
import { orderAfter } from "../../src/graph/checkpoint.ts";
import assert from "node:assert/strict";
import { Graph, Tensor, ops, neededTensors, type DType, type Shape } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { allocate, type AnyTypedArray } from "../../src/graph/dtype.ts";
import { Rng } from "../../src/util/random.ts";
import * as R from "./reference.ts";
import { quantizeMatrix } from "../../src/graph/quant.ts";
import { ND } from "./reference.ts";

const covered = new Set<string>();
const rng = new Rng(7);

interface In {
  dtype?: DType;
  shape: Shape;
  dims?: number[];
  value: ArrayLike<number>;
}

/** Random (or given) values, rounded to float32 so that float32 feeds and the float64 reference see the same numbers. */
function nd(shape: number[], f?: (i: number) => number): ND {
  const gen = f ?? (() => rng.normal());
  return ND.fill(shape, (i) => Math.fround(gen(i)));
}

function typed(dtype: DType, v: ArrayLike<number>): AnyTypedArray {
  const a = allocate(dtype, v.length);
  for (let i = 0; i < v.length; i++) {
    if (a instanceof BigInt64Array) a[i] = BigInt(v[i]!);
    else (a as Float32Array)[i] = v[i]!;
  }
  return a;
}

/** Build, compile and run; returns the output as numbers with its dims. */
async function run(
  inputs: Record<string, In>,
  build: (x: Record<string, Tensor>, g: Graph) => Tensor,
): Promise<{ dims: number[]; data: number[]; dtype: DType; tensor: Tensor }> {
  const g = new Graph();
  const x: Record<string, Tensor> = {};
  const feeds: Record<string, { data: AnyTypedArray; dims: number[] }> = {};
  for (const [name, s] of Object.entries(inputs)) {
    const dtype = s.dtype ?? "float32";
    x[name] = g.input(name, dtype, s.shape);
    feeds[name] = { data: typed(dtype, s.value), dims: s.dims ?? (s.shape as number[]) };
  }
  const out = build(x, g);
  for (const t of neededTensors([out])) covered.add(t.op.type);
  const c = await compile(g, { out }, { threads: 1 });
  const used = new Set(c.inputs.map((t) => t.inputName));
  const r = await c.run(Object.fromEntries(Object.entries(feeds).filter(([k]) => used.has(k))));
  return { dims: r.out.dims, data: Array.from(r.out.data as ArrayLike<number | bigint>, Number), dtype: out.dtype, tensor: out };
}

/** f32 inputs from reference arrays. */
const f32 = (a: ND, shape?: Shape): In => ({ shape: shape ?? a.shape, dims: [...a.shape], value: a.data });
const f64 = (a: ND): In => ({ dtype: "float64", shape: a.shape, value: a.data });
const i64 = (a: ND, shape?: Shape): In => ({ dtype: "int64", shape: shape ?? a.shape, dims: [...a.shape], value: a.data });

function assertClose(
  got: { dims: number[]; data: number[]; dtype: DType },
  want: ND,
  label: string,
): void {
  assert.deepEqual(got.dims, [...want.shape], `${label}: dims`);
  const [rel, abs] = got.dtype === "float32" ? [1e-5, 1e-6] : got.dtype === "float64" ? [1e-12, 1e-14] : [0, 0];
  for (let i = 0; i < want.size; i++) {
    const a = got.data[i]!;
    const r = want.data[i]!;
    const ok = Number.isNaN(r) ? Number.isNaN(a) : Math.abs(a - r) <= rel * Math.abs(r) + abs;
    assert.ok(ok, `${label}: element ${i} is ${a}, reference ${r}`);
  }
}

async function expectOp(
  label: string,
  inputs: Record<string, In>,
  build: (x: Record<string, Tensor>, g: Graph) => Tensor,
  want: ND,
  dtype?: DType,
): Promise<void> {
  const got = await run(inputs, build);
  if (dtype) assert.equal(got.dtype, dtype, `${label}: dtype`);
  assertClose(got, want, label);
}

test("binary arithmetic with broadcasting (float32 and float64)", async () => {
  const a = nd([2, 1, 4]);
  const b = nd([3, 1]);
  const bp = nd([3, 1], () => 0.5 + rng.float());
  const pairs: [string, (x: Tensor, y: Tensor) => Tensor, (p: number, q: number) => number][] = [
    ["add", (x, y) => x.add(y), (p, q) => p + q],
    ["sub", (x, y) => x.sub(y), (p, q) => p - q],
    ["mul", (x, y) => x.mul(y), (p, q) => p * q],
    ["div", (x, y) => x.div(y), (p, q) => p / q],
    ["maximum", (x, y) => x.maximum(y), (p, q) => Math.max(p, q)],
  ];
  for (const [name, f, ref] of pairs) {
    await expectOp(`${name} f32`, { a: f32(a), b: f32(bp) }, ({ a, b }) => f(a!, b!), R.elementwise(ref, a, bp), "float32");
    await expectOp(`${name} f64`, { a: f64(a), b: f64(b) }, ({ a, b }) => f(a!, b!), R.elementwise(ref, a, b), "float64");
  }
  const pa = nd([2, 3], () => 0.1 + 2 * rng.float());
  const pb = nd([3]);
  await expectOp("pow", { a: f32(pa), b: f32(pb) }, ({ a, b }) => a!.pow(b!), R.elementwise(Math.pow, pa, pb));
  await expectOp("number operands", { a: f32(pa) }, ({ a }) => a!.mul(2).add(1).sub(0.5).div(4), R.map(pa, (v) => (v * 2 + 1 - 0.5) / 4));
  await expectOp("number on the left", { a: f32(pa) }, ({ a }) => ops.sub(1, a!), R.map(pa, (v) => 1 - v));
  const ia = nd([2, 3], (i) => i - 2);
  await expectOp("int64 add/mul", { a: i64(ia) }, ({ a }) => a!.add(3).mul(a!), R.map(ia, (v) => (v + 3) * v), "int64");
});

test("unary maths", async () => {
  const x = nd([2, 3]);
  const pos = nd([2, 3], () => 0.05 + 3 * rng.float());
  const cases: [string, (t: Tensor) => Tensor, (v: number) => number, ND][] = [
    ["neg", (t) => t.neg(), (v) => -v, x],
    ["exp", (t) => t.exp(), Math.exp, x],
    ["log", (t) => t.log(), Math.log, pos],
    ["sqrt", (t) => t.sqrt(), Math.sqrt, pos],
    ["rsqrt", (t) => t.rsqrt(), (v) => 1 / Math.sqrt(v), pos],
    ["reciprocal", (t) => t.reciprocal(), (v) => 1 / v, pos],
    ["tanh", (t) => t.tanh(), Math.tanh, x],
    ["sigmoid", (t) => t.sigmoid(), (v) => 1 / (1 + Math.exp(-v)), x],
    ["silu", (t) => t.silu(), (v) => v / (1 + Math.exp(-v)), x],
    ["relu", (t) => t.relu(), (v) => Math.max(v, 0), x],
    ["abs", (t) => t.abs(), Math.abs, x],
    ["sign", (t) => ops.sign(t), Math.sign, nd([2, 3], (i) => i - 2)],
    ["sin", (t) => t.sin(), Math.sin, x],
    ["cos", (t) => t.cos(), Math.cos, x],
    ["square", (t) => t.square(), (v) => v * v, x],
  ];
  for (const [name, f, ref, input] of cases) {
    await expectOp(name, { x: f32(input) }, ({ x }) => f(x!), R.map(input, ref), "float32");
  }
  await expectOp("neg of int64", { x: i64(nd([3], (i) => i - 1)) }, ({ x }) => x!.neg(), ND.of([3], [1, 0, -1]), "int64");
});

test("comparisons, logic and where", async () => {
  const a = ND.of([2, 3], [1, 2, 3, 4, 5, 6]);
  const b = ND.of([3], [2, 2, 7]);
  const cmp: [string, (x: Tensor, y: Tensor) => Tensor, (p: number, q: number) => boolean][] = [
    ["equal", (x, y) => x.equal(y), (p, q) => p === q],
    ["less", (x, y) => x.less(y), (p, q) => p < q],
    ["greater", (x, y) => x.greater(y), (p, q) => p > q],
    ["ge", (x, y) => ops.ge(x, y), (p, q) => p >= q],
  ];
  for (const [name, f, ref] of cmp) {
    await expectOp(name, { a: f32(a), b: f32(b) }, ({ a, b }) => f(a!, b!), R.elementwise((p, q) => Number(ref(p, q)), a, b), "bool");
    await expectOp(`${name} int64`, { a: i64(a), b: i64(b) }, ({ a, b }) => f(a!, b!), R.elementwise((p, q) => Number(ref(p, q)), a, b), "bool");
  }
  await expectOp(
    "and/not",
    { a: f32(a), b: f32(b) },
    ({ a, b }) => ops.and(ops.not(a!.less(b!)), a!.less(5)),
    R.elementwise((p, q) => Number(!(p < q) && p < 5), a, b),
    "bool",
  );
  const c = ND.of([2, 1], [1, 0]);
  await expectOp(
    "where broadcasting [2,1] ? [2,3] : [3]",
    { c: { dtype: "bool", shape: [2, 1], value: c.data }, a: f32(a), b: f32(b) },
    ({ c, a, b }) => ops.where(c!, a!, b!),
    R.where(c, a, b),
  );
  await expectOp("where with a number", { a: f32(a) }, ({ a }) => ops.where(a!.greater(3), a!, -1), R.map(a, (v) => (v > 3 ? v : -1)));
});

test("matmul: 2-D, batched, broadcast batch, rank-2 x rank-3, float64", async () => {
  const shapes: [number[], number[]][] = [
    [[3, 4], [4, 2]],
    [[2, 3, 4], [4, 5]],
    [[3, 4], [2, 4, 5]],
    [[2, 1, 3, 4], [1, 3, 4, 2]],
    [[1, 2, 4], [3, 4, 2]],
  ];
  for (const [sa, sb] of shapes) {
    const a = nd(sa);
    const b = nd(sb);
    await expectOp(`[${sa}] x [${sb}]`, { a: f32(a), b: f32(b) }, ({ a, b }) => a!.matmul(b!), R.matmul(a, b));
  }
  const a = nd([2, 3, 4]);
  const b = nd([4, 3]);
  await expectOp("float64", { a: f64(a), b: f64(b) }, ({ a, b }) => a!.matmul(b!), R.matmul(a, b), "float64");
  await expectOp("symbolic batch", { a: f32(a, ["b", "s", 4]), b: f32(b) }, ({ a, b }) => a!.matmul(b!), R.matmul(a, b));
  await expectOp("a @ b^T via t()", { a: f32(a), b: f32(a) }, ({ a, b }) => a!.matmul(b!.t()), R.matmul(a, R.transpose(a, [0, 2, 1])));
});

test("reductions and (log-)softmax", async () => {
  const x = nd([2, 3, 4]);
  for (const kind of ["sum", "mean", "max"] as const) {
    for (const [axes, keep] of [[[1], false], [[0, 2], true], [[-1], true], [undefined, false], [[0, 1, 2], true]] as const) {
      const ax = axes ? [...axes] : undefined;
      await expectOp(
        `${kind} axes ${ax ?? "all"} keepdims ${keep}`,
        { x: f32(x) },
        ({ x }) => (kind === "sum" ? x!.sum(ax, keep) : kind === "mean" ? x!.mean(ax, keep) : x!.max(ax, keep)),
        R.reduce(x, kind, ax, keep),
      );
    }
  }
  await expectOp("mean over symbolic dims", { x: f32(x, ["a", "b", 4]) }, ({ x }) => x!.mean([0, 1]), R.reduce(x, "mean", [0, 1]));
  const ix = nd([2, 3], (i) => i * 3 - 4);
  await expectOp("sum of int64", { x: i64(ix) }, ({ x }) => x!.sum(1), R.reduce(ix, "sum", [1]), "int64");
  // Large logits: the reference and the engine both must be stable.
  const big = nd([3, 5], (i) => (i % 5) * 400 - 800 + rng.normal());
  for (const axis of [-1, 0]) {
    await expectOp(`softmax axis ${axis}`, { x: f32(big) }, ({ x }) => x!.softmax(axis), R.softmax(big, axis));
    await expectOp(`logSoftmax axis ${axis}`, { x: f32(big) }, ({ x }) => x!.logSoftmax(axis), R.logSoftmax(big, axis));
  }
  await expectOp("softmax rank 3 axis 1", { x: f32(x) }, ({ x }) => x!.softmax(1), R.softmax(x, 1));
});

test("gather and gatherElements", async () => {
  const table = nd([5, 3]);
  const ids = ND.of([2, 3], [4, 0, 4, -1, 2, 2]);
  await expectOp("gather int64 ids (negative, duplicate)", { t: f32(table), i: i64(ids) }, ({ t, i }) => t!.gather(i!), R.gather(table, ids));
  await expectOp(
    "gather int32 ids",
    { t: f32(table), i: { dtype: "int32", shape: ["b", "s"], dims: [2, 3], value: ids.data } },
    ({ t, i }) => t!.gather(i!),
    R.gather(table, ids),
  );
  const itable = nd([4], (i) => 10 * i);
  await expectOp("gather from an int64 table", { t: i64(itable), i: i64(ND.of([2], [3, 1])) }, ({ t, i }) => t!.gather(i!), ND.of([2], [30, 10]), "int64");
  const x = nd([3, 4]);
  const idx = ND.of([3, 2], [0, 3, 3, 3, 1, -2]);
  await expectOp("gatherElements axis 1", { x: f32(x), i: i64(idx) }, ({ x, i }) => x!.gatherElements(i!, 1), R.gatherElements(x, idx, 1));
  const idx0 = ND.of([2, 4], [2, 0, 1, 2, 0, 0, 0, 1]);
  await expectOp("gatherElements axis 0", { x: f32(x), i: i64(idx0) }, ({ x, i }) => x!.gatherElements(i!, 0), R.gatherElements(x, idx0, 0));
});

test("reshape, transpose, slice, concat, expand, squeeze", async () => {
  const x = nd([2, 3, 4]);
  await expectOp("reshape", { x: f32(x) }, ({ x }) => x!.reshape([4, 6]), R.reshape(x, [4, 6]));
  await expectOp("reshape -1", { x: f32(x) }, ({ x }) => x!.reshape([-1, 3, 2]), R.reshape(x, [-1, 3, 2]));
  await expectOp("reshape symbolic", { x: f32(x, ["b", 3, 4]) }, ({ x }) => x!.reshape(["b", -1]), R.reshape(x, [2, 12]));
  await expectOp("unsqueeze/squeeze", { x: f32(x) }, ({ x }) => x!.unsqueeze(1).squeeze(1).unsqueeze(-1), R.reshape(x, [2, 3, 4, 1]));
  for (const perm of [[2, 0, 1], [1, 0, 2], undefined]) {
    await expectOp(`transpose ${perm ?? "default"}`, { x: f32(x) }, ({ x }) => x!.transpose(perm), R.transpose(x, perm));
  }
  await expectOp("t()", { x: f32(x) }, ({ x }) => x!.t(), R.transpose(x, [0, 2, 1]));
  const slices: [number, number, number | undefined][] = [
    [1, -2, undefined],
    [2, 1, -1],
    [0, 1, 99],
    [2, -3, -1],
    [1, 0, 2],
    [2, 5, undefined],
  ];
  for (const [axis, s, e] of slices) {
    await expectOp(`slice axis ${axis} ${s}:${e ?? ""}`, { x: f32(x) }, ({ x }) => x!.slice(axis, s, e), R.slice(x, axis, s, e));
    await expectOp(
      `slice symbolic axis ${axis} ${s}:${e ?? ""}`,
      { x: f32(x, ["a", "b", "c"]) },
      ({ x }) => x!.slice(axis, s, e),
      R.slice(x, axis, s, e),
    );
  }
  for (const [axis, before, after] of [[1, 1, 0], [2, 0, 3], [-1, 2, 1]] as const) {
    await expectOp(`pad axis ${axis} ${before}/${after}`, { x: f32(x) }, ({ x }) => ops.pad(x!, axis, before, after), R.pad(x, axis, before, after));
  }
  await expectOp("pad symbolic axis", { x: f32(x, [2, "s", 4]) }, ({ x }) => ops.pad(x!.slice(1, 0, -1), 1, 1, 0), R.pad(R.slice(x, 1, 0, -1), 1, 1, 0));
  const y = nd([2, 1, 4]);
  await expectOp("concat axis 1", { x: f32(x), y: f32(y) }, ({ x, y }) => ops.concat([x!, y!, x!], 1), R.concat([x, y, x], 1));
  await expectOp(
    "concat symbolic axis",
    { x: f32(x, [2, "p", 4]), y: f32(y, [2, "q", 4]) },
    ({ x, y }) => ops.concat([y!, x!], -2),
    R.concat([y, x], 1),
  );
  const e = nd([3, 1]);
  await expectOp("expand [3,1] -> [2,3,4]", { e: f32(e) }, ({ e }) => e!.expand([2, 3, 4]), R.expand(e, [2, 3, 4]));
  await expectOp(
    "expand to a symbolic shape",
    { e: f32(e), x: f32(x, ["b", 3, 4]) },
    ({ e, x }) => e!.expand(["b", 3, 4]).add(x!.mul(0)),
    R.expand(e, [2, 3, 4]),
  );
});

test("cast, constant, range, dimValue, trilu, zerosLike, stopGradient", async () => {
  const x = ND.of([5], [-1.7, -0.2, 0, 0.6, 2.9]);
  await expectOp("cast float32 -> int64 truncates", { x: f32(x) }, ({ x }) => x!.cast("int64"), ND.of([5], [-1, 0, 0, 0, 2]), "int64");
  await expectOp("cast float32 -> bool", { x: f32(x) }, ({ x }) => x!.cast("bool"), ND.of([5], [1, 1, 0, 1, 1]), "bool");
  await expectOp("cast int64 -> float64", { x: i64(ND.of([2], [3, -4])) }, ({ x }) => x!.cast("float64"), ND.of([2], [3, -4]), "float64");
  await expectOp("cast int64 -> int32", { x: i64(ND.of([2], [3, -4])) }, ({ x }) => x!.cast("int32"), ND.of([2], [3, -4]), "int32");
  await expectOp("cast via the op node", { x: f64(x) }, ({ x }, g) => g.add(ops.castOp, [x!], { to: "float64" }), x, "float64");
  const k = nd([2, 3]);
  await expectOp("constant", { x: f32(k) }, ({ x }, g) => x!.add(g.constant(k.data, "float32", [2, 3])), R.map(k, (v) => 2 * v));
  await expectOp("scalar constant", { x: f32(k) }, ({ x }, g) => x!.mul(g.scalar(-3)), R.map(k, (v) => -3 * v));
  await expectOp("range static", {}, (_x, g) => ops.range(g, 4), ND.of([4], [0, 1, 2, 3]), "int64");
  await expectOp("range of a symbolic dim, as float32", { x: f32(k, ["n", 3]) }, ({ x }, g) => ops.range(g, x!.shape[1]!, "float32").add(ops.range(g, "n", "float32").unsqueeze(-1)), ND.of([2, 3], [0, 1, 2, 1, 2, 3]));
  await expectOp("dimValue", { x: f32(k, ["n", "m"]) }, ({ x }, g) => ops.dimValue(g, "n*m", "float32").add(x!.mul(0)), ND.fill([2, 3], () => 6));
  const sq = nd([2, 3, 4]);
  for (const [upper, kk] of [[true, 0], [false, 0], [true, 1], [false, -1], [true, -2]] as const) {
    await expectOp(`trilu upper=${upper} k=${kk}`, { x: f32(sq) }, ({ x }) => ops.trilu(x!, upper, kk), R.trilu(sq, upper, kk));
  }
  await expectOp("trilu float64 symbolic", { x: { dtype: "float64", shape: ["b", "n", "m"], dims: [2, 3, 4], value: sq.data } }, ({ x }) => ops.trilu(x!, false), R.trilu(sq, false));
  await expectOp("zerosLike", { x: f32(k, ["n", 3]) }, ({ x }) => ops.zerosLike(x!), ND.fill([2, 3], () => 0));
  await expectOp("stopGradient is the identity forward", { x: f32(k) }, ({ x }) => x!.stopGradient(), k);
});

test("oneHot, crossEntropy with ignore index, rmsNorm", async () => {
  const ids = ND.of([2, 3], [0, 3, 2, 5, -1, 1]);
  await expectOp("oneHot (out-of-range ids give zero rows)", { i: i64(ids) }, ({ i }) => ops.oneHot(i!, 4), R.oneHot(ids, 4));
  const logits = nd([2, 3, 5]);
  const labels = ND.of([2, 3], [1, -100, 4, 0, 0, -100]);
  const ref = R.crossEntropy(logits, labels);
  const inputs = { z: f32(logits), y: i64(labels) };
  await expectOp("crossEntropy loss", inputs, ({ z, y }) => ops.crossEntropy(z!, y!).loss, ND.of([], [ref.loss]));
  await expectOp("crossEntropy nll", inputs, ({ z, y }) => ops.crossEntropy(z!, y!).nll, ref.nll);
  await expectOp("crossEntropy count", inputs, ({ z, y }) => ops.crossEntropy(z!, y!).count, ND.of([], [4]));
  const none = ND.fill([2, 3], () => -100);
  await expectOp("crossEntropy with every position ignored is 0", { z: f32(logits), y: i64(none) }, ({ z, y }) => ops.crossEntropy(z!, y!).loss, ND.of([], [0]));
  const ref7 = R.crossEntropy(logits, ND.of([2, 3], [7, 2, 7, 1, 1, 1]), 7);
  await expectOp(
    "crossEntropy custom ignore index, int32 labels",
    { z: f32(logits), y: { dtype: "int32", shape: [2, 3], value: [7, 2, 7, 1, 1, 1] } },
    ({ z, y }) => ops.crossEntropy(z!, y!, 7).loss,
    ND.of([], [ref7.loss]),
  );
  const x = nd([2, 3, 4]);
  const w = nd([4]);
  await expectOp("rmsNorm", { x: f32(x), w: f32(w) }, ({ x, w }) => ops.rmsNorm(x!, w!, 1e-6), R.rmsNorm(x, w, 1e-6));
});

test("chunked LM-head log-sum-exp and cross-entropy; orderAfter is the identity forward", async () => {
  const h = nd([5, 4]);
  const w = nd([7, 4]);
  // Reference: log-sum-exp over the vocabulary of h @ w^T, row by row (the reference logSoftmax gives it).
  const logits = R.matmul(h, R.transpose(w));
  const lse = ND.fill([5], (i) => logits.data[i * 7]! - R.logSoftmax(logits).data[i * 7]!);
  await expectOp("chunkedLogSumExp (3 chunks) f64", { h: f64(h), w: f64(w) }, ({ h, w }) => ops.chunkedLogSumExp(h!, w!, 3), lse);
  await expectOp("chunkedLogSumExp (1 chunk) f32", { h: f32(h), w: f32(w) }, ({ h, w }) => ops.chunkedLogSumExp(h!, w!, 7), lse);
  const labels = ND.of([5], [1, -100, 6, 0, 3]);
  const ref = R.crossEntropy(logits, labels);
  await expectOp(
    "lmHeadCrossEntropy loss (chunks of 2)",
    { h: f64(h), w: f64(w), y: i64(labels) },
    ({ h, w, y }) => ops.lmHeadCrossEntropy(h!, w!, y!, { chunk: 2 }).loss,
    ND.of([], [ref.loss]),
  );
  const x = nd([2, 3]);
  await expectOp("orderAfter", { x: f32(x), a: f32(nd([4])) }, ({ x, a }) => orderAfter(x!, a!), x);
});

test("erf, exact GELU (float32 Erf node, float64 series), LayerNorm with bias, padding bias", async () => {
  // Known values of erf to 16 digits: the reference itself is checked first.
  const known: [number, number][] = [[0.5, 0.5204998778130465], [1, 0.8427007929497149], [2, 0.9953222650189527], [3, 0.9999779095030014], [-1.5, -0.9661051464753108]];
  for (const [v, e] of known) assert.ok(Math.abs(R.erfScalar(v) - e) < 3e-16, `reference erf(${v})`);
  const x = nd([3, 5], (i) => (i - 7) * 0.61 + 0.03 * rng.normal());
  const wide = nd([2, 6], (i) => [-9, -5.5, -2.7, 0, 2.2, 3.1, 4.4, 5.9, 6.5, 12, 1e-3, -0.2][i]!);
  for (const v of [x, wide]) {
    await expectOp("erf f32", { x: f32(v) }, ({ x }) => x!.erf(), R.map(v, R.erfScalar), "float32");
    await expectOp("erf f64", { x: f64(v) }, ({ x }) => x!.erf(), R.map(v, R.erfScalar), "float64");
    await expectOp("gelu f32", { x: f32(v) }, ({ x }) => x!.gelu(), R.gelu(v), "float32");
    await expectOp("gelu f64", { x: f64(v) }, ({ x }) => x!.gelu(), R.gelu(v), "float64");
  }
  const h = nd([2, 3, 4]);
  const w = nd([4]);
  const b = nd([4]);
  for (const eps of [1e-12, 1e-5, 0.5]) {
    await expectOp(`layerNorm f32 eps ${eps}`, { x: f32(h), w: f32(w), b: f32(b) }, ({ x, w, b }) => ops.layerNorm(x!, w!, b!, eps), R.layerNorm(h, w, b, eps));
    // The ONNX attribute is float32, so the float64 reference uses the rounded eps.
    await expectOp(`layerNorm f64 eps ${eps}`, { x: f64(h), w: f64(w), b: f64(b) }, ({ x, w, b }) => ops.layerNorm(x!, w!, b!, eps), R.layerNorm(h, w, b, Math.fround(eps)));
  }
  const mask = ND.of([2, 3], [1, 1, 0, 1, 0, 0]);
  const neg32 = -3.4028234663852886e38;
  await expectOp(
    "paddingBias int64 mask -> float32 [2,1,1,3]",
    { m: i64(mask, ["b", "k"]) },
    ({ m }) => ops.paddingBias(m!, "float32"),
    ND.of([2, 1, 1, 3], [0, 0, neg32, 0, neg32, neg32]),
    "float32",
  );
  await expectOp(
    "paddingBias bool mask -> float64",
    { m: { dtype: "bool", shape: [2, 3], value: mask.data } },
    ({ m }) => ops.paddingBias(m!, "float64"),
    ND.of([2, 1, 1, 3], [0, 0, -Number.MAX_VALUE, 0, -Number.MAX_VALUE, -Number.MAX_VALUE]),
    "float64",
  );
  // Masked keys get exactly zero attention, real keys share all of it, every query alike (no causal part).
  const scores = nd([2, 1, 2, 3]);
  const probs = await run({ s: f32(scores), m: i64(mask) }, ({ s, m }) => s!.add(ops.paddingBias(m!, "float32")).softmax(-1));
  const want = ND.fill([2, 1, 2, 3], (i) => {
    const row = Math.floor(i / 3);
    const batch = Math.floor(row / 2);
    const keep = (j: number) => mask.data[batch * 3 + j]! === 1;
    if (!keep(i % 3)) return 0;
    let z = 0;
    for (let j = 0; j < 3; j++) if (keep(j)) z += Math.exp(scores.data[row * 3 + j]!);
    return Math.exp(scores.data[i]!) / z;
  });
  assertClose(probs, want, "padded softmax");
});

test("block-quantized ops: MatMulNBits, GatherBlockQuantized, the dequantized matrix (more in ./quant.test.ts)", async () => {
  const [rows, cols] = [3, 20];
  const q = quantizeMatrix(Float32Array.from(nd([rows, cols]).data), rows, cols, { bits: 4, blockSize: 16, symmetric: false });
  const w = new ND([rows, cols], R.blockDequantize(q));
  const parts: Record<string, In> = {
    data: { dtype: "uint8", shape: [rows, 2, 8], value: q.data },
    scales: { shape: [rows, 2], value: q.scales },
    zero: { dtype: "uint8", shape: [rows, 1], value: q.zeroPoints! },
  };
  const table = (x: Record<string, Tensor>) => ops.blockQuantized(x.data!, x.scales!, x.zero!, { rows, cols, bits: 4, blockSize: 16 });
  const x = nd([2, cols]);
  const ids = ND.of([2], [2, 0]);
  await expectOp("matMulNBits (float32 accuracy)", { ...parts, x: f32(x) }, (t) => ops.matMulNBits(t.x!, table(t), 0), R.matmul(x, R.transpose(w)));
  await expectOp("gatherBlockQuantized", { ...parts, ids: i64(ids) }, (t) => ops.gatherBlockQuantized(table(t), t.ids!), R.gather(w, ids));
  await expectOp("blockQuantized (whole matrix)", parts, (t) => table(t), w);
});

test("every registered op was run forward above", () => {
  // Gradient helper ops run (and are checked) inside the finite-difference checks of ./gradients.test.ts.
  const needed = [...ops.registeredOps().values()].filter((r) => r.differentiation !== "helper").map((r) => r.op.type);
  assert.ok(needed.length >= 40, `the registry lists only ${needed.length} ops`);
  const missing = needed.filter((t) => !covered.has(t));
  assert.deepEqual(missing, [], `ops without a forward check: ${missing.join(", ")}`);
});
