// The serving bench on a short run: each level streams every requested token (the bench checks the usage counts),
// its latencies are ordered (p50 <= p99), and the ratios are left out for levels that were not run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runServeBench, serveBenchTable } from "../../src/bench/serve.ts";

test("bench serve: levels of concurrent streams, latency quantiles, same-run ratios", async () => {
  const r = await runServeBench({ clients: [1, 4], newTokens: 6, rounds: 1 });
  assert.deepEqual(r.levels.map((l) => l.clients), [1, 4]);
  for (const l of r.levels) {
    assert.ok(l.tokens_per_s > 0);
    assert.ok(l.ttft_p50_ms > 0 && l.ttft_p50_ms <= l.ttft_p99_ms);
    assert.ok(l.itl_p50_ms > 0 && l.itl_p50_ms <= l.itl_p99_ms);
  }
  assert.equal(r.ratio, null, "no 8-client level in this run");
  assert.equal(r.ratio_4, Math.round((r.levels[1]!.tokens_per_s / r.levels[0]!.tokens_per_s) * 100) / 100);
  assert.match(serveBenchTable(r), /\| 4 \| [\d.]+ \|/);
});
