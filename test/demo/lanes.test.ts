// Lanes: a job run in a worker thread gives the same files as the same job run in this thread, its events arrive,
// its errors keep their kind and message, and no more jobs run at once than there are lanes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Lanes } from "../../src/demo/lanes.ts";
import type { TrainJobOptions } from "../../src/demo/lane-jobs.ts";
import { UserError } from "../../src/util/errors.ts";
import { DEFAULT_TRAIN_CONFIG } from "../../src/train/trainer.ts";
import { writePair, writePairsFile } from "../train/fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "lanes-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));
writePairsFile(join(tmp, "pairs.jsonl"), 24, 3);

function trainJob(out: string, patch: Partial<TrainJobOptions> = {}): TrainJobOptions {
  return {
    generator: models.generator,
    data: join(tmp, "pairs.jsonl"),
    out,
    config: { ...DEFAULT_TRAIN_CONFIG, method: "sft", lr: 1e-2, seed: 2, maxSteps: 4, batchTokens: 128 },
    fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
    cadence: { checkpointEvery: 0, evalEvery: 0 },
    threads: 1,
    ...patch,
  };
}

function recorder() {
  const events: string[] = [];
  const losses: number[] = [];
  return {
    events,
    losses,
    reporter: {
      start: (total: number, done: number) => events.push(`start ${total} ${done}`),
      step: (i: { step: number; loss: number }) => {
        events.push(`step ${i.step}`);
        losses.push(i.loss);
      },
      log: () => {},
      stop: () => events.push("stop"),
    },
  };
}

test("lanes: a training job in a worker writes the same weights as in this thread, with the same reported steps", async () => {
  const here = recorder();
  const there = recorder();
  await new Lanes(1).run({ kind: "train", options: trainJob(join(tmp, "here")) }, { reporter: here.reporter });
  await new Lanes(2).run({ kind: "train", options: trainJob(join(tmp, "there")) }, { reporter: there.reporter });
  assert.deepEqual(here.events, ["start 4 0", "step 1", "step 2", "step 3", "step 4", "stop"]);
  assert.deepEqual(there.events, here.events);
  assert.deepEqual(there.losses, here.losses);
  assert.ok(here.losses.every((l) => Number.isFinite(l) && l > 0));
  const weights = (dir: string) => readFileSync(join(dir, "generator", "model.safetensors"));
  assert.ok(weights(join(tmp, "here")).equals(weights(join(tmp, "there"))), "the two runs' weights differ");
});

test("lanes: a worker's UserError arrives as a UserError with its message", async () => {
  const missing = join(tmp, "no-such-model");
  await assert.rejects(
    new Lanes(2).run({ kind: "train", options: trainJob(join(tmp, "err"), { generator: missing }) }),
    (e: unknown) => e instanceof UserError && e.message.includes(missing),
  );
});

test("lanes: with one lane, queued jobs run one after another in the order asked", async () => {
  const lanes = new Lanes(1);
  const log: string[] = [];
  const sink = (name: string) => ({
    reporter: { start: () => log.push(`${name} start`), step: () => {}, log: () => {}, stop: () => log.push(`${name} stop`) },
  });
  await Promise.all([
    lanes.run({ kind: "train", options: trainJob(join(tmp, "q1")) }, sink("a")),
    lanes.run({ kind: "train", options: trainJob(join(tmp, "q2")) }, sink("b")),
  ]);
  assert.deepEqual(log, ["a start", "a stop", "b start", "b stop"]);
});

test("lanes: waiting jobs start by priority, then in the order asked", async () => {
  const lanes = new Lanes(1);
  const log: string[] = [];
  const sink = (name: string) => ({ reporter: { start: () => log.push(name), step: () => {}, log: () => {}, stop: () => {} } });
  const job = (name: string) => ({ kind: "train" as const, options: trainJob(join(tmp, `p-${name}`)) });
  await Promise.all([
    lanes.run(job("first"), sink("first")), // starts at once
    lanes.run(job("low"), sink("low"), -1),
    lanes.run(job("a"), sink("a")),
    lanes.run(job("high"), sink("high"), 5),
    lanes.run(job("b"), sink("b")),
  ]);
  assert.deepEqual(log, ["first", "high", "a", "b", "low"]);
});

test("lanes: a lane count that is not a positive integer is refused", () => {
  assert.throws(() => new Lanes(0), /lanes must be an integer >= 1, got 0/);
  assert.throws(() => new Lanes(1.5), /lanes must be an integer >= 1, got 1.5/);
});

test("lanes: a generation job in a worker writes the same predictions as in this thread", async () => {
  const model = join(tmp, "here"); // trained by the first test
  const records = [0, 1, 2].map((i) => ({
    id: `r${i}`,
    task: "email",
    user: `u${i % 2}`,
    input: `write about the cat ${i}`,
    output: "the cat sat on a mat",
    profile: [{ input: "the dog", output: "the dog ran fast", subject: "dogs" }],
    subject: "cats",
  }));
  const generation = {
    modelDir: model,
    prompt: { historyK: 1, retrieval: "bm25", budgets: { profile: 32, input: 16, target: 16 } },
    maxNewTokens: 6,
    temperature: 0.8,
    topP: 0.95,
    seed: 3,
    batch: 2,
    threads: 1,
  } as const;
  const done: number[][] = [[], []];
  for (const [k, lanes] of [new Lanes(1), new Lanes(2)].entries()) {
    await lanes.run(
      { kind: "generate", file: join(tmp, `pred-${k}.jsonl`), records, generation },
      { progress: { update: (n) => done[k]!.push(n), stop() {} } },
    );
  }
  // everything but the timing field
  const read = (k: number) =>
    readFileSync(join(tmp, `pred-${k}.jsonl`), "utf8")
      .trim()
      .split("\n")
      .map((l): Record<string, unknown> => ({ ...(JSON.parse(l) as Record<string, unknown>), ms_per_token: 0 }));
  assert.equal(read(0).length, 3);
  assert.ok(read(0).every((p) => p.new_tokens === 6));
  assert.deepEqual(read(1), read(0));
  assert.deepEqual(done, [[1, 2, 3], [1, 2, 3]]);
});
