// Coconut end to end on tiny models: `train --method cot`, then `train --method coconut --init` through the CLI (the
// manifest, the stages in metrics.jsonl, the grown tokenizer), generate, verify and eval on it; the optimiser reset
// at each stage through the library; --init on an SFT run, a missing folder and a tokenizer that has the markers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, writeEmailRecords } from "./run-cli.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { loadCheckpoint } from "../../src/model/checkpoint.ts";
import { LATENT_MARKERS } from "../../src/baselines/coconut/markers.ts";
import { runTraining } from "../../src/train/run.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { DEFAULT_TRAIN_CONFIG, type Trainer } from "../../src/train/trainer.ts";
import { writePair, sentence } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "cli-coconut-"));
test.after(() => rmSync(root, { recursive: true, force: true }));



const { generator } = writePair(join(root, "models"));
const records = join(root, "records.jsonl");
writeEmailRecords(records, 6, { profileOutput: (rng) => `${sentence(rng, 6)}. ${sentence(rng, 4)}!` });
const cotRun = join(root, "cot");
const common = ["--batch-tokens", "1024", "--lr", "1e-3", "--threads", "1"];

test.before(async () => {
  await runCli("train", "--method", "cot", "--generator", generator, "--data", records, "--out", cotRun, "--max-steps", "2", ...common);
});

test("train --method coconut --init COT_RUN: manifest, stages in metrics.jsonl, grown tokenizer; generate, verify (<= 1e-4) and eval", async () => {
  const out = join(root, "coconut");
  const t = await runCli("train", "--method", "coconut", "--init", cotRun, "--data", records, "--out", out, "--max-steps", "2", "--max-latent-stage", "2", "--c", "1", ...common);
  assert.match(t.out, /^coconut: 6 steps/m);
  const manifest = JSON.parse(readFileSync(join(out, "flythinker.json"), "utf8")) as { method: string; training: Record<string, unknown> };
  assert.equal(manifest.method, "coconut");
  assert.deepEqual(manifest.training.coconut, { init: cotRun, c: 1, maxLatentStage: 2, epochsPerStage: 1, finalStage: true, stage: 3 });
  assert.deepEqual(manifest.training.cot, { rationales: null, selfTrainIters: 0, selfTrainK: 4 }, "the CoT run's rationale provider");
  assert.equal(manifest.training.generator_from, cotRun);
  assert.deepEqual((manifest.training.stages as { stage: number; latents: number; steps: number }[]).map((s) => [s.stage, s.latents, s.steps]), [[1, 1, 2], [2, 2, 2], [3, 2, 2]]);
  // Stages in order, steps continuing across them.
  const rows = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number; stage: number; stage_step: number; loss: number });
  assert.deepEqual(rows.map((r) => [r.step, r.stage, r.stage_step]), [[1, 1, 1], [2, 1, 2], [3, 2, 1], [4, 2, 2], [5, 3, 1], [6, 3, 2]]);
  assert.ok(rows.every((r) => Number.isFinite(r.loss)));
  assert.match(readFileSync(join(out, "loss.svg"), "utf8"), /<svg/);
  // The Generator folder: the markers in its tokenizer, the vocabulary grown by 3 (HF-loadable layout).
  const base = TextTokenizer.fromDir(join(cotRun, "generator"));
  const tok = TextTokenizer.fromDir(join(out, "generator"));
  assert.deepEqual(Object.values(LATENT_MARKERS).map((m) => tok.tokenToId(m)), [base.vocabSize, base.vocabSize + 1, base.vocabSize + 2]);
  assert.equal(loadCheckpoint(join(out, "generator")).config.vocabSize, Math.max(loadCheckpoint(join(cotRun, "generator")).config.vocabSize, base.vocabSize + 3));

  const preds = join(root, "coconut-preds.jsonl");
  const g = await runCli("generate", "--model", out, "--data", records, "--out", preds, "--max-new-tokens", "5", "--seed", "1");
  assert.match(g.out, /Coconut: \d of 6 new predictions had no answer separator/);
  const lines = readFileSync(preds, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { prediction: string; raw: string; prompt_tokens: number; new_tokens: number });
  assert.equal(lines.length, 6);
  for (const l of lines) {
    assert.equal(typeof l.prediction, "string");
    assert.ok(l.new_tokens >= 1 && l.new_tokens <= 5);
  }
  // The prompts carry <bot>, 2 latent slots and <eot> after the CoT prompt: 4 tokens more than the CoT model's.
  const cotPreds = join(root, "cot-preds.jsonl");
  await runCli("generate", "--model", cotRun, "--data", records, "--out", cotPreds, "--max-new-tokens", "2");
  const cotLines = readFileSync(cotPreds, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { prompt_tokens: number });
  assert.deepEqual(lines.map((l) => l.prompt_tokens), cotLines.map((l) => l.prompt_tokens + 4));

  const v = await runCli("verify", "--model", out, "--data", records, "--split", "test", "--n", "2", "--max-target", "6", "--json");
  const report = JSON.parse(v.out) as { method: string; ok: boolean; max_abs_diff: number; records: { graph_vs_decoding: number; kv_vs_unrolled: number }[] };
  assert.equal(report.method, "coconut");
  assert.equal(report.records.length, 2);
  assert.ok(report.ok && report.max_abs_diff <= 1e-4, `max difference ${report.max_abs_diff}`);
  assert.equal(v.code, undefined);

  const evalDir = join(root, "coconut-report");
  await runCli("eval", "--pred", `Coconut=${preds}`, "--out", evalDir, "--bootstrap", "10");
  assert.match(readFileSync(join(evalDir, "report.md"), "utf8"), /Coconut/);
});

