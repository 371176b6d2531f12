// NextQuill as a whole run: records in (each gets its history-free prompt), the output folder records the method and
// its options, checkpoints resume exactly, and the trained Generator decodes like an SFT model (same prompt).
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { recordPrompt } from "../../src/data/prompt-ids.ts";
import { FlyThinker, loadAnyModel } from "../../src/flythinker/model.ts";
import { readManifest } from "../../src/flythinker/manifest.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { loadTrainingData } from "../../src/train/examples.ts";
import { parseMetrics } from "../../src/train/metrics.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { type RunOptions, runTraining } from "../../src/train/run.ts";
import { Rng } from "../../src/util/random.ts";
import { GEN_CONFIG, sentence, writePair, writePairsFile, quietRunOptions } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "nextquill-run-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));

function records(n: number, seed: number): PersonalRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${seed}-${i}`,
    task: "email",
    user: `u${i % 3}`,
    input: sentence(rng, 4),
    output: sentence(rng, 6),
    profile: [0, 1].map(() => ({ input: sentence(rng, 3), output: sentence(rng, 5), subject: sentence(rng, 2) })),
  }));
}

const data = join(tmp, "dataset");
const NQ = { alpha: 0.2, threshold: 0.01, weights: [0.8, 0.2] as [number, number] };

function options(out: string, patch: Partial<RunOptions> = {}): RunOptions {
  return quietRunOptions(
    { generator: models.generator, data, out },
    { method: "nextquill", nextquill: NQ, maxSteps: 8, batchTokens: 512 },
    { cadence: { checkpointEvery: 3, evalEvery: 4 }, prompt: { historyK: 1, retrieval: "recent" }, ...patch },
  );
}

test("nextquill run: examples carry the Non-pers prompt; the folder records method and options; resume is exact; decoding uses the history prompt", async () => {
  await writeDataset(data, { train: records(12, 1), val: records(4, 2), test: records(3, 3) }, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" });
  const tok = TextTokenizer.fromDir(models.generator);
  const loaded = await loadTrainingData(data, tok, { historyK: 1, retrieval: "recent" }, GEN_CONFIG(300), undefined, { counterfactual: true });
  const r0 = records(12, 1)[0]!;
  assert.deepEqual(loaded.train[0]!.promptIds, recordPrompt(r0, tok, { historyK: 1, retrieval: "recent" }).promptIds);
  assert.deepEqual(loaded.train[0]!.counterPromptIds, recordPrompt(r0, tok, { historyK: 0 }).promptIds);
  assert.ok(loaded.train[0]!.counterPromptIds!.length < loaded.train[0]!.promptIds.length);
  // The "none" variant: the history template with None for the history.
  const none = await loadTrainingData(data, tok, { historyK: 1, retrieval: "recent" }, GEN_CONFIG(300), undefined, { counterfactual: true, counterHistory: "None" });
  const noneText = tok.decode(none.train[0]!.counterPromptIds!);
  assert.ok(noneText.includes(`None. Following the given patterns, ${r0.input}`), noneText);
  assert.deepEqual(none.train[0]!.promptIds, loaded.train[0]!.promptIds);

  const whole = join(tmp, "whole");
  const { result, manifest } = await runTraining(options(whole));
  assert.equal(manifest.method, "nextquill");
  assert.equal(manifest.reasoner, null);
  assert.deepEqual(manifest.training.nextquill, NQ);
  assert.deepEqual(readManifest(whole).training.nextquill, NQ);
  const rows = parseMetrics(readFileSync(join(whole, "metrics.jsonl"), "utf8"));
  assert.equal(rows.length, 8);
  assert.ok(rows.every((r) => Number.isFinite(r.loss) && r.tokens > 0));
  assert.ok(rows.some((r) => r.val_loss !== undefined));
  assert.ok(existsSync(join(whole, "loss.svg")));
  assert.ok(Number.isFinite(result.finalValLoss));

  // Stop after 4 steps (checkpoint at 3), resume: the same losses as the uninterrupted run.
  const parts = join(tmp, "parts");
  await assert.rejects(runTraining(options(parts, { config: { ...options(parts).config, maxSteps: 8 }, cadence: { checkpointEvery: 3, evalEvery: 4 }, reporter: { ...silentReporter, step: (s) => { if (s.step === 4) throw new Error("stop here"); } } })), /stop here/);
  assert.ok(existsSync(join(parts, "checkpoints", "step-00000003")));
  const resumed = await runTraining(options(parts, { resume: true }));
  assert.equal(resumed.result.resumedFrom, 3);
  assert.deepEqual(resumed.result.metrics.map((r) => r.loss), result.metrics.map((r) => r.loss));
  // Resuming with other NextQuill options is refused, naming them.
  const again = join(tmp, "again");
  await assert.rejects(runTraining(options(again, { reporter: { ...silentReporter, step: (s) => { if (s.step === 4) throw new Error("stop"); } } })), /stop/);
  await assert.rejects(
    runTraining(options(again, { resume: true, config: { ...options(again).config, nextquill: { ...NQ, alpha: 0.5 } } })),
    /config\.nextquill: .*"alpha":0\.2.* in the checkpoint, .*"alpha":0\.5.* now/,
  );

  // Inference is SFT's: a plain Generator with the training prompt.
  const any = loadAnyModel(whole);
  assert.equal(any.kind, "nextquill");
  assert.equal(any.model.pair.reasoner, undefined);
  const fly = FlyThinker.load(whole);
  const preds = [];
  for await (const p of fly.predict(records(3, 3), { maxNewTokens: 4, batch: 2 })) preds.push(p);
  assert.equal(preds.length, 3);
  const trained = recordPrompt(records(3, 3)[0]!, tok, { historyK: 1, retrieval: "recent" }).promptIds.length;
  assert.equal(preds[0]!.prompt_tokens, trained);
});

test("nextquill run: {prompt, target} pairs are refused (the method needs records)", async () => {
  const pairs = join(tmp, "pairs.jsonl");
  writePairsFile(pairs, 5, 1);
  await assert.rejects(runTraining(options(join(tmp, "p"), { data: pairs })), /pairs.jsonl: this method needs records/);
});

test("method labels name the options", async () => {
  const { methodLabel } = await import("../../src/flythinker/manifest.ts");
  const m = readManifest(join(tmp, "whole"));
  assert.equal(methodLabel(m), "NextQuill (alpha 0.2, threshold 0.01, weights 0.8/0.2)");
  assert.equal(methodLabel({ ...m, method: "llm-trsr", training: { trsr: { mode: "recurrent", recent: 0, summaries: null } } }), "LLM-TRSR (recurrent, R 0, extractive summaries)");
  assert.equal(methodLabel({ ...m, method: "cot", training: { cot: { rationales: null, selfTrainIters: 0, selfTrainK: 4 } } }), "CoT (extractive rationales)");
  assert.equal(methodLabel({ ...m, method: "cot", training: { cot: { rationales: "r.jsonl", selfTrainIters: 2, selfTrainK: 8 } } }), "CoT (rationales from r.jsonl, ReST-EM 2 x K 8)");
  assert.equal(methodLabel({ ...m, method: "sft" }), "SFT");
});
