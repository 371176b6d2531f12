// `flythinker demo`: the main job end to end on the embedded mail task (see src/demo/pipeline.ts).
import { FULL_ABLATIONS } from "../../demo/ablations.ts";
import type { Command } from "commander";
import type { EnhanceMode, FuseMode } from "../../flythinker/fusion.ts";
import {
  DEFAULT_OUT,
  type DemoOptions,
  type EvalSplit,
  basesPretrainOptions,
  defaultOptions,
  quickOptions,
  shapeForWidth,
  shapeOfPreset,
} from "../../demo/options.ts";
import { runDemo, runPretrain } from "../../demo/pipeline.ts";
import { UserError } from "../../util/errors.ts";
import { withOutputLock } from "../../util/lock.ts";
import { intFlag, numberFlag, oneOf } from "../flags.ts";

export interface DemoFlags {
  quick?: boolean;
  pretrain?: boolean;
  fresh?: boolean;
  seed?: string;
  out?: string;
  split?: string;
  testRecords?: string;
  maxNewTokens?: string;
  temperature?: string;
  topP?: string;
  vocabSize?: string;
  generatorPreset?: string;
  generatorWidth?: string;
  generatorLayers?: string;
  reasonerPreset?: string;
  reasonerWidth?: string;
  reasonerLayers?: string;
  pretrainEpochs?: string;
  pretrainSteps?: string;
  pretrainLr?: string;
  reasonerPretrainSteps?: string;
  trainEpochs?: string;
  trainSteps?: string;
  lr?: string;
  lambda?: string;
  fuse?: string;
  enhance?: string;
  historyK?: string;
  budgetProfile?: string;
  budgetInput?: string;
  budgetTarget?: string;
  threads?: string;
  lanes?: string;
  full?: boolean;
  /** commander's --no-efficiency: false. */
  efficiency?: boolean;
  force?: boolean;
  basesDir?: string;
}

function int(v: string, flag: string, min: number): number {
  return intFlag(v, flag, { min });
}

function num(v: string, flag: string, min: number, max?: number): number {
  return numberFlag(v, flag, { min, max });
}

