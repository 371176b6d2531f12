// Finite-difference checks (float64, error < 1e-6 as defined in ./gradcheck.ts) of every op with a gradient rule.
// ONNX Runtime's CPU provider has float64 kernels for every op these gradients emit (Trilu, ScatterND and
// ScatterElements with reduction "add", Pad, Where, ... included), so all checks run in float64; one extra check
// of a float32 round trip uses the looser float32 tolerance 1e-3.
// The last test proves coverage from the op registry: every op registered with a gradient rule was on the path of
// some float64 check here, and every gradient-only helper op was in some checked gradient graph.
import { test } from "node:test";
import { checkpoint, orderAfter } from "../../src/graph/checkpoint.ts";
import assert from "node:assert/strict";
import { Graph, Tensor, ops } from "../../src/graph/index.ts";
import { gradCheck, assertGradClose, type GcInput, type GradCheckOptions } from "./gradcheck.ts";
import { Rng } from "../../src/util/random.ts";

const TOL = 1e-6;
/** Op types on the differentiated path of some float64 check, and op types of the checked gradient graphs. */
const covered = new Set<string>();
const coveredInGradients = new Set<string>();

async function check(
  label: string,
  inputs: Record<string, GcInput>,
  build: (x: Record<string, Tensor>, g: Graph) => Tensor,
  options: GradCheckOptions & { tol?: number } = {},
): Promise<void> {
  let r;
  try {
    r = await gradCheck(inputs, build, options);
  } catch (err) {
    throw new Error(`${label}: ${(err as Error).message}`, { cause: err });
  }
  assertGradClose(r, options.tol ?? TOL, label);
  const float64 = Object.values(inputs).every((spec) => (spec.dtype ?? "float64") !== "float32");
  if (float64) for (const t of r.opTypes) covered.add(t);
  for (const t of r.gradOpTypes) coveredInGradients.add(t);
}

const rng = new Rng(99);
/** Normal values pushed at least `margin` away from zero (for kinks and poles). */
function awayFromZero(n: number, margin = 0.3): number[] {
  return Array.from({ length: n }, () => {
    const v = rng.normal();
    return Math.sign(v || 1) * (margin + Math.abs(v));
  });
}
function positive(n: number, lo = 0.3): number[] {
  return Array.from({ length: n }, () => lo + 2 * rng.float());
}
/** Distinct values (a shuffled grid with spacing 0.25): no ties for max. */
function distinct(n: number): number[] {
  return rng.shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.25 + 0.05));
}

test("binary elementwise ops with broadcasting", async () => {
  await check("add [2,3]+[3]", { a: { shape: [2, 3] }, b: { shape: [3] } }, ({ a, b }) => a!.add(b!));
  await check("sub [2,1,4]-[3,1]", { a: { shape: [2, 1, 4] }, b: { shape: [3, 1] } }, ({ a, b }) => a!.sub(b!));
  await check("mul [2,1,4]*[3,1]", { a: { shape: [2, 1, 4] }, b: { shape: [3, 1] } }, ({ a, b }) => a!.mul(b!));
  await check(
    "div [2,3]/[2,1]",
    { a: { shape: [2, 3] }, b: { shape: [2, 1], value: awayFromZero(2, 0.5) } },
    ({ a, b }) => a!.div(b!),
  );
  await check(
    "pow [2,3]^[3] (positive base)",
    { a: { shape: [2, 3], value: positive(6) }, b: { shape: [3] } },
    ({ a, b }) => a!.pow(b!),
  );
  await check("pow by a constant", { a: { shape: [4], value: positive(4) } }, ({ a }) => a!.pow(3));
  // maximum: operands differ by >= 0.1 everywhere, far from the kink relative to the FD step.
  const av = distinct(6);
  await check(
    "maximum [2,3] vs [3]",
    { a: { shape: [2, 3], value: av }, b: { shape: [3], value: [0.02, -0.11, 0.41] } },
    ({ a, b }) => a!.maximum(b!),
  );
  await check("scalar ops", { a: { shape: [3] } }, ({ a }) => a!.mul(3).sub(1).add(2).div(4));
  await check("fan-out: x used several times", { a: { shape: [2, 2] } }, ({ a }) => a!.mul(a!).add(a!.exp()).sub(a!));
});

