// CoT end to end: an empty rationale without the separator on the plain prompt is SFT (same ids, same losses); a run
// trains on rationale + separator + answer with REST-PG's instruction in the prompt, records its options, caches its
// rationales, and generation writes the parsed answer and the raw output; ReST-EM keeps exactly the expected samples.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { recordPrompt } from "../../src/data/prompt-ids.ts";
import { COT_INSTRUCTION, COT_SEPARATOR, formatCot } from "../../src/baselines/cot.ts";
import { FlyThinker } from "../../src/flythinker/model.ts";
import { configFromFlags } from "../../src/cli/commands/train.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { loadTrainingData } from "../../src/train/examples.ts";
import { type RunOptions, runTraining } from "../../src/train/run.ts";
import { cotSetup, cotTargetOf } from "../../src/train/cot.ts";
import { keptSamples } from "../../src/train/self-train.ts";
import { Trainer } from "../../src/train/trainer.ts";
import { loadCheckpoint } from "../../src/model/checkpoint.ts";
import { flattenPair } from "../../src/flythinker/pair-params.ts";
import { Rng } from "../../src/util/random.ts";
import { GEN_CONFIG, sentence, writePair, quietRunOptions } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "cot-run-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));
const tok = TextTokenizer.fromDir(models.generator);

function records(n: number, seed: number): PersonalRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `c${seed}-${i}`,
    task: "email",
    user: `u${i % 3}`,
    input: sentence(rng, 4),
    output: sentence(rng, 6),
    profile: Array.from({ length: 3 }, () => ({ input: sentence(rng, 3), output: `${sentence(rng, 5)}. ${sentence(rng, 4)}.`, subject: sentence(rng, 2) })),
  }));
}