/** The demo's options: the default (or --quick) settings with the flags applied. */
export function demoOptionsFromFlags(f: DemoFlags): DemoOptions {
  if (f.quick && f.pretrain) throw new UserError("give --quick or --pretrain, not both");
  const o = f.quick ? quickOptions() : f.pretrain ? basesPretrainOptions(defaultOptions()) : defaultOptions();
  if (f.basesDir !== undefined) o.basesDir = f.basesDir;
  o.fresh = f.fresh === true;
  if (f.out !== undefined) o.out = f.out;
  if (f.seed !== undefined) o.seed = int(f.seed, "--seed", 0);
  if (f.split !== undefined) o.split = oneOf<EvalSplit>(f.split, "--split", ["test", "val"]);
  if (f.testRecords !== undefined) o.records = int(f.testRecords, "--test-records", 0);
  if (f.maxNewTokens !== undefined) o.maxNewTokens = int(f.maxNewTokens, "--max-new-tokens", 1);
  if (f.temperature !== undefined) o.temperature = num(f.temperature, "--temperature", 0);
  if (f.topP !== undefined) o.topP = num(f.topP, "--top-p", 0, 1);
  if (f.vocabSize !== undefined) o.vocabSize = int(f.vocabSize, "--vocab-size", 300);
  const shape = (which: "generator" | "reasoner", preset?: string, width?: string, layers?: string) => {
    if (preset === undefined && width === undefined && layers === undefined) return o[which];
    const start = preset !== undefined ? shapeOfPreset(preset) : o[which];
    if (width === undefined && layers === undefined) return start;
    return shapeForWidth(
      width !== undefined ? int(width, `--${which}-width`, 16) : start.hiddenSize,
      layers !== undefined ? int(layers, `--${which}-layers`, 1) : start.numLayers,
    );
  };
  o.generator = shape("generator", f.generatorPreset, f.generatorWidth, f.generatorLayers);
  o.reasoner = shape("reasoner", f.reasonerPreset, f.reasonerWidth, f.reasonerLayers);
  if (f.pretrainEpochs !== undefined && f.pretrainSteps !== undefined) throw new UserError("give --pretrain-epochs or --pretrain-steps, not both");
  if (f.pretrainEpochs !== undefined) {
    o.pretrain = { ...o.pretrain, epochs: int(f.pretrainEpochs, "--pretrain-epochs", 1), steps: undefined };
    o.reasonerPretrain = { ...o.reasonerPretrain, epochs: o.pretrain.epochs, steps: undefined };
  }
  if (f.pretrainSteps !== undefined) {
    o.pretrain = { ...o.pretrain, steps: int(f.pretrainSteps, "--pretrain-steps", 1) };
    o.reasonerPretrain = { ...o.reasonerPretrain, steps: o.pretrain.steps };
  }
  if (f.reasonerPretrainSteps !== undefined) {
    o.reasonerPretrain = { ...o.reasonerPretrain, steps: int(f.reasonerPretrainSteps, "--reasoner-pretrain-steps", 1) };
  }
  if (f.pretrainLr !== undefined) {
    const lr = num(f.pretrainLr, "--pretrain-lr", 0);
    o.pretrain = { ...o.pretrain, lr };
    o.reasonerPretrain = { ...o.reasonerPretrain, lr };
  }
  if (f.trainEpochs !== undefined && f.trainSteps !== undefined) throw new UserError("give --train-epochs or --train-steps, not both");
  if (f.trainEpochs !== undefined) o.finetune = { ...o.finetune, epochs: int(f.trainEpochs, "--train-epochs", 1), steps: undefined };
  if (f.trainSteps !== undefined) o.finetune = { ...o.finetune, steps: int(f.trainSteps, "--train-steps", 1) };
  if (f.lr !== undefined) o.finetune = { ...o.finetune, lr: num(f.lr, "--lr", 0) };
  if (f.lambda !== undefined) o.fusion = { ...o.fusion, lambda: num(f.lambda, "--lambda", 0) };
  if (f.fuse !== undefined) o.fusion = { ...o.fusion, fuse: oneOf<FuseMode>(f.fuse, "--fuse", ["prefix", "projection"]) };
  if (f.enhance !== undefined) o.fusion = { ...o.fusion, enhance: oneOf<EnhanceMode>(f.enhance, "--enhance", ["global", "input", "output"]) };
  if (f.historyK !== undefined) o.prompt = { ...o.prompt, historyK: int(f.historyK, "--history-k", 0) };
  const budgets = { ...o.prompt.budgets };
  if (f.budgetProfile !== undefined) budgets.profile = int(f.budgetProfile, "--budget-profile", 0);
  if (f.budgetInput !== undefined) budgets.input = int(f.budgetInput, "--budget-input", 1);
  if (f.budgetTarget !== undefined) budgets.target = int(f.budgetTarget, "--budget-target", 1);
  o.prompt = { ...o.prompt, budgets };
  if (f.threads !== undefined) o.threads = int(f.threads, "--threads", 1);
  if (f.lanes !== undefined) o.lanes = int(f.lanes, "--lanes", 1);
  if (f.efficiency === false) o.efficiency = null;
  if (f.full) {
    if (f.pretrain) throw new UserError("give --full or --pretrain, not both");
    o.full = FULL_ABLATIONS;
  }
  if (o.fusion.fuse === "prefix" && o.reasoner.hiddenSize > o.generator.hiddenSize) {
    throw new UserError(
      `--reasoner-width ${o.reasoner.hiddenSize} is wider than the Generator (${o.generator.hiddenSize}); prefix fusion needs a Reasoner no wider (or use --fuse projection)`,
    );
  }
  return o;
}

