// After training diverges, the "last good checkpoint" is one whose weights and loss were still sound (not merely the
// newest), it is never pruned, --resume goes back to it, and --override lr=X lets the resumed run use another rate.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PairConfig } from "../../src/flythinker/graph.ts";
import { listCheckpoints, loadTrainingCheckpoint } from "../../src/train/checkpoint.ts";
import { checkpointProblem, weightStats, WEIGHT_GROWTH } from "../../src/train/health.ts";
import { Trainer, TrainingDiverged, type TrainConfig } from "../../src/train/trainer.ts";
import { applyOverrides, configFromFlags } from "../../src/cli/commands/train.ts";
import { config, fusion, pairWeights, randomExamples, tiny } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "diverge-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const pair: PairConfig = { generator: tiny(), fusion: fusion() };
const train = randomExamples(24, 60, 4);
const cfg = (lr: number): TrainConfig => config({ method: "sft", maxSteps: 30, lr, warmupRatio: 0, schedule: "constant", clipNorm: 1e30 });
const logs: string[] = [];
const reporter = { start() {}, step() {}, stop() {}, log: (s: string) => void logs.push(s) };
const create = (dir: string, lr: number, extra: { resume?: boolean; resumeChanges?: string[] } = {}) =>
  Trainer.create({ pair, weights: pairWeights(pair), train, config: cfg(lr), cadence: { checkpointEvery: 1, evalEvery: 0 }, dir, threads: 1, reporter, ...extra });

test("divergence: the named good checkpoint predates the blow-up; --resume returns to it; --override lr continues", async () => {
  const dir = join(tmp, "run");
  const root = join(dir, "checkpoints");
  // 4 sound steps, then the same run resumed with a rate that blows the weights up until the loss is NaN.
  await (await create(dir, 1e-2)).run({ stopAfter: 4 });
  let err: unknown;
  await (await create(dir, 1000, { resume: true, resumeChanges: ["lr"] })).run().catch((e) => (err = e));
  assert.ok(err instanceof TrainingDiverged, String(err));
  const good = join(root, "step-00000004");
  assert.equal(err.lastCheckpoint, good);
  assert.match(err.message, /the last good checkpoint is .*step-00000004 \(step 4\), whose weights are finite and whose loss was not diverging: continue from it with --resume and a lower learning rate \(--override lr=X\)/);
  // Newer checkpoints exist and hold exploded weights; the good one survived pruning.
  const steps = listCheckpoints(root).map((c) => c.step);
  assert.ok(steps.includes(4) && steps.length === 3 && steps[2]! > 5, `checkpoints ${steps}`);
  const newest = loadTrainingCheckpoint(listCheckpoints(root).at(-1)!.dir);
  const base = weightStats(pairWeights(pair).values()).max;
  assert.ok(weightStats(newest.params.values()).max > WEIGHT_GROWTH * base, "the newest checkpoint's weights exploded");
  assert.match(checkpointProblem(newest.state.step, newest.state.health, new Map())!, /largest \|weight\| is .* over 100 x the initial/);
  assert.equal(checkpointProblem(4, loadTrainingCheckpoint(good).state.health, new Map()), null);

  // Resuming with another rate than the good checkpoint's is refused unless asked for.
  await assert.rejects(create(dir, 0.005, { resume: true }), /started with other settings:\n {2}config\.lr: 0\.01 in the checkpoint, 0\.005 now\n\(to change the learning rate/);
  logs.length = 0;
  const resumed = await create(dir, 0.005, { resume: true, resumeChanges: ["lr"] });
  assert.equal(resumed.stepsDone, 4);
  assert.ok(logs.some((l) => /^skipping .*step-\d+ \(step \d+\): its largest \|weight\|/.test(l)), logs.join("\n"));
  assert.ok(logs.includes("changed on resume: config.lr: 0.01 in the checkpoint, 0.005 now"), logs.join("\n"));
  const r = await resumed.run();
  assert.equal(r.steps, 30);
  assert.ok(r.metrics.every((m) => Number.isFinite(m.loss)));
  // The resumed run from step 4 equals a run that used 0.01 for 4 steps and 0.005 after, with no divergence between.
  const ref = join(tmp, "ref");
  await (await create(ref, 1e-2)).run({ stopAfter: 4 });
  const again = await (await create(ref, 0.005, { resume: true, resumeChanges: ["lr"] })).run();
  assert.deepEqual(r.metrics.map((m) => m.loss), again.metrics.map((m) => m.loss));
  assert.ok(existsSync(join(root, "step-00000030")));
});

test("--override: KEY=VALUE for lr, schedule, warmup-ratio, only with --resume", () => {
  const flags = { method: "sft", generator: "", data: "", out: "", lambda: "0.5", fuse: "prefix", enhance: "global", lr: "1e-3", gradAccum: "1", checkpointEvery: "0", evalEvery: "0", warmupRatio: "0", schedule: "linear", seed: "1", weightDecay: "0" };
  const c = configFromFlags(flags);
  const o = applyOverrides(c, ["lr=5e-6", "schedule=cosine", "warmup-ratio=0.1"], true);
  assert.deepEqual([o.config.lr, o.config.schedule, o.config.warmupRatio], [5e-6, "cosine", 0.1]);
  assert.deepEqual(o.keys, ["lr", "schedule", "warmupRatio"]);
  assert.throws(() => applyOverrides(c, ["lr=1e-4"], false), { message: "--override changes a resumed run's settings: it needs --resume" });
  assert.throws(() => applyOverrides(c, ["seed=3"], true), /--override expects KEY=VALUE with KEY one of lr, schedule, warmup-ratio, got "seed=3"/);
  assert.throws(() => applyOverrides(c, ["lr=0x1"], true), /--override lr must be a number >= 0, got "0x1"/);
});
