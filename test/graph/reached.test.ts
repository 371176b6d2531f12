// `gradients` says which inputs a gradient reaches, without looking at the ops it built.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, grad, gradients } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";

test("gradients: reached per input (unused and stopGradient-only inputs are not), grads as grad gives them", async () => {
  const g = new Graph();
  const x = g.input("x", "float32", [3]);
  const y = g.input("y", "float32", [3]);
  const unused = g.input("unused", "float32", [2]);
  const stopped = g.input("stopped", "float32", [3]);
  const loss = x.mul(y).add(stopped.stopGradient()).sum();
  const wrt = [x, unused, stopped, y];
  const r = gradients(loss, wrt);
  assert.deepEqual(r.reached, [true, false, false, true]);
  assert.equal(r.grads.length, 4);
  assert.deepEqual(grad(loss, wrt).map((t) => t.shape), r.grads.map((t) => t.shape));
  const run = await compile(g, { gx: r.grads[0]!, gu: r.grads[1]!, gs: r.grads[2]!, gy: r.grads[3]! });
  const out = await run.run({
    x: Float32Array.of(1, 2, 3),
    y: Float32Array.of(4, 5, 6),
    unused: Float32Array.of(7, 8),
    stopped: Float32Array.of(9, 9, 9),
  });
  assert.deepEqual([...(out.gx!.data as Float32Array)], [4, 5, 6]);
  assert.deepEqual([...(out.gy!.data as Float32Array)], [1, 2, 3]);
  assert.deepEqual([...(out.gu!.data as Float32Array)], [0, 0]);
  assert.deepEqual([...(out.gs!.data as Float32Array)], [0, 0, 0]);
});
