// Kill -9 during `flythinker train`, then --resume: the run ends as an uninterrupted one does, and every checkpoint
// folder on disk is complete after every kill.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTrainingCheckpoint } from "../../src/train/checkpoint.ts";
import { parseMetrics } from "../../src/train/metrics.ts";
import { readTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { runTraining } from "../../src/train/run.ts";
import { configFromFlags } from "../../src/cli/commands/train.ts";
import { writePair, writePairsFile } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "kill-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const BIN = join(import.meta.dirname, "..", "..", "bin", "flythinker.js");

const STEPS = 120;
function args(models: { generator: string; reasoner: string }, out: string): string[] {
  return [
    "train", "--method", "flythinker", "--generator", models.generator, "--reasoner", models.reasoner,
    "--data", join(tmp, "train.jsonl"), "--val-data", join(tmp, "val.jsonl"), "--out", out,
    "--max-steps", String(STEPS), "--lr", "0.01", "--batch-tokens", "96", "--checkpoint-every", "10", "--eval-every", "40",
    "--grad-accum", "2", "--seed", "4", "--threads", "1",
  ];
}

/** Every entry of the checkpoints folder is a hidden temporary folder or a complete, loadable checkpoint. */
function checkFolder(root: string): number[] {
  if (!existsSync(root)) return [];
  const steps: number[] = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith(".")) continue;
    assert.match(name, /^step-\d{8}$/);
    const files = readdirSync(join(root, name)).sort();
    assert.deepEqual(files, ["metrics.jsonl", "state.safetensors", "trainer.json"], `${name} holds ${files}`);
    const ck = loadTrainingCheckpoint(join(root, name));
    assert.equal(ck.state.step, Number(name.slice(5)));
    assert.equal(parseMetrics(ck.metrics).length, ck.state.step);
    steps.push(ck.state.step);
  }
  return steps.sort((a, b) => a - b);
}

/** Runs the CLI; once a checkpoint newer than `after` appears (and a little later), kills it with SIGKILL. */
function runAndKill(argv: string[], root: string, after: number, delayMs: number): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    let killed = false;
    const timer = setInterval(() => {
      const newest = existsSync(root) ? Math.max(0, ...readdirSync(root).filter((n) => n.startsWith("step-")).map((n) => Number(n.slice(5)))) : 0;
      if (newest > after && !killed) {
        killed = true;
        clearInterval(timer);
        setTimeout(() => child.kill("SIGKILL"), delayMs);
      }
    }, 2);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearInterval(timer);
      if (signal === "SIGKILL") resolve({ killed: true, code });
      else if (code === 0) resolve({ killed: false, code });
      else reject(new Error(`flythinker train exited with ${code}: ${stderr}`));
    });
  });
}

test("train: kill -9 during training, then --resume, ends with the uninterrupted run's losses", async () => {
  const models = writePair(join(tmp, "models"));
  writePairsFile(join(tmp, "train.jsonl"), 90, 1);
  writePairsFile(join(tmp, "val.jsonl"), 12, 2);

  // The uninterrupted run, in this process, through the same code path the command uses.
  const refOut = join(tmp, "ref");
  const flags = { method: "flythinker", maxSteps: String(STEPS), lr: "0.01", batchTokens: "96", gradAccum: "2", seed: "4" };
  const ref = await runTraining({
    generator: models.generator,
    reasoner: models.reasoner,
    data: join(tmp, "train.jsonl"),
    valData: join(tmp, "val.jsonl"),
    out: refOut,
    config: configFromFlags({ ...defaults(), ...flags }),
    fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
    cadence: { checkpointEvery: 10, evalEvery: 40 },
    threads: 1,
    reporter: silentReporter,
  });
  assert.equal(ref.result.steps, STEPS);

  const out = join(tmp, "killed");
  const root = join(out, "checkpoints");
  let newest = 0;
  let kills = 0;
  const delays = [0, 3, 1, 6];
  for (let attempt = 0; attempt < delays.length; attempt++) {
    const argv = attempt === 0 ? args(models, out) : [...args(models, out), "--resume"];
    const r = await runAndKill(argv, root, newest, delays[attempt]!);
    if (!r.killed) break;
    kills++;
    const steps = checkFolder(root);
    assert.ok(steps.length > 0, "a checkpoint survives every kill");
    assert.ok(steps[steps.length - 1]! >= newest, "checkpoints never go backwards");
    newest = steps[steps.length - 1]!;
    if (newest >= STEPS - 10) break;
  }
  assert.ok(kills >= 2, `the run was killed ${kills} times; expected at least 2`);
  // Finish.
  const fin = await runAndKill([...args(models, out), "--resume"], join(tmp, "never"), Infinity, 0);
  assert.equal(fin.killed, false);

  const a = parseMetrics(readFileSync(join(refOut, "metrics.jsonl"), "utf8"));
  const b = parseMetrics(readFileSync(join(out, "metrics.jsonl"), "utf8"));
  assert.equal(b.length, STEPS);
  assert.deepEqual(b.map((r) => r.step), a.map((r) => r.step));
  for (let i = 0; i < STEPS; i++) {
    assert.ok(Math.abs(a[i]!.loss - b[i]!.loss) <= 1e-5, `step ${i + 1}: ${a[i]!.loss} vs ${b[i]!.loss}`);
    if (a[i]!.val_loss !== undefined) assert.ok(Math.abs(a[i]!.val_loss! - b[i]!.val_loss!) <= 1e-5);
  }
  assert.ok(Math.abs(a[STEPS - 1]!.loss - b[STEPS - 1]!.loss) <= 1e-5);
  const ma = readTrainedModel(refOut);
  const mb = readTrainedModel(out);
  assert.ok(Math.abs((ma.manifest.training.final_val_loss as number) - (mb.manifest.training.final_val_loss as number)) <= 1e-5);
  let worst = 0;
  for (const [n, w] of ma.generator) {
    const v = mb.generator.get(n)!;
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i]! - v[i]!));
  }
  assert.ok(worst <= 1e-5, `final Generator weights differ by ${worst}`);
  assert.equal(existsSync(root), false, "checkpoints are removed after a finished run");
});

function defaults() {
  return {
    method: "flythinker",
    generator: "",
    data: "",
    out: "",
    lambda: "0.5",
    fuse: "prefix",
    enhance: "global",
    lr: "0.01",
    batchTokens: "96",
    gradAccum: "1",
    checkpointEvery: "10",
    evalEvery: "40",
    warmupRatio: "0.01",
    schedule: "cosine",
    seed: "0",
    weightDecay: "0.025",
  };
}
