// Activation checkpointing: gradients through checkpointed regions equal those of the plain graph (float64 finite
// differences and exact comparison), the recomputation is real (the backward pass reads none of the region's forward
// tensors), and nesting or regions without new tensors behave.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, Tensor, grad, ops, neededTensors } from "../../src/graph/index.ts";
import { checkpoint } from "../../src/graph/checkpoint.ts";
import { compile } from "../../src/runtime/session.ts";
import { gradCheck, assertGradClose } from "./gradcheck.ts";
import { Rng } from "../../src/util/random.ts";

/** A residual block: x + tanh(x @ w1) @ w2 * sigmoid(x). */
function block(x: Tensor, w1: Tensor, w2: Tensor): Tensor {
  return x.add(x.matmul(w1).tanh().matmul(w2).mul(x.sigmoid()));
}

function stack(x: Tensor, ws: Tensor[], useCheckpoint: boolean): Tensor {
  let h = x;
  for (let i = 0; i < ws.length; i += 2) {
    const [w1, w2] = [ws[i]!, ws[i + 1]!];
    h = useCheckpoint ? checkpoint([h], ([v]) => block(v!, w1, w2)) : block(h, w1, w2);
  }
  return h.mul(h).sum();
}

test("checkpoint: gradients through three checkpointed blocks match finite differences (float64)", async () => {
  const r = await gradCheck(
    { x: { shape: [3, 4] }, a1: { shape: [4, 5] }, a2: { shape: [5, 4] }, b1: { shape: [4, 5] }, b2: { shape: [5, 4] }, c1: { shape: [4, 5] }, c2: { shape: [5, 4] } },
    ({ x, a1, a2, b1, b2, c1, c2 }) => stack(x!, [a1!, a2!, b1!, b2!, c1!, c2!], true),
  );
  assertGradClose(r, 1e-6, "checkpointed stack");
});

test("checkpoint: the gradients equal the plain graph's; the backward pass reads no forward tensor of a region", async () => {
  const rng = new Rng(3);
  const values = (n: number) => Float64Array.from({ length: n }, () => rng.normal() * 0.5);
  const feeds = { x: { data: values(12), dims: [3, 4] } } as Record<string, { data: Float64Array; dims: number[] }>;
  const names = ["a1", "a2", "b1", "b2"];
  for (const n of names) feeds[n] = { data: values(20), dims: n.endsWith("1") ? [4, 5] : [5, 4] };
  const results: Float64Array[][] = [];
  for (const useCheckpoint of [false, true]) {
    const g = new Graph();
    const x = g.input("x", "float64", [3, 4]);
    const ws = names.map((n) => g.input(n, "float64", n.endsWith("1") ? [4, 5] : [5, 4]));
    const start = g.tensors.length;
    const loss = stack(x, ws, useCheckpoint);
    const forwardEnd = loss.id;
    const grads = grad(loss, [x, ...ws]);
    if (useCheckpoint) {
      // Forward tensors that backward tensors read directly: only the region boundaries (the second block's input and
      // its output, read by the final square's gradient; x is an input), none of the tensors inside a region.
      const read = new Map<number, Tensor>();
      for (const t of neededTensors(grads)) {
        if (t.id <= forwardEnd) continue;
        for (const i of t.inputs) if (i.id >= start && i.id <= forwardEnd) read.set(i.id, i);
      }
      const kinds = [...read.values()].map((t) => t.op.type).sort();
      assert.deepEqual(kinds, ["Add", "Add"], `forward tensors read by the backward pass: ${[...read.values()].join(", ")}`);
    }
    const outputs = Object.fromEntries(grads.map((t, i) => [`g${i}`, t]));
    const run: Record<string, { data: unknown }> = await (await compile(g, { loss, ...outputs })).run(feeds);
    results.push([run.loss!.data as Float64Array, ...grads.map((_, i) => run[`g${i}`]!.data as Float64Array)]);
  }
  const [plain, ckpt] = results as [Float64Array[], Float64Array[]];
  plain.forEach((p, i) => {
    for (let k = 0; k < p.length; k++) assert.ok(Math.abs(p[k]! - ckpt[i]![k]!) < 1e-12, `output ${i}[${k}]: ${p[k]} vs ${ckpt[i]![k]}`);
  });
});

test("checkpoint: a nested region is recomputed with its outer one; a region that makes nothing is no region", async () => {
  const r = await gradCheck(
    { x: { shape: [2, 3] }, w: { shape: [3, 3] } },
    ({ x, w }) => checkpoint([x!], ([v]) => checkpoint([v!], ([u]) => u!.matmul(w!).tanh()).matmul(w!).sin()).sum(),
  );
  assertGradClose(r, 1e-6, "nested");
  const g = new Graph();
  const x = g.input("x", "float32", [2]);
  assert.equal(checkpoint([x], ([v]) => v!), x);
  assert.throws(() => checkpoint([], () => x), /at least one input/);
  void ops;
});
