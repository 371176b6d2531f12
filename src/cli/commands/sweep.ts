// `flythinker sweep`: an ablation grid (lambda, enhance, fuse, reasoner, history-k, seed), one FlyThinker training per
// point plus SFT references, test predictions with the common sampler and seed, one report; resumable.
import type { Command } from "commander";
import { addPromptFlags, promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { DEFAULT_FUSION, type EnhanceMode, type FuseMode } from "../../flythinker/fusion.ts";
import { parseGrid } from "../../sweep/grid.ts";
import { runSweep } from "../../sweep/run.ts";
import { writeSweepReport } from "../../sweep/report.ts";
import { lineReporter } from "../../train/progress.ts";
import { DEFAULT_TRAIN_CONFIG } from "../../train/trainer.ts";
import { UserError } from "../../util/errors.ts";
import { withOutputLock } from "../../util/lock.ts";
import { intFlag, numberFlag, oneOf, positiveEpochs } from "../flags.ts";

interface SweepFlags extends PromptFlags {
  grid: string[];
  generator: string;
  reasoner?: string;
  data: string;
  out: string;
  lambda: string;
  fuse: string;
  enhance: string;
  epochs?: string;
  maxSteps?: string;
  lr: string;
  batchTokens: string;
  seed: string;
  split: string;
  maxNewTokens: string;
  genSeed: string;
  batch: string;
  checkpointEvery: string;
  threads?: string;
  bootstrap: string;
  nll?: boolean;
  force?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("sweep")
    .description("ablation sweep: one FlyThinker training per grid point (+ SFT references), test predictions and one report in OUT; a rerun reuses finished points")
    .requiredOption("--grid <KEY=V1,V2,...>", "a grid axis: lambda, enhance, fuse, reasoner (preset or folder), history-k or seed; repeat for more", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .requiredOption("--generator <dir>", "Generator model folder")
    .option("--reasoner <dir>", "Reasoner folder for points without a reasoner key")
    .requiredOption("--data <dir>", "dataset folder (train, val and the --split to generate for)")
    .requiredOption("--out <dir>", "sweep folder: one subfolder per point, sweep.md, sweep.json, plots, report/")
    .option("--lambda <x>", "lambda of points without a lambda key", String(DEFAULT_FUSION.lambda))
    .option("--fuse <mode>", "prefix | projection (points without a fuse key)", DEFAULT_FUSION.fuse)
    .option("--enhance <mode>", "global | input | output (points without an enhance key)", DEFAULT_FUSION.enhance)
    .option("--epochs <n>", "passes over the training data")
    .option("--max-steps <n>", "optimiser steps per run instead of whole epochs")
    .option("--lr <x>", "peak learning rate", String(DEFAULT_TRAIN_CONFIG.lr))
    .option("--batch-tokens <n>", "padded tokens per micro-batch (the same for every run, so lambda = 0 trains as SFT)", String(DEFAULT_TRAIN_CONFIG.batchTokens))
    .option("--seed <n>", "training seed of points without a seed key", String(DEFAULT_TRAIN_CONFIG.seed))
    .option("--split <name>", "split to generate for and score", "test")
    .option("--max-new-tokens <n>", "tokens generated per record", "256")
    .option("--gen-seed <n>", "sampling seed (record i uses seed + i), the same for every point", "0")
    .option("--batch <n>", "records decoded together", "8")
    .option("--checkpoint-every <n>", "training checkpoints every N steps, so a killed point resumes (0: none)", "0")
    .option("--threads <n>", "ONNX Runtime threads")
    .option("--bootstrap <n>", "bootstrap resamples of the report", "1000")
    .option("--nll", "add the held-out likelihood of the --split references under every run to the report")
    .option("--force", "break an output lock left by a sweep on another host that is gone");
  addPromptFlags(cmd);
  cmd.action(async (f: SweepFlags) => {
    if (f.epochs !== undefined && f.maxSteps !== undefined) throw new UserError("give --epochs or --max-steps, not both");
    const grid = parseGrid(f.grid);
    const log = (line: string) => void process.stderr.write(line + "\n");
    // One sweep per folder: a second one into the same --out fails at once, naming the first (util/lock.ts).
    await withOutputLock(f.out, { command: "sweep", force: f.force === true, log }, () => sweepLocked(f, grid, log));
  });
}

async function sweepLocked(f: SweepFlags, grid: ReturnType<typeof parseGrid>, log: (line: string) => void): Promise<void> {
  const runs = await runSweep({
    generator: f.generator,
    reasoner: f.reasoner,
    data: f.data,
    out: f.out,
    config: {
      ...DEFAULT_TRAIN_CONFIG,
      epochs: f.epochs !== undefined ? positiveEpochs(f.epochs) : DEFAULT_TRAIN_CONFIG.epochs,
      maxSteps: f.maxSteps !== undefined ? intFlag(f.maxSteps, "--max-steps", { min: 1 }) : undefined,
      lr: numberFlag(f.lr, "--lr", { min: 0 }),
      batchTokens: intFlag(f.batchTokens, "--batch-tokens", { min: 1 }),
      seed: intFlag(f.seed, "--seed", { min: 0 }),
    },
    fusion: {
      lambda: numberFlag(f.lambda, "--lambda", { min: 0 }),
      fuse: oneOf<FuseMode>(f.fuse, "--fuse", ["prefix", "projection"]),
      enhance: oneOf<EnhanceMode>(f.enhance, "--enhance", ["global", "input", "output"]),
    },
    prompt: promptOptionsFromFlags(f),
    grid,
    generation: {
      maxNewTokens: intFlag(f.maxNewTokens, "--max-new-tokens", { min: 1 }),
      seed: intFlag(f.genSeed, "--gen-seed", { min: 0 }),
      split: f.split,
      batch: intFlag(f.batch, "--batch", { min: 1 }),
    },
    checkpointEvery: intFlag(f.checkpointEvery, "--checkpoint-every", { min: 0 }),
    threads: f.threads !== undefined ? intFlag(f.threads, "--threads", { min: 1 }) : undefined,
    reporter: lineReporter(log),
    log,
  });
  const summary = await writeSweepReport(f.out, grid, runs, { resamples: intFlag(f.bootstrap, "--bootstrap", { min: 1 }) }, f.nll ? { data: f.data, split: f.split } : undefined);
  for (const p of summary.points) console.log(`${p.name}: ${Object.entries(p.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join("  ")}`);
  for (const c of summary.lambdaZero) console.log(`${c.point} vs ${c.reference}: ${c.identical}/${c.total} texts identical, scores ${c.scoresEqual ? "equal" : "differ"}`);
  console.log(`wrote ${f.out}/sweep.md, sweep.json, plots and report/ (${runs.filter((r) => r.reused).length} of ${runs.length} runs reused)`);
}
