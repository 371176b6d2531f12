// The embedding gradient accumulates repeated ids exactly, and identically with 1 and 2 ONNX Runtime threads
// (ORT's multi-threaded ScatterND with reduction "add" loses updates for repeated indices; ScatterElements does not).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, grad, ops } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { Rng } from "../../src/util/random.ts";

test("embedding gradient with repeated ids: exact sums, same with 1 and 2 threads", async () => {
  const V = 1024, D = 64, N = 2048;
  const g = new Graph();
  const table = g.input("table", "float32", [V, D]);
  const ids = g.input("ids", "int64", [N]);
  const up = g.input("up", "float32", [N, D]);
  const [gt] = grad(ops.gather(table, ids).mul(up).sum(), [table]);
  const rng = new Rng(3);
  const idv = BigInt64Array.from({ length: N }, () => BigInt(rng.int(100)));
  const upv = new Float32Array(N * D);
  rng.fillNormal(upv, 1);
  const exact = new Float64Array(V * D);
  for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) exact[Number(idv[i]) * D + j]! += upv[i * D + j]!;
  const results: Float32Array[] = [];
  for (const threads of [1, 2, 2]) {
    const c = await compile(g, { gt: gt! }, { threads });
    const r = (await c.run({ table: new Float32Array(V * D), ids: idv, up: upv })).gt.data as Float32Array;
    let maxErr = 0;
    for (let i = 0; i < r.length; i++) maxErr = Math.max(maxErr, Math.abs(r[i]! - exact[i]!));
    assert.ok(maxErr < 1e-4, `threads ${threads}: max error ${maxErr}`);
    results.push(r);
  }
  assert.deepEqual(results[1], results[0]);
  assert.deepEqual(results[2], results[0]);
});
