// Whole models: compiled gradients equal finite differences; AdamW training drives toy losses down >= 90%;
// the in-graph AdamW (clipping, decoupled decay on matrices only) equals a plain-TypeScript AdamW step by step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, ops } from "../../src/graph/index.ts";
import { TrainStep } from "../../src/runtime/train-step.ts";
import { compile } from "../../src/runtime/session.ts";
import { Rng } from "../../src/util/random.ts";
import { gradCheck, assertGradClose, type GcInput } from "../graph/gradcheck.ts";
import { mlp, attentionLM, attentionLoss, attentionShapes, attentionInit, previousTokenBatch } from "./models.ts";

test("2-layer MLP: compiled gradients of the loss equal finite differences (float64)", async () => {
  const rng = new Rng(3);
  const batch = 5;
  const x = Array.from({ length: batch * 3 }, () => rng.normal());
  const labels = [0, 2, 1, 2, 0];
  const r = await gradCheck(
    {
      x: { shape: ["batch", 3], dims: [batch, 3], value: x, wrt: false },
      labels: { dtype: "int64", shape: ["batch"], dims: [batch], value: labels },
      w1: { shape: [3, 6] },
      b1: { shape: [6] },
      w2: { shape: [6, 4] },
      b2: { shape: [4] },
    },
    ({ x, labels, w1, b1, w2, b2 }) => {
      const logits = x!.matmul(w1!).add(b1!).tanh().matmul(w2!).add(b2!);
      return ops.crossEntropy(logits, labels!).loss;
    },
  );
  assertGradClose(r, 1e-6, "MLP");
  assert.deepEqual(Object.keys(r.errors), ["w1", "b1", "w2", "b2"]);
});

test("causal self-attention block: compiled gradients equal finite differences (float64)", async () => {
  const spec = { vocab: 5, seq: 4, dim: 4, heads: 2 };
  const init = attentionInit("float64", spec, 5);
  const batch = previousTokenBatch(new Rng(11), 2, spec.seq, spec.vocab);
  const inputs: Record<string, GcInput> = {
    ids: { dtype: "int64", shape: ["batch", spec.seq], dims: [2, spec.seq], value: Array.from(batch.ids.data, Number) },
    labels: { dtype: "int64", shape: ["batch", spec.seq], dims: [2, spec.seq], value: Array.from(batch.labels.data, Number) },
  };
  for (const [name, shape] of Object.entries(attentionShapes(spec))) inputs[name] = { shape, value: init.get(name)! };
  const r = await gradCheck(inputs, ({ ids, labels, ...p }, g) => attentionLoss(g, spec, ids!, labels!, p).loss);
  assertGradClose(r, 1e-6, "attention");
  assert.deepEqual(Object.keys(r.errors), Object.keys(attentionShapes(spec)));
});

test("the attention block is causal: later tokens do not change earlier logits", async () => {
  const spec = { vocab: 6, seq: 5, dim: 4, heads: 2 };
  const m = attentionLM("float32", spec, 2);
  const c = await compile(m.graph, { logits: m.logits }, { threads: 1 });
  const feeds = (ids: bigint[]) => ({
    ...Object.fromEntries(m.init),
    ids: { data: BigInt64Array.from(ids), dims: [1, spec.seq] },
  });
  const a = (await c.run(feeds([1n, 2n, 3n, 4n, 5n]))).logits.data as Float32Array;
  const b = (await c.run(feeds([1n, 2n, 3n, 0n, 0n]))).logits.data as Float32Array;
  const v = spec.vocab;
  assert.deepEqual(Array.from(a.subarray(0, 3 * v)), Array.from(b.subarray(0, 3 * v)));
  assert.notDeepEqual(Array.from(a.subarray(3 * v)), Array.from(b.subarray(3 * v)));
});

test("AdamW training: MLP on a 3-class angle-sector task, loss falls >= 90% in 300 steps", async () => {
  const rng = new Rng(5);
  const n = 48;
  const x = new Float32Array(n * 2);
  const labels = new BigInt64Array(n);
  // Class = which third of the plane (by angle) the point lies in: learnable, not linearly trivial for 2 units.
  for (let i = 0; i < n; i++) {
    const a = rng.float() * 2 * Math.PI;
    const r = 0.5 + rng.float();
    x[2 * i] = r * Math.cos(a);
    x[2 * i + 1] = r * Math.sin(a);
    labels[i] = BigInt(Math.floor((a / (2 * Math.PI)) * 3));
  }
  const m = mlp("float32", 2, 16, 3);
  const step = await TrainStep.create({ graph: m.graph, loss: m.loss, params: m.params }, m.init, { threads: 1 });
  const batch = { x: { data: x, dims: [n, 2] }, labels };
  const first = (await step.step(batch, 0.03)).loss;
  let last = first;
  for (let i = 1; i < 300; i++) last = (await step.step(batch, 0.03)).loss;
  assert.ok(first > 0.9, `initial loss ${first}`);
  assert.ok(last <= 0.1 * first, `loss ${first} -> ${last}: fell by less than 90%`);
  assert.equal(step.stepCount, 300);
});

