// The demo end to end on a microscopic configuration (tiny models, a few steps, three records): every stage's
// folder, the report and metrics with every method, reuse on a second run, a changed setting rerunning only the
// stages that depend on it, and --fresh giving the same numbers again (same seed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { demoOptionsFromFlags } from "../../src/cli/commands/demo.ts";
import { type DemoOptions, quickOptions, shapeForWidth } from "../../src/demo/options.ts";
import { microDemoOptions } from "./micro.ts";
import { DEMO_METHODS, methodLabel, runDemo } from "../../src/demo/pipeline.ts";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { silentConsole } from "../../src/demo/progress.ts";
import type { EvalResult } from "../../src/eval/report.ts";
import { METRICS, scoreAll } from "../../src/eval/score.ts";
import { reportNumberMismatches } from "./report-numbers.ts";
import { bestLambda, type CosLambdaChoice } from "../../src/demo/cos-lambda.ts";
import type { MethodsBenchResult } from "../../src/bench/methods.ts";

const tmp = mkdtempSync(join(tmpdir(), "demo-pipeline-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function micro(patch: Partial<DemoOptions> = {}): DemoOptions {
  return microDemoOptions(join(tmp, "out"), { efficiency: { steps: 3, records: 2, answerTokens: 3, rounds: 1, trainRecords: 16 }, ...patch });
}

const STAGES = [
  "data", "tokenizer", "base", "reasoner-base", "bits-per-byte", "sft", "flythinker", "nextquill", "llm-trsr", "cot", "coconut",
  "cos-lambda", "gen-sft", "gen-flythinker", "gen-non-pers", "gen-rag", "gen-cos", "gen-nextquill", "gen-llm-trsr", "gen-cot",
  "gen-coconut", "efficiency", "eval",
];
const NQ_NAME = "NextQuill (alpha 0.1, threshold 0.05, weights 0.9/0.1)";
const TRSR_NAME = "LLM-TRSR (recurrent, R=0)";
const COT_NAME = "CoT (style summary)";
const COCONUT_NAME = "Coconut (c 1, stage 1 + final)";

function metrics(out: string): EvalResult {
  return JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")) as EvalResult;
}

test("demo: the whole pipeline on a microscopic configuration, then reuse, a changed setting, and --fresh", async () => {
  const o = micro();
  const first = await runDemo(o, silentConsole);
  assert.deepEqual(first.stages.map((s) => s.name), STAGES);
  assert.ok(first.stages.every((s) => !s.cached));
  for (const f of ["report.md", "metrics.json", "demo.json", "methods.svg", "segments-rouge1.svg", "segments-meteor.svg", "efficiency.svg"]) {
    assert.ok(existsSync(join(o.out, f)), `${f} missing`);
  }
  for (const s of STAGES) assert.ok(existsSync(join(o.out, s, "stage.json")), `${s}/stage.json missing`);
  assert.ok(existsSync(join(o.out, "base", "model", "model.safetensors")));
  assert.ok(existsSync(join(o.out, "base", "model", "tokenizer.json")));
  assert.ok(existsSync(join(o.out, "flythinker", "reasoner", "config.json")));

  // CoS's lambda: every value of the grid scored on validation records, the best ROUGE-1 chosen
  const choice = JSON.parse(readFileSync(join(o.out, "cos-lambda", "choice.json"), "utf8")) as CosLambdaChoice;
  assert.deepEqual(choice.scores.map((x) => x.lambda), [0.5, 1, 2, 3]);
  assert.equal(choice.lambda, bestLambda(choice.scores));
  assert.equal(choice.records, 3);
  for (const l of [0.5, 1, 2, 3]) {
    const val = readFileSync(join(o.out, "cos-lambda", `lambda-${l}.jsonl`), "utf8").trim().split("\n").map((x) => JSON.parse(x) as { id: string; prediction: string; reference: string });
    assert.ok(val.every((r) => r.id.startsWith("email/")) && val.length === 3);
    const rouge1 = scoreAll(val.map((r) => r.prediction), val.map((r) => r.reference)).rouge1;
    assert.equal(choice.scores.find((x) => x.lambda === l)!.rouge1, rouge1, `lambda ${l}: the score is that of its predictions`);
  }
  const cosName = `CoS (lambda ${choice.lambda})`;

  const m = metrics(o.out);
  assert.deepEqual(m.methods.map((x) => x.name), ["SFT", "FlyThinker", "Non-pers", "RAG", cosName, NQ_NAME, TRSR_NAME, COT_NAME, COCONUT_NAME]);
  assert.deepEqual(DEMO_METHODS.map((x) => x.name), ["SFT", "FlyThinker", "Non-pers", "RAG", "CoS", "NextQuill", "LLM-TRSR", "CoT", "Coconut"]);
  for (const x of m.methods) {
    assert.equal(x.n, 3);
    for (const k of METRICS) assert.ok(Number.isFinite(x.metrics[k]) && x.metrics[k] >= 0, `${x.name} ${k} = ${x.metrics[k]}`);
  }
  // every method wrote for the same three test records, spread over three users
  const ids = (name: string) =>
    readFileSync(join(o.out, `gen-${name}`, "predictions.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id);
  const testIds = ids("sft");
  assert.equal(testIds.length, 3);
  for (const k of ["flythinker", "non-pers", "rag", "cos", "nextquill", "llm-trsr"]) assert.deepEqual(ids(k), testIds);
  const valIds = new Set(JSON.parse(readFileSync(join(o.out, "cos-lambda", "stage.json"), "utf8")).settings.records as string[]);
  assert.ok(testIds.every((id) => !valIds.has(id)), "lambda is chosen on other users than the test users");
  const report = readFileSync(join(o.out, "report.md"), "utf8");
  assert.match(report, /^# FlyThinker demo \(quick\)/);
  assert.match(report, /\| FlyThinker \| 3 \|/);
  assert.match(report, /## Samples/);
  // every number of report.md's tables is the one in metrics.json (held-out NLL included)
  const numbers = reportNumberMismatches(report, metrics(o.out));
  assert.deepEqual(numbers.problems, []);
  assert.ok(numbers.checked > 9 * 46, `only ${numbers.checked} numbers compared`);
  assert.match(report, /## Held-out likelihood/);
  // the efficiency section: bench methods on the demo's data (16 of its training records) and bases, its numbers
  const eff = JSON.parse(readFileSync(join(o.out, "efficiency", "methods.json"), "utf8")) as MethodsBenchResult;
  assert.match(eff.data, /, 16 training examples$/);
  assert.match(report, /## Efficiency \(the paper's Figure 3 and Table 8\)/);
  for (const [name, t] of Object.entries(eff.training)) assert.ok(report.includes(`| ${name} | ${t.epoch_s.toFixed(1)} | ${t.step_ms.toFixed(1)} | ${t.steps_per_epoch} |`), `efficiency row ${name}`);
  for (const [name, i] of Object.entries(eff.inference)) assert.ok(report.includes(`| ${name} | ${i.ms_per_sample.toFixed(1)} | ${i.ms_per_answer_token.toFixed(2)} | ${i.reasoning_tokens} |`), `inference row ${name}`);
  assert.equal(eff.inference.sft.answer_tokens, 3);
  for (const name of ["SFT", "FlyThinker", "Non-pers", "RAG"]) assert.match(first.table, new RegExp(`^${name} +3 `, "m"));
  assert.ok(first.table.split("\n").some((l) => l.startsWith(`${cosName} `)), first.table);
  assert.match(report, new RegExp(`CoS \\(context steering\\).*lambda = ${choice.lambda}, chosen from \\{0\\.5, 1, 2, 3\\} by mean ROUGE-1 on 3 records of \\d+ validation users`));
  assert.match(first.samples, /^Sample email\//);
  // the trained models remember the demo's prompt options
  const manifest = JSON.parse(readFileSync(join(o.out, "flythinker", "flythinker.json"), "utf8"));
  assert.deepEqual(manifest.training.prompt, { historyK: 1, retrieval: "bm25", budgets: { profile: 24, input: 16, target: 16 } });
  assert.equal(manifest.lambda, 0.5);
  assert.equal(manifest.training.steps, 2);
  // NextQuill and LLM-TRSR: trained from the same base with SFT's data and schedule, their options recorded
  const sftTraining = JSON.parse(readFileSync(join(o.out, "sft", "flythinker.json"), "utf8")).training;
  for (const [key, method] of [["nextquill", "nextquill"], ["llm-trsr", "llm-trsr"]] as const) {
    const mf = JSON.parse(readFileSync(join(o.out, key, "flythinker.json"), "utf8"));
    assert.equal(mf.method, method);
    for (const f of ["generator_from", "data", "steps", "lr", "batchTokens", "warmupRatio", "seed", "epochs", "schedule"]) {
      assert.deepEqual(mf.training[f], sftTraining[f], `${key}: ${f} differs from SFT's`);
    }
    assert.ok(existsSync(join(o.out, key, "loss.svg")), `${key}/loss.svg missing`);
  }
  const nq = JSON.parse(readFileSync(join(o.out, "nextquill", "flythinker.json"), "utf8")).training;
  assert.deepEqual(nq.nextquill, { alpha: 0.1, threshold: 0.05, weights: [0.9, 0.1] });
  const trsr = JSON.parse(readFileSync(join(o.out, "llm-trsr", "flythinker.json"), "utf8")).training;
  assert.deepEqual(trsr.trsr, { mode: "recurrent", recent: 0, summaries: null });
  // its prompt: the summary in place of the retrieved history, no recent items
  assert.deepEqual(trsr.prompt, { historyK: 0, retrieval: "recent", budgets: { profile: 24, input: 16, target: 16 } });
  for (const name of [NQ_NAME, TRSR_NAME]) {
    assert.ok(report.includes(`| ${name} | 3 |`), `report.md has no row for ${name}`);
    assert.ok(first.table.split("\n").some((l) => l.startsWith(`${name} `)), first.table);
  }
  assert.ok(report.includes(`- ${NQ_NAME} and ${TRSR_NAME}: fine-tuned from the same Generator base`));
  assert.match(report, /\[NextQuill\]\(nextquill\/loss\.svg\), \[LLM-TRSR\]\(llm-trsr\/loss\.svg\)/);
  // stage timings of the new stages in the run summary, like the others
  const demo = JSON.parse(readFileSync(join(o.out, "demo.json"), "utf8")) as { stages: { name: string; seconds: number }[] };
  assert.deepEqual(demo.stages.map((s) => s.name), STAGES);
  for (const s of ["nextquill", "llm-trsr", "gen-nextquill", "gen-llm-trsr"]) {
    const sec = demo.stages.find((x) => x.name === s)!.seconds;
    assert.ok(sec > 0, `${s}: ${sec} s`);
    assert.ok(report.includes(` ${s} ${sec.toFixed(0)},`), `${s}'s time missing from the report's stage line`);
  }
  // the CI check script accepts this output and names the new rows
  const check = execFileSync(process.execPath, [fileURLToPath(new URL("../../scripts/check-demo.mjs", import.meta.url)), o.out], { encoding: "utf8" });
  assert.match(check, /^demo check passed/);
  assert.ok(check.includes(`${NQ_NAME} ROUGE-1 `) && check.includes(`${TRSR_NAME} ROUGE-1 `), check);

  // a second run reuses every stage and gives the same report
  const second = await runDemo(o, silentConsole);
  assert.ok(second.stages.every((s) => s.cached));
  assert.deepEqual(metrics(o.out), m);

  // lambda only concerns FlyThinker: its training, its generation and the evaluation rerun; nothing else
  // (without the efficiency stage from here: it would rerun too, as FlyThinker's fusion is among its settings)
  const o3 = micro({ fusion: { ...o.fusion, lambda: 0.25 }, efficiency: null });
  const third = await runDemo(o3, silentConsole);
  assert.deepEqual(
    third.stages.filter((s) => !s.cached).map((s) => s.name),
    ["flythinker", "gen-flythinker", "eval"],
  );
  // NextQuill and LLM-TRSR rows unchanged (reused stages)
  for (const name of [NQ_NAME, TRSR_NAME]) {
    assert.deepEqual(metrics(o.out).methods.find((x) => x.name === name), m.methods.find((x) => x.name === name));
  }
  assert.equal(JSON.parse(readFileSync(join(o.out, "flythinker", "flythinker.json"), "utf8")).lambda, 0.25);
  const m3 = metrics(o.out);
  assert.deepEqual(m3.methods[0], m.methods[0]); // SFT unchanged

  // --fresh rebuilds everything and, with the same seed, reproduces the numbers
  const fresh = await runDemo({ ...o3, fresh: true }, silentConsole);
  assert.ok(fresh.stages.every((s) => !s.cached));
  assert.deepEqual(metrics(o.out), m3);
});

test("demo: row labels carry each method's options", () => {
  assert.equal(methodLabel("SFT", "sft", {}), "SFT");
  assert.equal(methodLabel("CoS", "cos", { cosLambda: 2 }), "CoS (lambda 2)");
  assert.equal(methodLabel("NextQuill", "nextquill", { nextquill: { alpha: 0.1, threshold: 0.05, weights: [0.9, 0.1] } }), NQ_NAME);
  assert.equal(
    methodLabel("NextQuill", "nextquill", { nextquill: { alpha: 0, threshold: -0.5, weights: [1, 1], counterfactual: "none" } }),
    "NextQuill (alpha 0, threshold -0.5, weights 1/1, counterfactual none)",
  );
  assert.equal(methodLabel("LLM-TRSR", "llm-trsr", { trsr: { mode: "recurrent", recent: 0, summaries: null } }), TRSR_NAME);
  assert.equal(methodLabel("LLM-TRSR", "llm-trsr", { trsr: { mode: "hierarchical", recent: 2, summaries: null } }), "LLM-TRSR (hierarchical, R=2)");
  assert.equal(methodLabel("LLM-TRSR", "llm-trsr", { trsr: { mode: "recurrent", recent: 1, summaries: "s.jsonl" } }), "LLM-TRSR (summary file, R=1)");
});

test("demo flags: defaults, --quick, overrides and bad values", () => {
  const d = demoOptionsFromFlags({});
  assert.equal(d.quick, false);
  assert.deepEqual(d.efficiency, { steps: 5, records: 4, answerTokens: 128, rounds: 2 });
  assert.equal(demoOptionsFromFlags({ efficiency: false }).efficiency, null, "--no-efficiency");
  assert.equal(d.out, "demo-output");
  const o = demoOptionsFromFlags({
    quick: true,
    seed: "7",
    testRecords: "5",
    generatorWidth: "128",
    generatorLayers: "3",
    reasonerPreset: "tiny",
    trainSteps: "9",
    lambda: "0.25",
    budgetProfile: "100",
    split: "val",
    out: "x",
  });
  assert.equal(o.quick, true);
  assert.equal(o.seed, 7);
  assert.equal(o.records, 5);
  assert.equal(o.split, "val");
  assert.equal(o.out, "x");
  assert.deepEqual(o.generator, { hiddenSize: 128, numLayers: 3, numHeads: 2, numKvHeads: 1, headDim: 64, intermediateSize: 344 });
  assert.deepEqual(o.reasoner, { hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 172 });
  assert.equal(o.finetune.steps, 9);
  assert.equal(o.fusion.lambda, 0.25);
  assert.deepEqual(o.prompt.budgets, { ...quickOptions().prompt.budgets, profile: 100 });
  assert.deepEqual(shapeForWidth(256, 4), { hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 688 });

  assert.throws(() => demoOptionsFromFlags({ split: "train" }), /--split must be test \| val, got "train"/);
  assert.throws(() => demoOptionsFromFlags({ seed: "-1" }), /--seed must be an integer >= 0/);
  assert.throws(() => demoOptionsFromFlags({ trainSteps: "3", trainEpochs: "1" }), /--train-epochs or --train-steps, not both/);
  assert.throws(() => demoOptionsFromFlags({ reasonerWidth: "512" }), /wider than the Generator/);
  assert.throws(() => demoOptionsFromFlags({ generatorWidth: "200" }), /multiple of 64/);
  assert.throws(() => demoOptionsFromFlags({ generatorPreset: "huge" }), /unknown model preset "huge"/);
  assert.throws(() => demoOptionsFromFlags({ topP: "1.5" }), /--top-p must be a number in \[0, 1\]/);
});