export function register(program: Command): void {
  const d = defaultOptions();
  const q = quickOptions();
  program
    .command("demo")
    .description(
      "the main job end to end on the embedded mail task: tokenizer and base models trained on the train users, SFT and " +
        "FlyThinker from the same base, generation for the test users with every method (Non-pers, RAG, SFT, " +
        "FlyThinker), evaluation; writes OUT/report.md, OUT/metrics.json and plots. Finished stages are reused.",
    )
    .option("--quick", `a small, fast run (tiny models; ${q.records} records; the CI smoke test)`)
    .option(
      "--pretrain",
      "rebuild the shipped base models: pretrain the Generator and Reasoner on English books and speeches plus the train users' mail (about 50 minutes), write them to the bases folder and stop",
    )
    .option("--bases-dir <dir>", "folder of the shipped base models (read by the default run, written by --pretrain; default: the repository's bases/)")
    .option("--fresh", "rebuild every stage, even those finished by an earlier run")
    .option("--out <dir>", "output folder", DEFAULT_OUT)
    .option("--seed <n>", "seed of initialisation, data order and sampling", String(d.seed))
    .option("--split <split>", "users to generate for and score: test | val (val is for tuning)", d.split)
    .option("--test-records <n>", `records to generate for, spread over the users (0: all; default ${d.records || "all"}, quick ${q.records})`)
    .option("--max-new-tokens <n>", `longest generated text (default ${d.maxNewTokens}, quick ${q.maxNewTokens})`)
    .option("--temperature <x>", `sampling temperature (default ${d.temperature})`)
    .option("--top-p <x>", `nucleus sampling (default ${d.topP})`)
    .option("--vocab-size <n>", `BPE vocabulary size (default ${d.vocabSize}, quick ${q.vocabSize})`)
    .option("--generator-preset <name>", "Generator shape from a model preset: reference | tiny")
    .option("--generator-width <n>", `Generator hidden size (default ${d.generator.hiddenSize})`)
    .option("--generator-layers <n>", `Generator layers (default ${d.generator.numLayers})`)
    .option("--reasoner-preset <name>", "Reasoner shape from a model preset: reference | tiny")
    .option("--reasoner-width <n>", `Reasoner hidden size (default ${d.reasoner.hiddenSize})`)
    .option("--reasoner-layers <n>", `Reasoner layers (default ${d.reasoner.numLayers})`)
    .option("--pretrain-epochs <n>", `passes of base-model pretraining (default ${d.pretrain.epochs})`)
    .option("--pretrain-steps <n>", "base-model pretraining steps instead of epochs")
    .option("--reasoner-pretrain-steps <n>", "Reasoner pretraining steps (default: as the Generator)")
    .option("--pretrain-lr <x>", `pretraining peak learning rate (default ${d.pretrain.lr})`)
    .option("--train-epochs <n>", `SFT / FlyThinker epochs (default ${d.finetune.epochs})`)
    .option("--train-steps <n>", "SFT / FlyThinker steps instead of epochs")
    .option("--lr <x>", `SFT / FlyThinker peak learning rate (default ${d.finetune.lr})`)
    .option("--lambda <x>", `FlyThinker thought weight (default ${d.fusion.lambda})`)
    .option("--fuse <mode>", `prefix | projection (default ${d.fusion.fuse})`)
    .option("--enhance <mode>", `global | input | output (default ${d.fusion.enhance})`)
    .option("--history-k <n>", `history items per prompt (default ${d.prompt.historyK})`)
    .option("--budget-profile <tokens>", `history token budget (default ${d.prompt.budgets.profile})`)
    .option("--budget-input <tokens>", `query token budget (default ${d.prompt.budgets.input})`)
    .option("--budget-target <tokens>", `target token budget (default ${d.prompt.budgets.target})`)
    .option("--threads <n>", `ONNX Runtime threads for training with one lane (default ${d.threads}; more is faster but not reproducible)`)
    .option("--lanes <n>", `training runs and generations side by side, each on one thread (default ${d.lanes}: the cores, at most 2; 1: one at a time)`)
    .option("--full", `also the ablations and seeds, one sweep each: ${FULL_ABLATIONS.map((a) => a.grid.join(" x ")).join("; ")} (far longer than the default run)`)
    .option("--no-efficiency", "skip the efficiency stage (bench methods on the demo's data and bases) and its report section")
    .option("--force", "break an output lock left by a run on another host that is gone")
    .action(async (f: DemoFlags) => {
      const o = demoOptionsFromFlags(f);
      if (f.pretrain) {
        const r = await withOutputLock(o.out, { command: "demo --pretrain", force: f.force === true }, () => runPretrain(o));
        const b = r.bitsPerByte;
        console.log(`Bases written to ${r.basesDir} in ${r.seconds.toFixed(0)} s.`);
        console.log(
          `Bits per byte on the test users' mail (${b.generator.texts} texts, ${b.generator.bytes} bytes): ` +
            `Generator ${b.generator.bitsPerByte.toFixed(3)}, Reasoner ${b.reasoner.bitsPerByte.toFixed(3)}.`,
        );
        return;
      }
      const result = await withOutputLock(o.out, { command: "demo", force: f.force === true }, () => runDemo(o));
      console.log("");
      console.log(result.table);
      console.log("");
      console.log(result.samples);
      console.log("");
      const stages = result.stages.map((s) => `${s.name} ${s.cached ? "reused" : `${s.seconds.toFixed(0)} s`}`).join(", ");
      console.log(`Stages: ${stages}. This run: ${result.seconds.toFixed(0)} s.`);
      console.log(`Report: ${o.out}/report.md (plots and metrics.json beside it).`);
    });
}