test("where with broadcasting (condition is not differentiated)", async () => {
  await check(
    "where([2,3], [2,3], [3])",
    {
      c: { dtype: "bool", shape: [2, 3], value: [1, 0, 1, 0, 0, 1] },
      a: { shape: [2, 3] },
      b: { shape: [3] },
    },
    ({ c, a, b }) => ops.where(c!, a!, b!),
  );
  await check(
    "where(x > 0, x, 0.1x) (a leaky relu)",
    { a: { shape: [2, 4], value: awayFromZero(8) } },
    ({ a }) => ops.where(a!.greater(0), a!, a!.mul(0.1)),
  );
});

test("unary ops", async () => {
  const cases: [string, (x: Tensor) => Tensor, number[] | undefined][] = [
    ["neg", (x) => x.neg(), undefined],
    ["exp", (x) => x.exp(), undefined],
    ["log", (x) => x.log(), positive(6)],
    ["sqrt", (x) => x.sqrt(), positive(6)],
    ["rsqrt", (x) => x.rsqrt(), positive(6)],
    ["reciprocal", (x) => x.reciprocal(), awayFromZero(6, 0.5)],
    ["tanh", (x) => x.tanh(), undefined],
    ["sigmoid", (x) => x.sigmoid(), undefined],
    ["silu", (x) => x.silu(), undefined],
    ["relu", (x) => x.relu(), awayFromZero(6)],
    ["abs", (x) => x.abs(), awayFromZero(6)],
    ["sin", (x) => x.sin(), undefined],
    ["cos", (x) => x.cos(), undefined],
    ["square", (x) => x.square(), undefined],
  ];
  for (const [name, f, value] of cases) {
    await check(name, { x: { shape: [2, 3], value } }, ({ x }) => f(x!));
  }
});

test("reductions with and without keepdims, several axes, symbolic dims", async () => {
  const x = { shape: [2, 3, 4] };
  await check("sum axis 1", { x }, ({ x }) => x!.sum(1));
  await check("sum axes [0,2] keepdims", { x }, ({ x }) => x!.sum([0, 2], true));
  await check("sum all", { x }, ({ x }) => x!.sum());
  await check("sum symbolic", { x: { shape: ["b", 3], dims: [4, 3] } }, ({ x }) => x!.sum(0, true));
  await check("mean axis -1 keepdims", { x }, ({ x }) => x!.mean(-1, true));
  await check("mean axes [0,1]", { x }, ({ x }) => x!.mean([0, 1]));
  await check("mean over symbolic dims", { x: { shape: ["b", "s", 2], dims: [3, 2, 2] } }, ({ x }) => x!.mean([0, 1]));
  const xd = { shape: [2, 3, 4], value: distinct(24) };
  await check("max axis 1", { x: xd }, ({ x }) => x!.max(1));
  await check("max axes [0,2] keepdims", { x: xd }, ({ x }) => x!.max([0, 2], true));
  await check("max all", { x: xd }, ({ x }) => x!.max());
});

test("softmax and log-softmax", async () => {
  await check("softmax last axis", { x: { shape: [2, 5] } }, ({ x }) => x!.softmax(-1));
  await check("softmax axis 0 of rank 3", { x: { shape: [3, 2, 2] } }, ({ x }) => x!.softmax(0));
  await check("logSoftmax last axis", { x: { shape: [3, 4] } }, ({ x }) => x!.logSoftmax(-1));
  await check("logSoftmax axis 1 symbolic", { x: { shape: ["b", 4, 2], dims: [2, 4, 2] } }, ({ x }) => x!.logSoftmax(1));
  await check("seeded gradient (not a scalar loss)", { x: { shape: [2, 3] } }, ({ x }) => x!.softmax(), { useSeed: true });
});

