// `bench methods` on tiny models and records: every row of both tables present, each figure derived from the others as
// the bench says (epoch = steps x median step; ratios to SFT from the same run; Table 8 expectations from the run's
// token counts and forward FLOPs), N2 from the training set, the checks evaluated on the numbers, the figure written;
// and too few test records refused with the folder named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INFERENCE_ROWS, TRAINING_ROWS, runMethodsBench, type MethodsBenchResult } from "../../src/bench/methods.ts";
import { BENCHES } from "../../src/bench/benches.ts";
import { forwardFlopsPerToken } from "../../src/bench/train.ts";
import { readConfig } from "../../src/model/config.ts";
import { UserError } from "../../src/util/errors.ts";
import { writeEmailRecords } from "../cli/run-cli.ts";
import { writePair } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "bench-methods-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

const { generator, reasoner } = writePair(join(root, "models"));
const data = join(root, "data");
mkdirSync(data);
writeEmailRecords(join(data, "train.jsonl"), 10);
writeEmailRecords(join(data, "test.jsonl"), 4);
const N1 = 6;
const prompt = { historyK: 2, retrieval: "bm25" as const, budgets: { profile: 64, input: 16, target: 24 } };
const small = { data, generator, reasoner, threads: 1, steps: 3, records: 2, answerTokens: N1, rounds: 2, batchTokens: 512, prompt };

let r: MethodsBenchResult;
test.before(async () => {
  r = await runMethodsBench({ ...small, svg: join(root, "methods.svg") });
});

// within rel, or within the rounding of the printed figures (3 decimals)
const close = (a: number, b: number, rel: number, what: string) => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b)) + 1.5e-3, `${what}: ${a} vs ${b}`);

test("bench methods: every row; epochs are steps x median step; ratios to SFT from the same run", () => {
  assert.deepEqual(Object.keys(r.training), [...TRAINING_ROWS]);
  assert.deepEqual(Object.keys(r.inference), [...INFERENCE_ROWS]);
  for (const [m, t] of Object.entries(r.training)) {
    assert.equal(t.steps_timed, 3, m);
    assert.ok(t.step_ms > 0 && t.steps_per_epoch >= 1 && t.compile_s > 0, m);
    close(t.epoch_s, (t.steps_per_epoch * t.step_ms) / 1000, 0.01, `${m} epoch`);
    close(t.ratio_to_sft, t.epoch_s / r.training.sft.epoch_s, 0.01, `${m} training ratio`);
  }
  assert.equal(r.training.sft.ratio_to_sft, 1);
  for (const [m, i] of Object.entries(r.inference)) {
    assert.equal(i.samples, 2 * 2, `${m}: records x rounds`);
    assert.equal(i.answer_tokens, N1);
    close(i.ms_per_answer_token, i.ms_per_sample / N1, 0.01, `${m} per answer token`);
    close(i.ratio_to_sft, i.ms_per_sample / r.inference.sft.ms_per_sample, 0.01, `${m} inference ratio`);
  }
});

test("bench methods: Table 8 expectations from this run's tokens and FLOPs; N2 of CoT and Coconut", () => {
  const g = readConfig(join(generator, "config.json"));
  const rc = readConfig(join(reasoner, "config.json"));
  const flops = (m: keyof typeof r.training) => {
    const t = r.training[m];
    const seq = Math.round(t.mean_prompt_tokens + t.mean_target_tokens);
    return t.tokens_per_epoch * (forwardFlopsPerToken(g, seq, true) + (m === "flythinker" ? forwardFlopsPerToken(rc, seq, false) : 0));
  };
  for (const m of TRAINING_ROWS) close(r.training[m].expected_ratio, flops(m) / flops("sft"), 0.002, `${m} expected`);
  // NextQuill feeds two rows per example; CoT's targets carry the rationale; TRSR's prompts are summaries.
  assert.ok(r.training.nextquill.tokens_per_epoch >= 2 * r.training.sft.tokens_per_epoch);
  assert.ok(r.training.cot.mean_target_tokens > r.training.sft.mean_target_tokens);
  const cotN2 = Math.max(1, Math.round(r.training.cot.mean_target_tokens - r.training.sft.mean_target_tokens));
  assert.equal(r.inference.cot.reasoning_tokens, cotN2);
  assert.equal(r.inference.coconut.reasoning_tokens, 2, "c 1 x max latent stage 2");
  for (const m of ["cot", "coconut"] as const) close(r.inference[m].expected_ratio, (N1 + r.inference[m].reasoning_tokens) / N1, 0.002, m);
  for (const m of ["non-pers", "rag", "cos", "sft", "llm-trsr", "nextquill", "flythinker-parallel"] as const) assert.equal(r.inference[m].expected_ratio, 1);
  close(r.inference["flythinker-sequential"].expected_ratio, 1 + r.c_r / r.c_g, 0.002, "sequential");
});

test("bench methods: the four checks judged on the run's numbers; the figure has both panels", () => {
  const byName = (s: string) => r.checks.find((c) => c.what.startsWith(s))!;
  assert.equal(r.checks.length, 4);
  assert.equal(byName("CoT").value, r.inference.cot.ratio_to_sft);
  assert.equal(byName("Coconut").value, r.inference.coconut.ratio_to_sft);
  assert.equal(byName("FlyThinker parallel").limit, 1.1);
  close(byName("FlyThinker training").limit, 1 + r.c_r / r.c_g + 0.1, 0.002, "training limit");
  for (const c of r.checks) assert.equal(c.ok, c.op === "<=" ? c.value <= c.limit : c.value >= c.limit, c.what);
  const svg = readFileSync(join(root, "methods.svg"), "utf8");
  assert.match(svg, /Training: time of one epoch/);
  assert.match(svg, /Inference: ms per sample/);
  for (const n of ["coconut", "FT parallel", "FT sequential", "non-pers"]) assert.ok(svg.includes(`>${n}<`), n);
  assert.ok(BENCHES.some((b) => b.name === "methods"));
});

test("bench methods: too few test records are refused, naming the folder", async () => {
  const few = join(root, "few");
  mkdirSync(few);
  writeEmailRecords(join(few, "train.jsonl"), 4);
  writeEmailRecords(join(few, "test.jsonl"), 2);
  await assert.rejects(runMethodsBench({ ...small, data: few, records: 3 }), (e: unknown) => e instanceof UserError && e.message.includes(few) && /needs 4 test records.*found 2/.test(e.message));
});