test("coconut: every stage is a new Trainer with a fresh AdamW (step 0, zero moments) that then steps", async () => {
  const seen: { stage: number; trainer: Trainer; step: number; zero: boolean }[] = [];
  const out = join(root, "coconut-lib");
  const { manifest } = await runTraining({
    generator: cotRun,
    data: records,
    out,
    config: { ...DEFAULT_TRAIN_CONFIG, method: "coconut", maxSteps: 2, lr: 1e-3, batchTokens: 1024, seed: 1, coconut: { init: cotRun, c: 1, maxLatentStage: 1, epochsPerStage: 1, finalStage: true } },
    fusion: { lambda: 0, fuse: "prefix", enhance: "global" },
    cadence: { checkpointEvery: 0, evalEvery: 0 },
    threads: 1,
    reporter: silentReporter,
    onStage: (stage, trainer) => {
      const zero = [...trainer.firstMoments.values()].every((m) => m.every((x) => x === 0));
      seen.push({ stage, trainer, step: trainer.optimizerStep, zero });
    },
  });
  assert.equal(manifest.method, "coconut");
  assert.deepEqual(seen.map((s) => [s.stage, s.step, s.zero]), [[1, 0, true], [2, 0, true]]);
  assert.notEqual(seen[0]!.trainer, seen[1]!.trainer);
  for (const s of seen) {
    assert.equal(s.trainer.optimizerStep, 2, `stage ${s.stage} ran 2 AdamW updates`);
    assert.ok([...s.trainer.firstMoments.values()].some((m) => m.some((x) => x !== 0)));
  }
});

test("coconut --init: an SFT run, a missing folder, a tokenizer that already has the markers", async () => {
  const sft = join(root, "sft");
  await runCli("train", "--method", "sft", "--generator", generator, "--data", records, "--out", sft, "--max-steps", "1", ...common);
  const run = (init: string, out: string) => runCli("train", "--method", "coconut", "--init", init, "--data", records, "--out", join(root, out), "--max-steps", "1", ...common);
  await assert.rejects(run(sft, "bad1"), /--init .*sft: expected a folder written by `flythinker train --method cot`; .*flythinker\.json says method "sft"/);
  await assert.rejects(run(join(root, "nowhere"), "bad2"), /--init .*nowhere: expected a folder written by `flythinker train --method cot` \(no flythinker\.json there\)/);
  // A "CoT run" whose Generator's tokenizer already has the markers (a Coconut output relabelled).
  const fake = join(root, "fake-cot");
  cpSync(join(root, "coconut-lib"), fake, { recursive: true });
  const m = JSON.parse(readFileSync(join(fake, "flythinker.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(fake, "flythinker.json"), JSON.stringify({ ...m, method: "cot" }));
  const ids = Object.values(LATENT_MARKERS).map((name) => `${name} \\(id ${TextTokenizer.fromDir(join(fake, "generator")).tokenToId(name)}\\)`);
  await assert.rejects(run(fake, "bad3"), new RegExp(`already has ${ids.join(", ").replace(/\|/g, "\\|")}; Coconut adds these tokens itself`));
  await assert.rejects(runCli("train", "--method", "coconut", "--data", records, "--out", join(root, "bad4")), /--method coconut needs --init COT_RUN/);
  await assert.rejects(runCli("train", "--method", "sft", "--generator", generator, "--init", cotRun, "--data", records, "--out", join(root, "bad5")), /--init applies to --method coconut only/);
});