test("matmul: plain, batched, broadcast batch, symbolic", async () => {
  await check("[3,4] x [4,2]", { a: { shape: [3, 4] }, b: { shape: [4, 2] } }, ({ a, b }) => a!.matmul(b!));
  await check("[2,3,4] x [4,5] (weight-gradient fold)", { a: { shape: [2, 3, 4] }, b: { shape: [4, 5] } }, ({ a, b }) =>
    a!.matmul(b!),
  );
  await check("[3,4] x [2,4,5]", { a: { shape: [3, 4] }, b: { shape: [2, 4, 5] } }, ({ a, b }) => a!.matmul(b!));
  await check(
    "[2,1,3,4] x [1,3,4,2] (broadcast batch)",
    { a: { shape: [2, 1, 3, 4] }, b: { shape: [1, 3, 4, 2] } },
    ({ a, b }) => a!.matmul(b!),
  );
  await check("[2,3,3,4] x [2,3,4,2]", { a: { shape: [2, 3, 3, 4] }, b: { shape: [2, 3, 4, 2] } }, ({ a, b }) =>
    a!.matmul(b!),
  );
  await check(
    "[b,s,4] x [4,3] symbolic",
    { a: { shape: ["b", "s", 4], dims: [2, 3, 4] }, b: { shape: [4, 3] } },
    ({ a, b }) => a!.matmul(b!),
  );
  await check("x @ x^T (same tensor twice)", { a: { shape: [3, 4] } }, ({ a }) => a!.matmul(a!.t()), { useSeed: true });
});

test("gather (duplicate and negative ids) and gatherElements", async () => {
  await check(
    "gather [5,3] at [2,3] with duplicates",
    { t: { shape: [5, 3] }, ids: { dtype: "int64", shape: [2, 3], value: [1, 4, 1, 0, 1, 4] } },
    ({ t, ids }) => t!.gather(ids!),
  );
  await check(
    "gather with int32 ids and a negative id",
    { t: { shape: [4, 2] }, ids: { dtype: "int32", shape: [3], value: [-1, 3, 0] } },
    ({ t, ids }) => t!.gather(ids!),
  );
  await check(
    "gather with symbolic ids",
    { t: { shape: [4, 2] }, ids: { dtype: "int64", shape: ["b", "s"], dims: [2, 2], value: [2, 2, 2, 0] } },
    ({ t, ids }) => t!.gather(ids!),
  );
  await check(
    "gatherElements axis 1 with duplicates",
    { x: { shape: [3, 4] }, i: { dtype: "int64", shape: [3, 2], value: [0, 0, 3, 1, 2, 2] } },
    ({ x, i }) => x!.gatherElements(i!, 1),
  );
  await check(
    "gatherElements axis 0",
    { x: { shape: [3, 2] }, i: { dtype: "int64", shape: [2, 2], value: [2, 0, 2, 1] } },
    ({ x, i }) => x!.gatherElements(i!, 0),
  );
});

test("reshape, transpose, slice, concat, expand", async () => {
  const x = { shape: [2, 3, 4] };
  await check("reshape static", { x }, ({ x }) => x!.reshape([6, 4]));
  await check("reshape with -1", { x }, ({ x }) => x!.reshape([4, -1]));
  await check("reshape symbolic", { x: { shape: ["b", 3, 4], dims: [2, 3, 4] } }, ({ x }) => x!.reshape(["b", 12]).mul(2));
  await check("reshape symbolic with -1", { x: { shape: ["b", 3, 4], dims: [2, 3, 4] } }, ({ x }) =>
    x!.reshape([-1, 2]).mul(2),
  );
  await check("unsqueeze/squeeze", { x: { shape: [3] } }, ({ x }) => x!.unsqueeze(0).unsqueeze(-1).squeeze(0).mul(2));
  await check("transpose perm [2,0,1]", { x }, ({ x }) => x!.transpose([2, 0, 1]));
  await check("transpose default (reverse)", { x }, ({ x }) => x!.transpose());
  await check("slice negative start, open end", { x }, ({ x }) => x!.slice(1, -2));
  await check("slice start..negative end", { x }, ({ x }) => x!.slice(2, 1, -1));
  await check("slice clamped end", { x }, ({ x }) => x!.slice(0, 1, 99));
  await check("slice symbolic, open end", { x: { shape: ["n", 4], dims: [5, 4] } }, ({ x }) => x!.slice(0, 2));
  await check("slice symbolic, negative start", { x: { shape: ["n", 4], dims: [5, 4] } }, ({ x }) => x!.slice(0, -3));
  await check("slice symbolic, start..-1", { x: { shape: ["n", 4], dims: [5, 4] } }, ({ x }) => x!.slice(0, 1, -1));
  await check("pad before and after", { x: { shape: [2, 3] } }, ({ x }) => ops.pad(x!, 1, 2, 1));
  await check("pad symbolic (shift right)", { x: { shape: [2, "s", 3], dims: [2, 4, 3] } }, ({ x }) => ops.pad(x!.slice(1, 0, -1), 1, 1, 0));
  await check("concat axis 1", { a: { shape: [2, 3] }, b: { shape: [2, 2] } }, ({ a, b }) => ops.concat([a!, b!, a!], 1));
  await check(
    "concat symbolic axis",
    { a: { shape: ["p", 3], dims: [2, 3] }, b: { shape: ["q", 3], dims: [3, 3] } },
    ({ a, b }) => ops.concat([a!, b!], 0),
  );
  await check(
    "concat after a symbolic slice",
    { a: { shape: ["p", 3], dims: [4, 3] } },
    ({ a }) => ops.concat([a!.slice(0, 1), a!.slice(0, 0, 1)], 0),
  );
  await check("expand [3,1] -> [2,3,4]", { x: { shape: [3, 1] } }, ({ x }) => x!.expand([2, 3, 4]));
  await check(
    "expand to symbolic dims",
    { x: { shape: [1, 3] }, y: { shape: ["b", 1], dims: [2, 1], wrt: false } },
    ({ x, y }) => x!.expand(["b", 3]).mul(y!),
  );
});