const data = join(tmp, "dataset");
const splits = { train: records(8, 1), val: records(2, 2), test: records(3, 3) };
test.before(async () => {
  await writeDataset(data, splits, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" });
});

function options(out: string, patch: Partial<RunOptions> = {}): RunOptions {
  return quietRunOptions({ generator: models.generator, data, out }, { method: "cot", maxSteps: 4, batchTokens: 1024 }, patch);
}

test("cot: an empty rationale without separator on the plain prompt gives SFT's ids and SFT's losses (1e-6)", async () => {
  const prompt = { historyK: 2 };
  const sft = await loadTrainingData(data, tok, prompt, GEN_CONFIG(300));
  const reduced = await loadTrainingData(data, tok, prompt, GEN_CONFIG(300), undefined, { targetOf: (_r, _s, y) => formatCot("", y, { separator: false }) });
  assert.deepEqual(reduced.train.map((e) => [e.promptIds, e.targetIds]), sft.train.map((e) => [e.promptIds, e.targetIds]));
  const g = loadCheckpoint(models.generator);
  const losses = async (method: "sft" | "cot", train: typeof sft.train) => {
    const config = { ...options("").config, method, maxSteps: 3 };
    const trainer = await Trainer.create({ pair: { generator: g.config, fusion: options("").fusion }, weights: flattenPair({ generator: g.params }), train, config, threads: 1, padId: 0 });
    return (await trainer.run()).metrics.map((m) => m.loss);
  };
  const a = await losses("sft", sft.train);
  const b = await losses("cot", reduced.train);
  assert.equal(b.length, 3);
  b.forEach((l, i) => assert.ok(Math.abs(l - a[i]!) <= 1e-6, `step ${i}: ${l} vs ${a[i]}`));
});

test("cot: a run trains on rationale + separator + answer, records its options, caches rationales; generation writes answers", async () => {
  const setup = await cotSetup(data, undefined, undefined, { historyK: 2 });
  assert.equal(setup.prompt.instruction, COT_INSTRUCTION);
  const ex = await loadTrainingData(data, tok, setup.prompt, GEN_CONFIG(300), undefined, { targetOf: cotTargetOf(setup.rationales) });
  const text = tok.decode(ex.train[0]!.targetIds);
  assert.ok(text.includes(COT_SEPARATOR) && text.includes("- Typically writes about"), text);
  const out = join(tmp, "cot");
  const { manifest } = await runTraining(options(out, { prompt: { historyK: 2 } }));
  assert.equal(manifest.method, "cot");
  assert.deepEqual(manifest.training.cot, { rationales: null, selfTrainIters: 0, selfTrainK: 4 });
  assert.deepEqual(manifest.training.prompt, { historyK: 2, instruction: COT_INSTRUCTION });
  assert.ok(readdirSync(join(data, "rationales")).some((f) => f.startsWith("extractive-")));
  const fly = FlyThinker.load(out);
  const preds = [];
  for await (const p of fly.predict(splits.test, { maxNewTokens: 6, batch: 2 })) preds.push(p);
  assert.deepEqual(preds.map((p) => p.prompt_tokens), splits.test.map((r) => recordPrompt(r, tok, { historyK: 2, instruction: COT_INSTRUCTION }).promptIds.length));
  for (const p of preds) {
    assert.equal(typeof p.raw, "string");
    // 6 tokens cannot reach the separator: the answer is the whole output, counted as a failure
    assert.equal(p.parse_failed, true);
    assert.equal(p.prediction, p.raw!.trim());
  }
});

test("cot: the ReST-EM filter keeps exactly the top <= 10 samples with reward >= 0.3, highest first", () => {
  const rewards = [0.1, 0.9, 0.3, 0.29999, 0.5, 0.5, 1, 0.31, 0.7, 0.8, 0.6, 0.4, 0.35, 0.0];
  const kept = keptSamples(rewards.map((reward, i) => ({ i, reward })));
  assert.deepEqual(kept.map((s) => s.i), [6, 1, 9, 8, 10, 4, 5, 11, 12, 7]);
  assert.deepEqual(keptSamples([0.3, 0.2].map((reward, i) => ({ i, reward }))).map((s) => s.i), [0]);
  assert.deepEqual(keptSamples([{ reward: 0.29 }]), []);
  assert.deepEqual(keptSamples([0.5, 0.9, 0.4].map((reward, i) => ({ i, reward })), 2, 0.45).map((s) => s.i), [1, 0]);
});

test("cot: self-training samples K per input, keeps and fine-tunes on them, and records each iteration", async () => {
  const out = join(tmp, "cot-rest");
  let calls = 0;
  const reward = (prediction: string, reference: string) => {
    calls++;
    assert.equal(typeof prediction, "string");
    assert.ok(splits.train.some((r) => r.output === reference));
    return calls % 2 === 0 ? 1 : 0; // every second sample is kept
  };
  const { manifest } = await runTraining(options(out, { prompt: { historyK: 1 }, reward, config: { ...options("").config, maxSteps: 2, cot: { rationales: null, selfTrainIters: 1, selfTrainK: 2 } } }));
  const rows = manifest.training.self_training as { sampled: number; kept: number; inputs_with_kept: number; steps: number; final_loss: number }[];
  assert.equal(calls, 8 * 2);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.sampled, 16);
  assert.equal(rows[0]!.kept, 8);
  assert.equal(rows[0]!.steps, 2);
  assert.ok(Number.isFinite(rows[0]!.final_loss));
  assert.ok(existsSync(join(out, "generator", "model.safetensors")));
  await assert.rejects(runTraining(options(join(tmp, "no-reward"), { config: { ...options("").config, cot: { rationales: null, selfTrainIters: 1, selfTrainK: 2 } } })), /CoT self-training needs a reward/);
});

test("cot: flag checks name the flag", () => {
  const base = { method: "cot", lr: "1e-3", batchTokens: "64", gradAccum: "1", warmupRatio: "0", schedule: "linear", seed: "1", weightDecay: "0" };
  const f = (patch: Record<string, string>) => configFromFlags({ ...base, generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", checkpointEvery: "0", evalEvery: "0", ...patch });
  assert.deepEqual(f({}).cot, { rationales: null, selfTrainIters: 0, selfTrainK: 4 });
  assert.deepEqual(f({ rationales: "r.jsonl", selfTrainIters: "2", selfTrainK: "3" }).cot, { rationales: "r.jsonl", selfTrainIters: 2, selfTrainK: 3 });
  assert.throws(() => f({ selfTrainK: "0" }), /--self-train-k must be an integer >= 1/);
  assert.throws(() => f({ method: "sft", rationales: "x" }), /--rationales applies to --method cot only/);
  assert.throws(() => f({ method: "llm-trsr", selfTrainIters: "1" }), /--self-train-iters applies to --method cot only/);
});