test("AdamW training: causal attention learns the previous-token task, loss falls >= 90%", async () => {
  const spec = { vocab: 8, seq: 8, dim: 16, heads: 2 };
  const m = attentionLM("float32", spec, 3);
  const step = await TrainStep.create({ graph: m.graph, loss: m.loss, params: m.params }, m.init, { threads: 1 });
  const rng = new Rng(21);
  const losses: number[] = [];
  for (let i = 0; i < 300; i++) {
    const lr = i < 20 ? 0.02 * ((i + 1) / 20) : 0.02;
    losses.push((await step.step(previousTokenBatch(rng, 16, spec.seq, spec.vocab), lr)).loss);
  }
  const head = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
  const tail = losses.slice(-10).reduce((a, b) => a + b) / 10;
  assert.ok(head > 1.8, `initial loss ${head} (ln 8 = 2.08)`);
  assert.ok(tail <= 0.1 * head, `loss ${head} -> ${tail}: fell by less than 90%`);
});

/** Plain-TypeScript AdamW (decoupled decay, global-norm clipping) on flat float64 arrays. */
class RefAdamW {
  m: Float64Array[];
  v: Float64Array[];
  t = 0;
  constructor(
    sizes: number[],
    private readonly o: { beta1: number; beta2: number; eps: number; weightDecay: number; clipNorm: number },
  ) {
    this.m = sizes.map((n) => new Float64Array(n));
    this.v = sizes.map((n) => new Float64Array(n));
  }
  /** Updates params in place; returns the global norm before clipping. */
  step(params: Float64Array[], grads: Float64Array[], decays: boolean[], lr: number): number {
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.o;
    this.t++;
    let sq = 0;
    for (const g of grads) for (const v of g) sq += v * v;
    const norm = Math.sqrt(sq);
    const scale = clipNorm > 0 && norm > clipNorm ? clipNorm / norm : 1;
    const bc1 = 1 - Math.pow(beta1, this.t);
    const bc2 = 1 - Math.pow(beta2, this.t);
    params.forEach((p, k) => {
      const m = this.m[k]!;
      const v = this.v[k]!;
      for (let i = 0; i < p.length; i++) {
        const g = grads[k]![i]! * scale;
        m[i] = beta1 * m[i]! + (1 - beta1) * g;
        v[i] = beta2 * v[i]! + (1 - beta2) * g * g;
        const upd = m[i]! / bc1 / (Math.sqrt(v[i]! / bc2) + eps);
        p[i] = p[i]! - lr * upd - (decays[k] ? lr * weightDecay * p[i]! : 0);
      }
    });
    return norm;
  }
}