test("cast float64 -> float64, trilu, zerosLike", async () => {
  await check("cast (an explicit Cast node)", { x: { shape: [2, 3] } }, ({ x }, g) =>
    g.add(ops.castOp, [x!], { to: "float64" }).mul(x!),
  );
  await check("trilu upper k=0 rank 3", { x: { shape: [2, 3, 3] } }, ({ x }) => ops.trilu(x!, true));
  await check("trilu lower k=1", { x: { shape: [3, 4] } }, ({ x }) => ops.trilu(x!, false, 1));
  await check("trilu upper k=-1 symbolic", { x: { shape: ["n", "n"], dims: [3, 3] } }, ({ x }) => ops.trilu(x!, true, -1));
  await check("zerosLike contributes no gradient", { x: { shape: [3] } }, ({ x }) => x!.mul(2).add(ops.zerosLike(x!)));
});

test("cast float32 round trip (float32 check, tolerance 1e-3)", async () => {
  // float32 finite differences carry ~1e-5 relative noise (float32 rounding of the output / FD step 1e-2).
  await check(
    "float32 -> float64 -> exp -> float32",
    { x: { dtype: "float32", shape: [2, 3] } },
    ({ x }) => x!.cast("float64").exp().cast("float32"),
    { tol: 1e-3 },
  );
});

test("crossEntropy with ignore index, rmsNorm", async () => {
  await check(
    "crossEntropy [2,3,5] with ignored positions",
    { z: { shape: [2, 3, 5] }, y: { dtype: "int64", shape: [2, 3], value: [1, -100, 4, 0, 0, -100] } },
    ({ z, y }) => ops.crossEntropy(z!, y!).loss,
  );
  await check(
    "crossEntropy per-position nll, custom ignore index, symbolic",
    { z: { shape: ["b", 4], dims: [3, 4] }, y: { dtype: "int32", shape: ["b"], dims: [3], value: [3, 7, 2] } },
    ({ z, y }) => ops.crossEntropy(z!, y!, 7).nll,
  );
  await check(
    "rmsNorm over last axis",
    { x: { shape: [2, 3, 4] }, w: { shape: [4] } },
    ({ x, w }) => ops.rmsNorm(x!, w!, 1e-6),
  );
});

test("erf, exact GELU, LayerNorm with bias; attention through a padding bias", async () => {
  const wide = { shape: [2, 4], value: [-3.1, -1.7, -0.6, -0.05, 0.2, 0.9, 1.6, 2.8] };
  await check("erf", { x: wide }, ({ x }) => x!.erf());
  await check("gelu", { x: wide }, ({ x }) => x!.gelu());
  await check("gelu symbolic", { x: { shape: ["b", 3], dims: [2, 3] } }, ({ x }) => x!.gelu().mul(x!));
  await check(
    "layerNorm [2,3,4] eps 1e-5",
    { x: { shape: [2, 3, 4] }, w: { shape: [4] }, b: { shape: [4] } },
    ({ x, w, b }) => ops.layerNorm(x!, w!, b!, 1e-5),
  );
  // A large eps makes its float32 rounding visible to the check if the rule used another value.
  await check(
    "layerNorm symbolic rows, eps 0.7",
    { x: { shape: ["n", 5], dims: [3, 5] }, w: { shape: [5] }, b: { shape: [5] } },
    ({ x, w, b }) => ops.layerNorm(x!, w!, b!, 0.7),
  );
  await check(
    "softmax(scores + paddingBias) @ v",
    {
      s: { shape: [2, 1, 3, 4] },
      v: { shape: [2, 1, 4, 2] },
      m: { dtype: "int64", shape: [2, 4], value: [1, 1, 1, 0, 1, 0, 0, 0] },
    },
    ({ s, v, m }) => s!.add(ops.paddingBias(m!, "float64")).softmax(-1).matmul(v!),
  );
});

