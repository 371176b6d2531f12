// The ablation sweep on tiny models: lambda = 0 equals its SFT reference (same texts, same scores), a killed sweep
// resumes without redoing finished points, seeds give mean +- sd, and bad grid keys list the valid ones.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { gridPoints, parseGrid, pointName } from "../../src/sweep/grid.ts";
import { runSweep, type SweepOptions } from "../../src/sweep/run.ts";
import { writeSweepReport } from "../../src/sweep/report.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { DEFAULT_TRAIN_CONFIG } from "../../src/train/trainer.ts";
import { Rng } from "../../src/util/random.ts";
import { acquireOutputLock } from "../../src/util/lock.ts";
import { sentence, writePair } from "../train/fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "sweep-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));
const data = join(tmp, "data");

function records(n: number, seed: number): PersonalRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${seed}-${i}`,
    task: "email",
    user: `u${i % 2}`,
    input: sentence(rng, 3),
    output: sentence(rng, 4),
    profile: [0, 1].map(() => ({ input: sentence(rng, 3), output: sentence(rng, 4), subject: sentence(rng, 2) })),
  }));
}

function options(out: string, grid: string[], patch: Partial<SweepOptions> = {}): SweepOptions {
  return {
    generator: models.generator,
    reasoner: models.reasoner,
    data,
    out,
    config: { ...DEFAULT_TRAIN_CONFIG, maxSteps: 2, lr: 1e-2, batchTokens: 1024, seed: 2 },
    fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
    prompt: { historyK: 1, retrieval: "recent" },
    grid: parseGrid(grid),
    generation: { maxNewTokens: 5, seed: 7, split: "test", batch: 2 },
    threads: 1,
    reporter: silentReporter,
    ...patch,
  };
}

test.before(async () => {
  await writeDataset(data, { train: records(8, 1), val: records(2, 2), test: records(3, 3) }, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" });
});

test("grid: points, names, and a bad key listing the valid keys", () => {
  const g = parseGrid(["lambda=0,0.5", "seed=1,2"]);
  assert.deepEqual(gridPoints(g).map(pointName), ["lambda=0,seed=1", "lambda=0,seed=2", "lambda=0.5,seed=1", "lambda=0.5,seed=2"]);
  assert.throws(() => parseGrid(["lamda=0,1"]), /--grid lamda=0,1: unknown key "lamda" \(valid keys: lambda, enhance, fuse, reasoner, history-k, seed\)/);
  assert.throws(() => parseGrid(["enhance=all"]), /enhance values must be global, input or output, got "all"/);
  assert.throws(() => parseGrid([]), /at least one --grid/);
});

test("a killed sweep resumes without redoing finished points; lambda = 0 equals SFT", async () => {
  const out = join(tmp, "lambda");
  const seen: string[] = [];
  await assert.rejects(
    runSweep(options(out, ["lambda=0,0.5"], {
      onPoint: (name) => {
        seen.push(name);
        if (name === "lambda=0") throw new Error("killed");
      },
    })),
    /killed/,
  );
  assert.deepEqual(seen, ["sft", "lambda=0"]);
  const marker = join(out, "lambda=0", "point.json");
  const before = statSync(marker).mtimeMs;
  assert.equal(existsSync(join(out, "lambda=0.5", "point.json")), false);

  const events: [string, boolean][] = [];
  const runs = await runSweep(options(out, ["lambda=0,0.5"], { onPoint: (name, reused) => void events.push([name, reused]) }));
  assert.deepEqual(events, [["sft", true], ["lambda=0", true], ["lambda=0.5", false]]);
  assert.equal(statSync(marker).mtimeMs, before, "the finished point was not rewritten");

  const summary = await writeSweepReport(out, parseGrid(["lambda=0,0.5"]), runs, { resamples: 20 }, { data, split: "test" });
  // Held-out likelihood: lambda = 0 scores the references exactly as its SFT reference does.
  const heldOut = JSON.parse(readFileSync(join(out, "report", "metrics.json"), "utf8")).heldOut;
  const [nllSft, nllZero] = heldOut.methods;
  assert.equal(heldOut.baseline, "sft");
  assert.deepEqual(nllZero.perRecord.map((r: { nll: number }) => r.nll), nllSft.perRecord.map((r: { nll: number }) => r.nll));
  assert.equal(nllZero.vsBaseline.delta, 0);
  assert.deepEqual(summary.lambdaZero, [{ point: "lambda=0", reference: "sft", identical: 3, total: 3, scoresEqual: true }]);
  const sft = runs.find((r) => r.name === "sft")!;
  const zero = runs.find((r) => r.name === "lambda=0")!;
  assert.deepEqual(zero.predictions.map((p) => p.prediction), sft.predictions.map((p) => p.prediction));
  for (const k of ["rouge1", "rougeL", "bleu", "meteor"] as const) assert.equal(summary.points[0]!.normalized[k] === 1 || Number.isNaN(summary.points[0]!.normalized[k]), true);
  const md = readFileSync(join(out, "sweep.md"), "utf8");
  assert.match(md, /\| lambda=0\.5 \|/);
  assert.match(md, /lambda=0 vs sft: 3 of 3 generated texts identical; scores equal\./);
  assert.ok(existsSync(join(out, "sweep-lambda.svg")));
  assert.ok(existsSync(join(out, "report", "report.md")));
  // A finished sweep run again redoes nothing.
  const again: boolean[] = [];
  await runSweep(options(out, ["lambda=0,0.5"], { onPoint: (_n, reused) => void again.push(reused) }));
  assert.deepEqual(again, [true, true, true]);
});

test("seed as a grid key: an SFT reference per seed and mean +- sd over seeds", async () => {
  const out = join(tmp, "seeds");
  const grid = ["lambda=0.5", "seed=1,2"];
  const runs = await runSweep(options(out, grid));
  assert.deepEqual(runs.map((r) => r.name), ["sft,seed=1", "lambda=0.5,seed=1", "sft,seed=2", "lambda=0.5,seed=2"]);
  const s = await writeSweepReport(out, parseGrid(grid), runs, { resamples: 20 });
  const g = s.seedGroups![0]!;
  assert.equal(g.name, "lambda=0.5");
  assert.deepEqual(g.seeds, ["1", "2"]);
  const r1 = s.points[0]!.metrics.rouge1;
  const r2 = s.points[1]!.metrics.rouge1;
  assert.ok(Math.abs(g.mean.rouge1 - (r1 + r2) / 2) < 1e-12);
  assert.ok(Math.abs(g.sd.rouge1 - Math.abs(r1 - r2) / Math.SQRT2) < 1e-12);
  assert.match(readFileSync(join(out, "sweep.md"), "utf8"), /## Mean \+- sd over seeds/);
});

test("flythinker sweep: a grid key that does not exist lists the valid keys", async () => {
  await assert.rejects(
    buildProgram().parseAsync(["node", "flythinker", "sweep", "--grid", "temperature=1,2", "--generator", models.generator, "--data", data, "--out", join(tmp, "bad")]),
    /unknown key "temperature" \(valid keys: lambda, enhance, fuse, reasoner, history-k, seed\)/,
  );
  assert.equal(existsSync(join(tmp, "bad")), false);
});

test("flythinker sweep: a second sweep into a folder being written fails at once, naming the holder; bad numbers name the flag", async () => {
  const out = join(tmp, "locked");
  const lock = acquireOutputLock(out, { command: "sweep" });
  try {
    await assert.rejects(
      buildProgram().parseAsync(["node", "flythinker", "sweep", "--grid", "lambda=0,1", "--generator", models.generator, "--reasoner", models.reasoner, "--data", data, "--out", out]),
      new RegExp(`locked is being written by sweep \\(pid ${process.pid} on `),
    );
  } finally {
    lock.release();
  }
  assert.equal(existsSync(out), false);
  await assert.rejects(
    buildProgram().parseAsync(["node", "flythinker", "sweep", "--grid", "lambda=0", "--generator", models.generator, "--data", data, "--out", join(tmp, "badnum"), "--lr", "0x10"]),
    /--lr must be a number >= 0, got "0x10"/,
  );
});

test("reasoner as a grid key: a folder as given, a preset initialised with the Generator's vocabulary and tokenizer", async () => {
  const out = join(tmp, "reasoners");
  const runs = await runSweep(options(out, [`reasoner=${models.reasoner},tiny`], { fusion: { lambda: 0.5, fuse: "projection", enhance: "global" } }));
  assert.deepEqual(runs.map((r) => r.name), ["sft", "reasoner=rsn", "reasoner=tiny"]);
  const preset = JSON.parse(readFileSync(join(out, "reasoners", "tiny", "config.json"), "utf8"));
  const gen = JSON.parse(readFileSync(join(models.generator, "config.json"), "utf8"));
  assert.equal(preset.vocab_size, gen.vocab_size);
  assert.equal(preset.hidden_size, 64);
  assert.equal(readFileSync(join(out, "reasoners", "tiny", "tokenizer.json"), "utf8"), readFileSync(join(models.generator, "tokenizer.json"), "utf8"));
  const manifest = JSON.parse(readFileSync(join(out, "reasoner=tiny", "model", "flythinker.json"), "utf8"));
  assert.equal(manifest.training.reasoner_from, join(out, "reasoners", "tiny"));
  await assert.rejects(runSweep(options(join(tmp, "bogus"), ["reasoner=nosuchpreset"])), /--grid reasoner=nosuchpreset: neither a model folder nor a preset \(unknown model preset "nosuchpreset"/);
});
