// LLM-TRSR end to end: with empty summaries, R = k and recency retrieval the prompts are SFT's byte for byte and the
// losses are identical; a summary takes its place in the history clause within the budget; a run records its options,
// keeps the idf table, caches summaries in the dataset folder, and generation builds the training prompt.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildPrompt, writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { chatTemplateOf, recordPrompt } from "../../src/data/prompt-ids.ts";
import { FlyThinker, loadAnyModel, trainedSummaries } from "../../src/flythinker/model.ts";
import { readTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { configFromFlags } from "../../src/cli/commands/train.ts";
import { SUMMARY_IDF_FILE, readIdf, extractiveSummaries } from "../../src/baselines/summaries.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { loadTrainingData } from "../../src/train/examples.ts";
import { type RunOptions, runTraining } from "../../src/train/run.ts";
import { trsrSetup } from "../../src/train/trsr.ts";
import { Rng } from "../../src/util/random.ts";
import { GEN_CONFIG, sentence, writePair, quietRunOptions } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "trsr-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));
const tok = TextTokenizer.fromDir(models.generator);
const counter = { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) };

function records(n: number, seed: number, items = 3): PersonalRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${seed}-${i}`,
    task: "email",
    user: `u${i % 3}`,
    input: sentence(rng, 4),
    output: sentence(rng, 6),
    profile: Array.from({ length: items + (i % 4) }, () => ({ input: sentence(rng, 3), output: `${sentence(rng, 5)}. ${sentence(rng, 4)}.`, subject: sentence(rng, 2) })),
  }));
}

const data = join(tmp, "dataset");
const splits = { train: records(12, 1), val: records(4, 2), test: records(3, 3) };

function options(out: string, patch: Partial<RunOptions> = {}): RunOptions {
  return quietRunOptions({ generator: models.generator, data, out }, { method: "llm-trsr", maxSteps: 6, batchTokens: 1024 }, { cadence: { checkpointEvery: 0, evalEvery: 3 }, ...patch });
}

test.before(async () => {
  await writeDataset(data, splits, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" });
});

test("trsr: empty summaries, R = k and recency give SFT's prompts byte for byte and SFT's losses", async () => {
  const empty = join(tmp, "empty.jsonl");
  writeFileSync(empty, [...splits.train, ...splits.val].map((r) => JSON.stringify({ id: r.id, summary: "" })).join("\n") + "\n");
  const k = 2;
  const sftPrompt = { historyK: k, retrieval: "recent" as const };
  const setup = await trsrSetup(data, undefined, { mode: "recurrent", recent: k, summaries: empty }, { historyK: 5, retrieval: "bm25" }, tok);
  assert.deepEqual(setup.prompt, { historyK: k, retrieval: "recent" });
  const sft = await loadTrainingData(data, tok, sftPrompt, GEN_CONFIG(300));
  const trsr = await loadTrainingData(data, tok, setup.prompt, GEN_CONFIG(300), undefined, { summaryOf: setup.summaryOf });
  assert.deepEqual(trsr.train.map((e) => e.promptIds), sft.train.map((e) => e.promptIds));
  const chat = chatTemplateOf(tok);
  for (const r of splits.train) {
    const plain: string = buildPrompt(r, { counter, chat, ...sftPrompt }).prompt;
    const summarised: string = buildPrompt(r, { counter, chat, ...setup.prompt, summary: setup.summaryOf(r) }).prompt;
    assert.equal(summarised, plain);
  }
  const base = options("").config;
  const a = await runTraining(options(join(tmp, "sft"), { config: { ...base, method: "sft" }, prompt: sftPrompt }));
  const b = await runTraining(options(join(tmp, "trsr-empty"), { config: { ...base, trsr: { mode: "recurrent", recent: k, summaries: empty } } }));
  assert.deepEqual(b.result.metrics.map((m) => m.loss), a.result.metrics.map((m) => m.loss));
  assert.equal(b.result.finalValLoss, a.result.finalValLoss);
});

test("trsr: the summary is a part of the history clause, before the R recent items, within the history budget", () => {
  const r = splits.train[3]!;
  const chat = chatTemplateOf(tok);
  const summary = "the user writes about cats. the user likes red mats.";
  const zero = buildPrompt(r, { counter, chat, historyK: 0, retrieval: "recent", summary });
  assert.equal(zero.message, `"${summary}" is a summary of what the user wrote before. Following the given patterns, ${r.input}`);
  assert.deepEqual(zero.usedHistory, []);
  const two = buildPrompt(r, { counter, chat, historyK: 2, retrieval: "recent", summary });
  const plain = buildPrompt(r, { counter, chat, historyK: 2, retrieval: "recent" });
  assert.ok(two.message.startsWith(`"${summary}" is a summary of what the user wrote before, and ${plain.parts.items[0]}`), two.message);
  assert.deepEqual(two.usedHistory, plain.usedHistory);
  for (const profile of [12, 40, 60, 80, 100, 200]) {
    const p = buildPrompt(r, { counter, chat, historyK: 2, retrieval: "recent", summary, budgets: { profile } });
    assert.ok(p.tokens.history <= profile, `budget ${profile}: ${p.tokens.history} tokens`);
  }
  // The summary is cut at a sentence end to fit (the wording alone takes most of this tokenizer's 60 tokens).
  const cut = (profile: number) => buildPrompt(r, { counter, chat, historyK: 0, summary, budgets: { profile } }).parts.history;
  assert.equal(cut(60), '"the user writes about cats." is a summary of what the user wrote before');
  assert.equal(cut(80), `"${summary}" is a summary of what the user wrote before`);
  assert.equal(cut(12), "");
});

test("trsr: a run records its options and idf table, caches summaries in the dataset folder, and generation rebuilds the training prompt", async () => {
  const out = join(tmp, "trsr");
  const { result: first, manifest } = await runTraining(options(out, { config: { ...options("").config, trsr: { mode: "hierarchical", recent: 1, summaries: null } } }));
  assert.equal(manifest.method, "llm-trsr");
  assert.deepEqual(manifest.training.trsr, { mode: "hierarchical", recent: 1, summaries: null });
  assert.deepEqual(manifest.training.prompt, { historyK: 1, retrieval: "recent" });
  assert.ok(existsSync(join(out, SUMMARY_IDF_FILE)));
  const cache = readdirSync(join(data, "summaries"));
  assert.ok(cache.some((f) => f.startsWith("extractive-hierarchical-")), cache.join(","));
  // Generation: the same summariser (the run's idf table) and the same prompt.
  const trained = readTrainedModel(out);
  const test3 = splits.test;
  const of = trainedSummaries(trained, tok, test3, { cacheDir: data })!;
  const direct = extractiveSummaries({ mode: "hierarchical", idf: readIdf(out), counter, tokenizer: tok.fingerprint }, test3);
  for (const r of test3) {
    assert.equal(of(r), direct(r));
    assert.ok(of(r).length > 0);
  }
  const want = test3.map((r) => recordPrompt(r, tok, { historyK: 1, retrieval: "recent", summary: of(r) }).promptIds.length);
  const preds = [];
  for await (const p of FlyThinker.load(out).predict(test3, { maxNewTokens: 3, batch: 2 })) preds.push(p);
  assert.deepEqual(preds.map((p) => p.prompt_tokens), want);
  const loaded = loadAnyModel(out);
  assert.equal(loaded.kind, "llm-trsr");
  // Loading the folder gives prompt options that summarise each record the same way (the demo and the server use them).
  for (const r of test3) assert.equal(loaded.trainedPrompt!.summaryOf!(r), of(r));
  assert.deepEqual(test3.map((r) => recordPrompt(r, tok, loaded.trainedPrompt).promptIds.length), want);
  // The same seed gives the same run and the same predictions.
  const again = join(tmp, "trsr-again");
  const second = await runTraining(options(again, { config: { ...options("").config, trsr: { mode: "hierarchical", recent: 1, summaries: null } } }));
  assert.deepEqual(second.result.metrics.map((m) => m.loss), first.metrics.map((m) => m.loss));
  const preds2 = [];
  for await (const p of FlyThinker.load(again).predict(test3, { maxNewTokens: 3, batch: 2 })) preds2.push(p);
  assert.deepEqual(preds2.map((p) => p.prediction), preds.map((p) => p.prediction));
  // A summaries file for generation must cover the records.
  const partial = join(tmp, "partial.jsonl");
  writeFileSync(partial, JSON.stringify({ id: test3[0]!.id, summary: "s" }) + "\n");
  assert.throws(() => trainedSummaries(trained, tok, test3, { summaries: partial }), new RegExp(`partial.jsonl: no summary for record "${test3[1]!.id}" \\(2 of 3`));
  assert.throws(() => trainedSummaries(readTrainedModel(join(tmp, "sft")), tok, test3, { summaries: partial }), /--summaries is for LLM-TRSR models/);
});

test("trsr: flag checks name the flag", () => {
  const base = { method: "llm-trsr", lr: "1e-3", batchTokens: "64", gradAccum: "1", warmupRatio: "0", schedule: "linear", seed: "1", weightDecay: "0" };
  const f = (patch: Record<string, string>) => configFromFlags({ ...base, generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", checkpointEvery: "0", evalEvery: "0", ...patch });
  assert.deepEqual(f({}).trsr, { mode: "recurrent", recent: 0, summaries: null });
  assert.deepEqual(f({ trsrMode: "hierarchical", trsrRecent: "2", summaries: "s.jsonl" }).trsr, { mode: "hierarchical", recent: 2, summaries: "s.jsonl" });
  assert.throws(() => f({ trsrMode: "tree" }), /--trsr-mode must be recurrent \| hierarchical, got "tree"/);
  assert.throws(() => f({ trsrRecent: "-1" }), /--trsr-recent must be an integer >= 0, got "-1"/);
  assert.throws(() => f({ method: "sft", trsrRecent: "1" }), /--trsr-recent applies to --method llm-trsr only/);
  assert.throws(() => f({ method: "sft", summaries: "x" }), /--summaries applies to --method llm-trsr only/);
});