test("stopGradient: the detached factor is a constant to autodiff", async () => {
  // d/dx sum(w * x * sg(x)) = w * x, not 2 w x: the gradient check must FAIL against finite differences and the
  // analytic gradient must equal w * x exactly.
  const x = [0.5, -1.5, 2];
  const r = await gradCheck({ x: { shape: [3], value: x } }, ({ x }) => x!.mul(x!.stopGradient()));
  const numeric = r.numeric.x!;
  const analytic = r.analytic.x!;
  for (let i = 0; i < 3; i++) {
    // numeric = 2 w x, analytic = w x
    assert.ok(Math.abs(analytic[i]! * 2 - numeric[i]!) < 1e-8 * (1 + Math.abs(numeric[i]!)), `element ${i}`);
  }
  covered.add("StopGradient");
});

test("a table used by a lookup and densely (a tied embedding): the lookup's rows scatter into the dense gradient", async () => {
  await check(
    "tied table",
    { w: { shape: [5, 3] }, ids: { dtype: "int64", shape: [4], value: [1, 4, 1, 0] } },
    ({ w, ids }) => w!.gather(ids!).tanh().sum().add(w!.mul(w!).sin().sum()),
  );
  await check(
    "two lookups of one table",
    { w: { shape: [5, 3] }, a: { dtype: "int64", shape: [2], value: [3, 3] }, b: { dtype: "int64", shape: [3], value: [0, 3, 2] } },
    ({ w, a, b }) => w!.gather(a!).sin().sum().add(w!.gather(b!).cos().sum()),
  );
});

test("orderAfter: the identity for its first input (a checkpointed region orders its recomputation with it)", async () => {
  await check("orderAfter", { x: { shape: [2, 3] }, a: { shape: [4], wrt: false } }, ({ x, a }) => orderAfter(x!.mul(x!), a!).sin());
  await check("checkpoint", { x: { shape: [2, 3] }, w: { shape: [3, 3] } }, ({ x, w }) => checkpoint([x!], ([v]) => v!.matmul(w!).tanh()).sum());
});

test("chunked LM-head log-sum-exp (3 chunks) and the fused head cross-entropy", async () => {
  await check("chunkedLogSumExp", { h: { shape: [4, 3] }, w: { shape: [7, 3] } }, ({ h, w }) => ops.chunkedLogSumExp(h!, w!, 3));
  await check(
    "lmHeadCrossEntropy",
    { h: { shape: [2, 2, 3] }, w: { shape: [5, 3] }, y: { dtype: "int64", shape: [2, 2], value: [4, -100, 0, 2] } },
    ({ h, w, y }) => ops.lmHeadCrossEntropy(h!, w!, y!, { chunk: 2 }).loss,
  );
});

test("every registered op with a gradient rule was checked above", () => {
  const registered = [...ops.registeredOps().values()];
  const of = (kind: ops.Differentiation) => registered.filter((r) => r.differentiation === kind).map((r) => r.op.type);
  assert.ok(of("rule").length >= 30, `the registry lists only ${of("rule").length} ops with gradient rules`);
  const missing = [...of("rule"), ...of("detached")].filter((t) => !covered.has(t));
  assert.deepEqual(missing, [], `ops with a gradient rule but no float64 finite-difference check: ${missing.join(", ")}`);
  const helpers = of("helper");
  assert.deepEqual(helpers.sort(), ["ChunkedLogSumExpGrad", "GatherElementsGrad", "GatherGrad", "GatherGradInto", "SecondOutput", "SliceGrad", "SliceRange"]);
  const unchecked = helpers.filter((t) => !coveredInGradients.has(t));
  assert.deepEqual(unchecked, [], `gradient helper ops in no checked gradient: ${unchecked.join(", ")}`);
});