for (const [label, clipNorm, gain] of [
  ["clipping active", 1.0, 10],
  ["clipping inactive", 0, 1],
] as const) {
  test(`in-graph AdamW equals a plain-TS AdamW for 5 steps (${label}; decay on the matrix only)`, async () => {
    // loss = gain * mean((x W + b - y)^2): its gradients are computed in TS below.
    const [n, i, o] = [6, 3, 2];
    const rng = new Rng(8);
    const rand = (k: number) => Float64Array.from({ length: k }, () => rng.normal());
    const xs = rand(n * i);
    const ys = rand(n * o);
    const g = new Graph();
    const x = g.input("x", "float64", [n, i]);
    const y = g.input("y", "float64", [n, o]);
    const w = g.input("w", "float64", [i, o]);
    const b = g.input("b", "float64", [o]);
    const loss = x.matmul(w).add(b).sub(y).square().mean().mul(gain);
    const opts = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1, clipNorm };
    const init = new Map([["w", rand(i * o)], ["b", rand(o)]]);
    const step = await TrainStep.create({ graph: g, loss, params: [w, b], optimizer: opts }, init, { threads: 1 });
    const ref = new RefAdamW([i * o, o], opts);
    const P = [Float64Array.from(init.get("w")!), Float64Array.from(init.get("b")!)];
    let clipped = 0;
    for (let s = 0; s < 5; s++) {
      const lr = 0.05 * (s + 1);
      // Reference loss and gradients at the current parameters.
      const [W, B] = P as [Float64Array, Float64Array];
      const gW = new Float64Array(i * o);
      const gB = new Float64Array(o);
      let refLoss = 0;
      for (let r = 0; r < n; r++) {
        for (let c = 0; c < o; c++) {
          let pred = B[c]!;
          for (let k = 0; k < i; k++) pred += xs[r * i + k]! * W[k * o + c]!;
          const e = pred - ys[r * o + c]!;
          refLoss += (gain * e * e) / (n * o);
          const d = (2 * gain * e) / (n * o);
          gB[c]! += d;
          for (let k = 0; k < i; k++) gW[k * o + c]! += d * xs[r * i + k]!;
        }
      }
      const res = await step.step({ x: xs, y: ys }, lr);
      const refNorm = ref.step(P, [gW, gB], [true, false], lr);
      if (clipNorm > 0 && refNorm > clipNorm) clipped++;
      assert.ok(Math.abs(res.loss - refLoss) <= 1e-12 * Math.abs(refLoss), `step ${s}: loss ${res.loss} vs ${refLoss}`);
      assert.ok(Math.abs(res.gradNorm - refNorm) <= 1e-12 * refNorm, `step ${s}: grad norm ${res.gradNorm} vs ${refNorm}`);
      const close = (a: Float64Array | Float32Array, r: Float64Array, what: string) => {
        for (let k = 0; k < r.length; k++) {
          assert.ok(Math.abs(a[k]! - r[k]!) <= 1e-12 * (1 + Math.abs(r[k]!)), `step ${s} ${what}[${k}]: ${a[k]} vs ${r[k]}`);
        }
      };
      close(step.params.get("w")!, P[0]!, "w");
      close(step.params.get("b")!, P[1]!, "b");
      close(step.m.get("w")!, ref.m[0]!, "m.w");
      close(step.v.get("b")!, ref.v[1]!, "v.b");
    }
    if (clipNorm > 0) assert.equal(clipped, 5, "every step should have been clipped");
  });
}

test("AdamW groups: small parameters share flat groups, a large one stands alone; updates equal the plain-TS AdamW", async () => {
  // loss = sum_k c_k * sum((p_k - t_k)^2), gradient 2 c_k (p_k - t_k): parameters of mixed sizes and ranks.
  const shapes: number[][] = [[3, 4], [5], [600, 500], [7, 2], [2], [1000, 300]];
  const rng = new Rng(11);
  const g = new Graph();
  const params = shapes.map((s, k) => g.input(`p${k}`, "float64", s));
  const targets = shapes.map((s) => Float64Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => rng.normal()));
  const coef = shapes.map((_, k) => 0.5 + k);
  const loss = params
    .map((p, k) => p.sub(g.constant(targets[k]!, "float64", shapes[k]!)).square().sum().mul(coef[k]!))
    .reduce((a, b) => a.add(b));
  const opts = { beta1: 0.85, beta2: 0.99, eps: 1e-7, weightDecay: 0.05, clipNorm: 50 };
  const init = new Map(params.map((p, k) => [p.inputName!, Float64Array.from(targets[k]!, (t) => t + rng.normal())]));
  const step = await TrainStep.create({ graph: g, loss, params, optimizer: opts }, init, { threads: 1 });
  const ref = new RefAdamW(targets.map((t) => t.length), opts);
  const P = params.map((p) => Float64Array.from(init.get(p.inputName!)!));
  const decays = shapes.map((s) => s.length >= 2);
  // Matrices: [3,4] + [7,2] share a group, [600,500] and [1000,300] exceed 2^18 values and stand alone; vectors: one group.
  assert.equal(step.params.buffers.length, 4);
  for (let s = 0; s < 3; s++) {
    const grads = P.map((p, k) => p.map((v, i) => 2 * coef[k]! * (v - targets[k]![i]!)));
    const res = await step.step({}, 0.01);
    const refNorm = ref.step(P, grads, decays, 0.01);
    assert.ok(Math.abs(res.gradNorm - refNorm) <= 1e-12 * refNorm, `step ${s}: grad norm ${res.gradNorm} vs ${refNorm}`);
    params.forEach((p, k) => {
      const got = step.params.get(p.inputName!)!;
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - P[k]![i]!) / (1 + Math.abs(P[k]![i]!)));
      assert.ok(worst <= 1e-12, `step ${s} ${p.inputName}: off by ${worst}`);
    });
  }
  // Values written through the name view land in the flat buffer the next step reads.
  step.params.set("p1", new Float64Array(5).fill(3));
  assert.deepEqual(Array.from(step.params.get("p1")!), [3, 3, 3, 3, 3]);
  assert.throws(() => step.params.set("p1", new Float64Array(4)), /"p1": 4 values, expected 5/);
});
