// Whole runs as the command performs them: data in, output folder out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { embeddingNormScaleOf } from "../../src/flythinker/fusion.ts";
import { loadCheckpoint } from "../../src/model/checkpoint.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { configFromFlags } from "../../src/cli/commands/train.ts";
import { loadTrainingData } from "../../src/train/examples.ts";
import { readTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { type RunOptions, runTraining } from "../../src/train/run.ts";
import { Rng } from "../../src/util/random.ts";
import { GEN_CONFIG, RSN_CONFIG, makeTokenizer, sentence, writeModel, writePair, writePairsFile, quietRunOptions } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "run-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));
writePairsFile(join(tmp, "pairs.jsonl"), 30, 3);

function options(patch: Partial<RunOptions> = {}): RunOptions {
  return quietRunOptions({ generator: models.generator, reasoner: models.reasoner, data: join(tmp, "pairs.jsonl"), out: join(tmp, "out") }, { maxSteps: 6, batchTokens: 128 }, patch);
}

test("train: a Reasoner with another tokenizer is refused, naming the first differing token id", async () => {
  const other = makeTokenizer(300, 1, "zebra quokka zebra quokka zebra quokka xylophone xylophone");
  const dir = join(tmp, "other-rsn");
  writeModel(dir, RSN_CONFIG(300), other, 5);
  // The first id whose token differs, found independently from the two vocabularies.
  const a = JSON.parse(readFileSync(join(models.generator, "tokenizer.json"), "utf8")).model.vocab as Record<string, number>;
  const b = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")).model.vocab as Record<string, number>;
  const byId = (v: Record<string, number>) => Object.fromEntries(Object.entries(v).map(([t, i]) => [i, t]));
  const ia = byId(a);
  const ib = byId(b);
  let first = 0;
  while (ia[first] === ib[first]) first++;
  assert.ok(first >= 256, `differ at ${first}`);
  await assert.rejects(
    runTraining(options({ reasoner: dir, out: join(tmp, "refused") })),
    new RegExp(`the Generator and the Reasoner must share one tokenizer: tokenizers differ at token id ${first}: `),
  );
  assert.equal(existsSync(join(tmp, "refused")), false);
});

test("train: FlyThinker with projection fusion writes both models, the projection and the manifest", async () => {
  const out = join(tmp, "fly-proj");
  const { result, manifest } = await runTraining(options({ out, fusion: { lambda: 0.3, fuse: "projection", enhance: "output" } }));
  assert.equal(result.steps, 6);
  assert.deepEqual(readdirSync(out).sort(), ["flythinker.json", "fusion.safetensors", "generator", "loss.svg", "metrics.jsonl", "reasoner"]);
  for (const m of ["generator", "reasoner"]) {
    assert.deepEqual(readdirSync(join(out, m)).sort(), ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
  }
  const back = readTrainedModel(out);
  assert.deepEqual(back.manifest, manifest);
  assert.equal(manifest.method, "flythinker");
  assert.deepEqual([manifest.lambda, manifest.fuse, manifest.enhance, manifest.projection], [0.3, "projection", "output", "fusion.safetensors"]);
  assert.equal(back.projection!.length, GEN_CONFIG(300).hiddenSize * RSN_CONFIG(300).hiddenSize);
  const embed = back.generator.get("model.embed_tokens.weight")!;
  assert.equal(manifest.embedding_norm_scale, embeddingNormScaleOf(embed, 16));
  assert.equal(manifest.tokenizer_fingerprint, TextTokenizer.fromDir(models.generator).fingerprint);
  assert.equal(manifest.training.final_loss, result.finalLoss);
  assert.equal(manifest.training.steps, 6);
  // Both models and the projection were trained.
  const g0 = loadCheckpoint(models.generator).weights.get("model.norm.weight")!;
  const r0 = loadCheckpoint(models.reasoner).weights.get("model.norm.weight")!;
  assert.notDeepEqual(back.generator.get("model.norm.weight"), g0);
  assert.notDeepEqual(back.reasoner!.get("model.norm.weight"), r0);
  const eye = new Float32Array(16 * 8);
  for (let i = 0; i < 8; i++) eye[i * 8 + i] = 1;
  assert.notDeepEqual(back.projection, eye);
  const lines = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n");
  assert.equal(lines.length, 6);
  assert.match(readFileSync(join(out, "loss.svg"), "utf8"), /<polyline /);
  // The folder is finished: a second run into it is refused, and so is resuming it.
  await assert.rejects(runTraining(options({ out })), /output folder .* is not empty; pass --resume/);
  await assert.rejects(runTraining(options({ out, resume: true })), /holds a finished run .* nothing to resume/);
});

test("train: --freeze-reasoner leaves the Reasoner as it was", async () => {
  const out = join(tmp, "frozen");
  await runTraining(options({ out, config: { ...options().config, freezeReasoner: true } }));
  const back = readTrainedModel(out);
  const r0 = loadCheckpoint(models.reasoner).weights;
  for (const [n, w] of r0) assert.deepEqual(back.reasoner!.get(n), w, n);
  assert.notDeepEqual(back.generator.get("lm_head.weight"), loadCheckpoint(models.generator).weights.get("lm_head.weight"));
});

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

test("train: SFT on a canonical dataset folder builds chat prompts with history and writes no Reasoner", async () => {
  const data = join(tmp, "dataset");
  await writeDataset(data, { train: records(12, 1), val: records(4, 2) }, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" });
  const tok = TextTokenizer.fromDir(models.generator);
  const loaded = await loadTrainingData(data, tok, { historyK: 1, retrieval: "recent" }, GEN_CONFIG(300));
  assert.equal(loaded.train.length, 12);
  assert.equal(loaded.val.length, 4);
  const ex = loaded.train[0]!;
  const imStart = tok.tokenToId("<|im_start|>")!;
  const imEnd = tok.tokenToId("<|im_end|>")!;
  assert.equal(ex.promptIds[0], imStart);
  assert.equal(ex.targetIds[ex.targetIds.length - 1], imEnd);
  const promptText = tok.decode(ex.promptIds);
  assert.match(promptText, /<\|im_start\|>assistant\n$/);
  assert.ok(promptText.includes(records(12, 1)[0]!.profile[1]!.output), "the most recent history item is in the prompt");
  assert.equal(tok.decode(ex.targetIds), records(12, 1)[0]!.output + "<|im_end|>");

  const out = join(tmp, "sft");
  const { result, manifest } = await runTraining(
    options({ out, reasoner: undefined, data, config: { ...options().config, method: "sft", batchTokens: 1024 }, cadence: { checkpointEvery: 2, evalEvery: 3 } }),
  );
  assert.deepEqual(readdirSync(out).sort(), ["flythinker.json", "generator", "loss.svg", "metrics.jsonl"]);
  assert.equal(manifest.method, "sft");
  assert.deepEqual([manifest.reasoner, manifest.lambda, manifest.fuse, manifest.enhance, manifest.embedding_norm_scale, manifest.projection], [null, null, null, null, null, null]);
  assert.equal(manifest.training.val_examples, 4);
  assert.ok(Number.isFinite(result.finalValLoss));
  const back = readTrainedModel(out);
  assert.equal(back.reasoner, undefined);
  assert.equal(back.pair.reasoner, undefined);
});

test("train: flag checks", () => {
  const base = { method: "sft", lr: "1e-3", batchTokens: "64", gradAccum: "1", warmupRatio: "0", schedule: "linear", seed: "1", weightDecay: "0" };
  const f = (patch: Record<string, string>) => configFromFlags({ ...base, generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", checkpointEvery: "0", evalEvery: "0", ...patch });
  assert.throws(() => f({ epochs: "2", maxSteps: "5" }), /give --epochs or --max-steps, not both/);
  assert.throws(() => f({ method: "dpo" }), /--method must be flythinker \| sft( \| [a-z-]+)*, got "dpo"/);
  assert.throws(() => f({ method: "dpo" }), /\| nextquill/);
  assert.throws(() => f({ nqAlpha: "0.2" }), /--nq-alpha applies to --method nextquill only/);
  assert.throws(() => f({ method: "nextquill", nqAlpha: "-0.5" }), /--nq-alpha must be a number >= 0, got -0.5/);
  assert.throws(() => f({ method: "nextquill", nqAlpha: "x" }), /--nq-alpha must be a number >= 0, got "x"/);
  assert.throws(() => f({ method: "nextquill", nqThreshold: "1.5" }), /--nq-threshold must be a number in \(-1, 1\)/);
  assert.throws(() => f({ method: "nextquill", nqWeights: "0.9" }), /--nq-weights must be two positive numbers HI,LO/);
  assert.throws(() => f({ method: "nextquill", nqWeights: "0.9,-1" }), /--nq-weights must be two positive numbers/);
  assert.deepEqual(f({ method: "nextquill" }).nextquill, { alpha: 0.1, threshold: 0.05, weights: [0.9, 0.1] });
  assert.deepEqual(f({ method: "nextquill", nqAlpha: "0", nqThreshold: "-0.2", nqWeights: "1,0.5" }).nextquill, { alpha: 0, threshold: -0.2, weights: [1, 0.5] });
  assert.equal(f({}).nextquill, undefined);
  assert.equal(f({ method: "nextquill", nqCounterfactual: "none" }).nextquill!.counterfactual, "none");
  assert.throws(() => f({ method: "nextquill", nqCounterfactual: "empty" }), /--nq-counterfactual must be non-pers \| none, got "empty"/);
  assert.throws(() => f({ gradAccum: "0" }), /--grad-accum must be an integer >= 1, got "0"/);
  assert.throws(() => f({ schedule: "step" }), /--schedule must be cosine \| linear \| constant/);
  const c = f({ maxSteps: "5" });
  assert.equal(c.maxSteps, 5);
  assert.equal(c.weightDecay, 0);
  assert.equal(f({}).weightDecay, 0);
  assert.equal(configFromFlags({ ...base, weightDecay: "0.025", generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", checkpointEvery: "0", evalEvery: "0" }).weightDecay, 0.025);
});

test("train: a second run into the same folder fails at once naming the first; the first finishes untouched", async () => {
  const out = join(tmp, "race");
  const first = runTraining(options({ out, config: { ...options().config, method: "sft" }, reasoner: undefined, cadence: { checkpointEvery: 2, evalEvery: 0 } }));
  // The lock is taken before runTraining returns its promise, so the second run sees it at once.
  await assert.rejects(
    runTraining(options({ out, config: { ...options().config, method: "sft" }, reasoner: undefined })),
    new RegExp(`race is being written by train \\(pid ${process.pid} on .*\\.race\\.lock`),
  );
  const raced = await first;
  const alone = await runTraining(options({ out: join(tmp, "race-alone"), config: { ...options().config, method: "sft" }, reasoner: undefined, cadence: { checkpointEvery: 2, evalEvery: 0 } }));
  const losses = (dir: string) => readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { loss: number }).loss);
  assert.equal(losses(out).length, 6, "one metrics row per step of the first run only");
  assert.deepEqual(losses(out), losses(join(tmp, "race-alone")));
  assert.equal(raced.result.finalLoss, alone.result.finalLoss);
  assert.equal(existsSync(join(tmp, ".race.lock")), false, "the lock is released");
});

test("train: flag checks are strict (decimal, range-checked, the flag named)", () => {
  const base = { method: "sft", lr: "1e-3", batchTokens: "64", gradAccum: "1", warmupRatio: "0", schedule: "linear", seed: "1", weightDecay: "0" };
  const f = (patch: Record<string, string>) => configFromFlags({ ...base, generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", checkpointEvery: "0", evalEvery: "0", ...patch });
  assert.throws(() => f({ batchTokens: "0x10" }), /--batch-tokens must be an integer >= 1, got "0x10"/);
  assert.throws(() => f({ lr: "Infinity" }), /--lr must be a number >= 0, got "Infinity"/);
  assert.throws(() => f({ lr: "-1e-3" }), /--lr must be a number >= 0, got "-1e-3"/);
  assert.throws(() => f({ seed: "1.5" }), /--seed must be an integer >= 0, got "1.5"/);
  assert.equal(f({ lr: "5e-6" }).lr, 5e-6);
  assert.equal(f({ batchTokens: " 96 " }).batchTokens, 96);
});

test("train --keep-checkpoints N keeps the newest N during the run and after it", async () => {
  const { buildProgram } = await import("../../src/cli/main.ts");
  const out = join(tmp, "keep");
  const log = console.log;
  const write = process.stderr.write;
  console.log = () => {};
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync([
      "node", "flythinker", "train", "--method", "sft", "--generator", models.generator, "--data", join(tmp, "pairs.jsonl"), "--out", out,
      "--max-steps", "5", "--lr", "0.01", "--batch-tokens", "128", "--checkpoint-every", "1", "--keep-checkpoints", "3", "--threads", "1",
    ]);
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
  assert.deepEqual(readdirSync(join(out, "checkpoints")).sort(), ["step-00000003", "step-00000004", "step-00000005"]);
  await assert.rejects(
    buildProgram().parseAsync(["node", "flythinker", "train", "--method", "sft", "--generator", models.generator, "--data", "x", "--out", join(tmp, "k0"), "--keep-checkpoints", "0"]),
    /--keep-checkpoints must be an integer >= 1, got "0"/,
  );
});

test("a checkpoint that does not fit on the disk: the folder and the bytes one checkpoint needs", async () => {
  const { checkpointWriteError, checkpointBytes } = await import("../../src/train/checkpoint.ts");
  const { openSync, writeSync } = await import("node:fs");
  let enospc: unknown;
  try {
    writeSync(openSync("/dev/full", "a"), Buffer.alloc(64));
  } catch (e) {
    enospc = e;
  }
  const bytes = checkpointBytes([new Float32Array(1000), new Float32Array(24)]);
  assert.equal(bytes, 12288);
  assert.equal(
    checkpointWriteError("/runs/fly/checkpoints", enospc, bytes).message,
    "no space left on the device of /runs/fly/checkpoints to write a checkpoint: each needs about 12,288 bytes, and the run holds " +
      "the newest --keep-checkpoints (default 2) plus the one being written; free space or pass --keep-checkpoints 1",
  );
});
