// The CoS decode bench's bookkeeping (never its timings): the figures it reports and how the ratio is formed, and
// the checks of `bench decode --baseline`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchCosDecode, cosDecodeTable } from "../../src/bench/cos-decode.ts";
import { decodeBench } from "../../src/bench/benches.ts";
import { UserError } from "../../src/util/errors.ts";

test("benchCosDecode: CoS and RAG ms/token of the same run, ratio = cos / rag", async () => {
  const r = await benchCosDecode({ promptTokens: 12, queryTokens: 4, newTokens: 4, runs: 1, threads: 1 });
  assert.deepEqual([r.prompt_tokens, r.query_tokens, r.new_tokens, r.runs, r.threads, r.lambda], [12, 4, 4, 1, 1, 1]);
  assert.match(r.model, /^reference d256 L4 V4096/);
  for (const k of ["rag_ms_per_token", "cos_ms_per_token", "rag_p50_ms", "cos_p50_ms", "ratio"] as const) assert.ok(Number.isFinite(r[k]) && r[k] > 0, k);
  assert.ok(Math.abs(r.ratio - r.cos_ms_per_token / r.rag_ms_per_token) <= 2e-3 * r.ratio + 1e-3, `${r.ratio} vs ${r.cos_ms_per_token / r.rag_ms_per_token}`);
  assert.equal(r.ratio_per_round, r.ratio, "one round: the per-round ratio is the ratio");
  assert.match(cosDecodeTable(r), /CoS .* ms\/token \(2 tied rows\) = .*x RAG \(target <= 1\.5\)/);
});

test("bench decode --baseline: cos only; an unknown kind lists the valid ones", async () => {
  await assert.rejects(decodeBench.run({ baseline: "rag" }, () => {}), (e: unknown) => e instanceof UserError && /compares cos with rag; got "rag"/.test(e.message));
  await assert.rejects(decodeBench.run({ baseline: "x" }, () => {}), (e: unknown) => e instanceof UserError && /unknown --baseline "x"; expected non-pers, rag or cos/.test(e.message));
});
