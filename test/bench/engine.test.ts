// The engine bench on a tiny configuration (fast), its FLOP accounting, and the `bench` command group.
import { test } from "node:test";
import assert from "node:assert/strict";
import { runEngineBench, stepFlops, engineTable } from "../../src/bench/engine.ts";
import { median, quantile } from "../../src/bench/stats.ts";
import { presetConfig } from "../../src/model/config.ts";
import { buildProgram } from "../../src/cli/main.ts";
import { registerBench, registeredBenches } from "../../src/cli/commands/bench.ts";
import { UserError } from "../../src/util/errors.ts";

test("median and quantile", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([1, 2, 3, 4, 5], 0.25), 2);
  assert.equal(quantile([10, 20], 0.5), 15);
  assert.throws(() => median([]), RangeError);
});

test("FLOPs per step: 6 N tokens (N without the untied input embedding) + 12 L B S^2 H hd", () => {
  // tiny: V 512, D 64, 2 layers, 4 heads / 2 KV heads of 16, FFN 172, q/k/v biases, untied head.
  const f = stepFlops(presetConfig("tiny"), 2, 16);
  const perLayer = 2 * 64 + (64 * 64 + 64) + 2 * (64 * 32 + 32) + 64 * 64 + 3 * 64 * 172;
  assert.equal(f.params, 512 * 64 + 2 * perLayer + 64 + 64 * 512);
  assert.equal(f.paramsMatmul, f.params - 512 * 64);
  assert.equal(f.tokens, 32);
  assert.equal(f.attention, 12 * 2 * 2 * 16 * 16 * 4 * 16);
  assert.equal(f.total, 6 * f.paramsMatmul * 32 + f.attention);
  // The reference model of docs/conventions.md (Performance yardsticks): 5.0M parameters.
  const r = stepFlops(presetConfig("reference"), 4, 256);
  assert.ok(Math.abs(r.params - 5.0e6) < 0.05e6, `reference params ${r.params}`);
});

test("runEngineBench on the tiny preset reports consistent numbers", async () => {
  const r = await runEngineBench({ preset: "tiny", batch: 2, seq: 16, steps: 7, threads: 1, sgemmSize: 128, sgemmRuns: 3 });
  assert.equal(r.threads, 1);
  assert.equal(r.steps_timed, 5);
  assert.equal(r.tokens_per_step, 32);
  assert.equal(r.rss_mb_step50, null); // fewer than 50 steps
  assert.ok(r.sgemm_gflops > 0 && r.step_ms > 0 && r.step_ms_min <= r.step_ms);
  const flops = stepFlops(presetConfig("tiny"), 2, 16).total;
  const achieved = flops / (r.step_ms / 1000) / 1e9;
  assert.ok(Math.abs(r.mfu - achieved / r.sgemm_gflops) < 0.01 + 0.01 * r.mfu, `mfu ${r.mfu}`);
  assert.ok(r.loss_first > 5 && r.loss_first < 7.5, `initial loss ${r.loss_first} (ln 512 = 6.24)`);
  assert.ok(r.loss_last < r.loss_first);
  const table = engineTable(r);
  assert.match(table, /^threads\s+1$/m);
  assert.match(table, /training step\s+[\d.]+ ms median of 5/);
});

async function cli(args: string[]): Promise<{ out: string[]; err: unknown }> {
  const out: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (s: string) => void out.push(String(s));
  console.error = () => {};
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
    return { out, err: undefined };
  } catch (err) {
    return { out, err };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test("bench group: registered benches become subcommands; --json prints one object", async () => {
  registerBench({
    name: "probe",
    description: "test bench",
    options: [{ flags: "--size <n>", description: "size", default: "3" }],
    run: async (o) => ({ size: Number(o.size), json: Boolean(o.json) }),
    table: (r) => `size ${r.size}`,
  });
  const names = registeredBenches().map((b) => b.name);
  assert.equal(names[0], "engine");
  assert.equal(names[names.length - 1], "probe");
  assert.throws(() => registerBench({ ...registeredBenches()[0]! }), /registered twice/);
  const json = (await cli(["bench", "probe", "--json", "--size", "5"])).out;
  assert.equal(json.length, 1);
  const { peak_rss_mb, ...rest } = JSON.parse(json[0]!) as { peak_rss_mb: number };
  assert.deepEqual(rest, { size: 5, json: true });
  assert.ok(peak_rss_mb > 10, "each bench reports its process's peak RSS");
  const table = (await cli(["bench", "probe"])).out;
  assert.equal(table.length, 1);
  assert.match(table[0]!, /^size 3\npeak RSS \d+ MB$/);
});

test("bench engine rejects bad flags with a UserError", async () => {
  const r = await cli(["bench", "engine", "--steps", "3"]);
  assert.ok(r.err instanceof UserError && /--steps must be an integer >= 7/.test(r.err.message), String(r.err));
  const t = await cli(["bench", "engine", "--threads", "two"]);
  assert.ok(t.err instanceof UserError && /--threads/.test(t.err.message), String(t.err));
});

test("bench engine --json on a tiny configuration prints the documented keys", async () => {
  const r = await cli(["bench", "engine", "--json", "--preset", "tiny", "--batch", "2", "--seq", "8", "--steps", "7", "--threads", "1"]);
  assert.equal(r.err, undefined);
  assert.equal(r.out.length, 1);
  const j = JSON.parse(r.out[0]!) as Record<string, unknown>;
  for (const k of ["sgemm_gflops", "sgemm_chain_gflops", "step_ms", "mfu", "mfu_vs_chain", "rss_mb_step50", "rss_mb_end", "threads", "steps"]) assert.ok(k in j, `missing ${k}`);
  assert.equal(j.sgemm_size, 1024);
  assert.equal(j.model, "tiny");
  assert.equal(j.steps, 7);
});
