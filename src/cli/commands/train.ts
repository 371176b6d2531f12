// `flythinker train`: train a Generator alone (SFT) or a Generator + Reasoner pair (FlyThinker) on a dataset.
import type { Command } from "commander";
import { addPromptFlags, promptOptionsFromFlags, type PromptFlags } from "../prompt-flags.ts";
import { DEFAULT_FUSION, type EnhanceMode, type FuseMode } from "../../flythinker/fusion.ts";
import { runTraining } from "../../train/run.ts";
import { SCHEDULE_KINDS, type ScheduleKind } from "../../train/schedule.ts";
import { DEFAULT_TRAIN_CONFIG, type Method, type TrainConfig } from "../../train/trainer.ts";
import { METHOD_NAMES, type MethodOptions } from "../../train/methods.ts";
import { COUNTERFACTUALS, type Counterfactual, DEFAULT_NEXTQUILL, checkNextQuillOptions } from "../../train/nextquill.ts";
import { DEFAULT_TRSR, checkTrsrOptions } from "../../baselines/summaries.ts";
import { DEFAULT_COT, checkCotOptions } from "../../baselines/rationales.ts";
import { DEFAULT_COCONUT, checkCoconutOptions } from "../../train/coconut.ts";
import { SUMMARY_MODES, type SummaryMode } from "../../baselines/summary.ts";
import { UserError } from "../../util/errors.ts";
import { rougeReward } from "../../eval/reward.ts";
import { intFlag, numberFlag, oneOf, positiveEpochs } from "../flags.ts";

interface TrainFlags extends PromptFlags {
  method: string;
  generator?: string;
  reasoner?: string;
  data: string;
  valData?: string;
  out: string;
  lambda: string;
  fuse: string;
  enhance: string;
  epochs?: string;
  maxSteps?: string;
  lr: string;
  batchTokens?: string;
  gradAccum: string;
  checkpointEvery: string;
  evalEvery: string;
  warmupRatio: string;
  schedule: string;
  seed: string;
  weightDecay: string;
  freezeReasoner?: boolean;
  threads?: string;
  headChunk?: string;
  checkpointActivations?: boolean;
  resume?: boolean;
  keepCheckpoints?: boolean | string;
  force?: boolean;
  nqAlpha?: string;
  nqThreshold?: string;
  nqWeights?: string;
  nqCounterfactual?: string;
  trsrMode?: string;
  trsrRecent?: string;
  summaries?: string;
  rationales?: string;
  selfTrainIters?: string;
  selfTrainK?: string;
  init?: string;
  c?: string;
  maxLatentStage?: string;
  epochsPerStage?: string;
  finalStage?: boolean;
  override?: string[];
}

/** What `--override KEY=VALUE` may change on resume, and the config key each sets. */
const OVERRIDABLE: Record<string, "lr" | "schedule" | "warmupRatio"> = { lr: "lr", schedule: "schedule", "warmup-ratio": "warmupRatio" };

/** The config with the --override values applied, and the config keys they change. */
export function applyOverrides(config: TrainConfig, specs: readonly string[], resume: boolean): { config: TrainConfig; keys: string[] } {
  if (specs.length > 0 && !resume) throw new UserError("--override changes a resumed run's settings: it needs --resume");
  const out = { ...config };
  const keys: string[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    const name = eq > 0 ? spec.slice(0, eq) : spec;
    const key = OVERRIDABLE[name];
    if (eq <= 0 || key === undefined) {
      throw new UserError(`--override expects KEY=VALUE with KEY one of ${Object.keys(OVERRIDABLE).join(", ")}, got "${spec}"`);
    }
    const value = spec.slice(eq + 1);
    if (key === "schedule") out.schedule = oneOf<ScheduleKind>(value, "--override schedule", SCHEDULE_KINDS);
    else out[key] = numberFlag(value, `--override ${name}`, { min: 0 });
    keys.push(key);
  }
  return { config: out, keys };
}

function int(value: string, flag: string, min: number): number {
  return intFlag(value, flag, { min });
}

function num(value: string, flag: string, min: number): number {
  return numberFlag(value, flag, { min });
}

function realNumber(value: string, flag: string, range: string): number {
  const v = Number(value);
  if (value.trim() === "" || !Number.isFinite(v)) throw new UserError(`${flag} must be a number ${range}, got "${value}"`);
  return v;
}

/** The options of the chosen method from its flags; a method's flags given to another method are refused. */
export function methodOptionsFromFlags(method: Method, f: TrainFlags): MethodOptions {
  const flagName = (k: string) => `--${k.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase())}`;
  const given = (keys: readonly (keyof TrainFlags)[]) => keys.filter((k) => f[k] !== undefined);
  const nqFlags = given(["nqAlpha", "nqThreshold", "nqWeights", "nqCounterfactual"]);
  const trsrFlags = given(["trsrMode", "trsrRecent", "summaries"]);
  if (method !== "nextquill" && nqFlags.length) throw new UserError(`${flagName(nqFlags[0]!)} applies to --method nextquill only`);
  if (method !== "llm-trsr" && trsrFlags.length) throw new UserError(`${flagName(trsrFlags[0]!)} applies to --method llm-trsr only`);
  const cotFlags = given(["rationales", "selfTrainIters", "selfTrainK"]);
  if (method !== "cot" && cotFlags.length) throw new UserError(`${flagName(cotFlags[0]!)} applies to --method cot only`);
  const coconutFlags = given(["init", "c", "maxLatentStage", "epochsPerStage"]);
  if (method !== "coconut" && (coconutFlags.length || f.finalStage === false)) throw new UserError(`${coconutFlags.length ? flagName(coconutFlags[0]!) : "--no-final-stage"} applies to --method coconut only`);
  if (method === "coconut") {
    if (f.init === undefined) throw new UserError("--method coconut needs --init COT_RUN (a folder written by `flythinker train --method cot`)");
    return {
      coconut: checkCoconutOptions({
        init: f.init,
        c: f.c !== undefined ? int(f.c, "--c", 1) : DEFAULT_COCONUT.c,
        maxLatentStage: f.maxLatentStage !== undefined ? int(f.maxLatentStage, "--max-latent-stage", 1) : DEFAULT_COCONUT.maxLatentStage,
        epochsPerStage: f.epochsPerStage !== undefined ? int(f.epochsPerStage, "--epochs-per-stage", 1) : DEFAULT_COCONUT.epochsPerStage,
        finalStage: f.finalStage !== false,
      }),
    };
  }
  if (method === "cot") {
    return {
      cot: checkCotOptions({
        rationales: f.rationales ?? null,
        selfTrainIters: f.selfTrainIters !== undefined ? int(f.selfTrainIters, "--self-train-iters", 0) : DEFAULT_COT.selfTrainIters,
        selfTrainK: f.selfTrainK !== undefined ? int(f.selfTrainK, "--self-train-k", 1) : DEFAULT_COT.selfTrainK,
      }),
    };
  }
  if (method === "llm-trsr") {
    return {
      trsr: checkTrsrOptions({
        mode: oneOf<SummaryMode>(f.trsrMode ?? DEFAULT_TRSR.mode, "--trsr-mode", SUMMARY_MODES),
        recent: f.trsrRecent !== undefined ? int(f.trsrRecent, "--trsr-recent", 0) : DEFAULT_TRSR.recent,
        summaries: f.summaries ?? null,
      }),
    };
  }
  if (method !== "nextquill") return {};
  const weights = (f.nqWeights ?? DEFAULT_NEXTQUILL.weights.join(",")).split(",");
  if (weights.length !== 2) throw new UserError(`--nq-weights must be two positive numbers HI,LO, got "${f.nqWeights}"`);
  const nextquill = checkNextQuillOptions({
    alpha: f.nqAlpha !== undefined ? realNumber(f.nqAlpha, "--nq-alpha", ">= 0") : DEFAULT_NEXTQUILL.alpha,
    threshold: f.nqThreshold !== undefined ? realNumber(f.nqThreshold, "--nq-threshold", "in (-1, 1)") : DEFAULT_NEXTQUILL.threshold,
    weights: [realNumber(weights[0]!, "--nq-weights", "(HI,LO, both > 0)"), realNumber(weights[1]!, "--nq-weights", "(HI,LO, both > 0)")],
    ...(f.nqCounterfactual !== undefined ? { counterfactual: oneOf<Counterfactual>(f.nqCounterfactual, "--nq-counterfactual", COUNTERFACTUALS) } : {}),
  });
  return { nextquill };
}

export function configFromFlags(f: TrainFlags): TrainConfig {
  if (f.epochs !== undefined && f.maxSteps !== undefined) throw new UserError("give --epochs or --max-steps, not both");
  const method = oneOf<Method>(f.method, "--method", METHOD_NAMES);
  return {
    ...DEFAULT_TRAIN_CONFIG,
    ...methodOptionsFromFlags(method, f),
    method,
    epochs: f.epochs !== undefined ? positiveEpochs(f.epochs) : DEFAULT_TRAIN_CONFIG.epochs,
    maxSteps: f.maxSteps !== undefined ? int(f.maxSteps, "--max-steps", 1) : undefined,
    lr: num(f.lr, "--lr", 0),
    batchTokens: f.batchTokens !== undefined ? int(f.batchTokens, "--batch-tokens", 1) : DEFAULT_TRAIN_CONFIG.batchTokens,
    gradAccum: int(f.gradAccum, "--grad-accum", 1),
    warmupRatio: num(f.warmupRatio, "--warmup-ratio", 0),
    schedule: oneOf<ScheduleKind>(f.schedule, "--schedule", SCHEDULE_KINDS),
    seed: int(f.seed, "--seed", 0),
    weightDecay: num(f.weightDecay, "--weight-decay", 0),
    freezeReasoner: f.freezeReasoner === true,
  };
}

export function register(program: Command): void {
  const cmd = program
    .command("train")
    .description("train a Generator + Reasoner pair (flythinker) or a Generator alone (sft, nextquill, llm-trsr, cot, coconut); writes OUT/generator, OUT/reasoner, OUT/flythinker.json, OUT/metrics.jsonl, OUT/loss.svg")
    .requiredOption("--method <method>", METHOD_NAMES.join(" | "))
    .option("--generator <dir>", "Generator model folder (HF layout with tokenizer.json); coconut takes its Generator from --init")
    .option("--reasoner <dir>", "Reasoner model folder (flythinker; must share the Generator's tokenizer)")
    .requiredOption("--data <dir-or-file>", "dataset folder (train.jsonl, val.jsonl), or a JSONL file of records or of {prompt, target} pairs")
    .option("--val-data <file>", "validation examples when --data is a single file")
    .requiredOption("--out <dir>", "output folder")
    .option("--lambda <x>", "weight of the thoughts", String(DEFAULT_FUSION.lambda))
    .option("--fuse <mode>", "prefix | projection", DEFAULT_FUSION.fuse)
    .option("--enhance <mode>", "global | input | output: positions that receive thoughts", DEFAULT_FUSION.enhance)
    .option("--epochs <n>", `passes over the training data; a fraction trains that share of an epoch (default ${DEFAULT_TRAIN_CONFIG.epochs})`)
    .option("--max-steps <n>", "train for this many optimiser steps instead of whole epochs")
    .option("--lr <x>", "peak learning rate", String(DEFAULT_TRAIN_CONFIG.lr))
    .option(
      "--batch-tokens <n>",
      `padded tokens per micro-batch (rows x longest row); default: the largest of ${DEFAULT_TRAIN_CONFIG.batchTokens}, 3072, 2048, ... ` +
        "(at least the longest example) whose estimated step memory fits in the free memory",
    )
    .option("--grad-accum <n>", "micro-batches per optimiser step", String(DEFAULT_TRAIN_CONFIG.gradAccum))
    .option("--checkpoint-every <n>", "write a checkpoint every N steps (0: only at the end)", "100")
    .option("--eval-every <n>", "validation loss every N steps (0: only at the end)", "100")
    .option("--warmup-ratio <r>", "share of the steps with a linear learning-rate warm-up", String(DEFAULT_TRAIN_CONFIG.warmupRatio))
    .option("--schedule <kind>", "learning-rate decay after warm-up: cosine | linear | constant", DEFAULT_TRAIN_CONFIG.schedule)
    .option("--seed <n>", "seed of the data shuffling", String(DEFAULT_TRAIN_CONFIG.seed))
    .option("--weight-decay <x>", "AdamW decoupled weight decay", String(DEFAULT_TRAIN_CONFIG.weightDecay))
    .option("--freeze-reasoner", "train the Generator (and projection) only")
    .option("--threads <n>", "ONNX Runtime threads (default: all cores)")
    .option("--head-chunk <n|auto>", "vocabulary rows per chunk of the fused LM head + loss (auto: one chunk's logits within 256 MiB)", "auto")
    .option("--checkpoint-activations", "recompute decoder-layer activations in the backward pass (less memory, ~1/3 more compute)")
    .option("--resume", "continue the run in OUT from its newest checkpoint")
    .option("--keep-checkpoints [n]", "keep the newest n checkpoints on disk during the run (default 2) and keep OUT/checkpoints after it finishes")
    .option("--force", "break an output lock left by a run on another host that is gone")
    .option("--nq-alpha <x>", `nextquill: weight of the logit-difference loss, >= 0 (default ${DEFAULT_NEXTQUILL.alpha})`)
    .option("--nq-threshold <x>", `nextquill: p_h - p_0 above this up-weights a target token, in (-1, 1) (default ${DEFAULT_NEXTQUILL.threshold})`)
    .option("--nq-weights <hi,lo>", `nextquill: token weights above / not above the threshold (default ${DEFAULT_NEXTQUILL.weights.join(",")})`)
    .option("--nq-counterfactual <kind>", "nextquill: the second row's prompt, non-pers (no history part; default) | none (the history part reads None)")
    .option("--trsr-mode <mode>", `llm-trsr: how block summaries combine, ${SUMMARY_MODES.join(" | ")} (default ${DEFAULT_TRSR.mode})`)
    .option("--trsr-recent <n>", `llm-trsr: most recent history items after the summary, replacing --history-k and --retrieval (default ${DEFAULT_TRSR.recent})`)
    .option("--summaries <file>", "llm-trsr: JSONL of {id, summary} for every training and validation record, instead of the built-in summariser")
    .option("--rationales <file>", "cot: JSONL of {id, rationale} (a string, one step a line, or an array of strings) for every training and validation record, instead of the built-in style summary")
    .option("--self-train-iters <n>", `cot: ReST-EM iterations after the supervised run (default ${DEFAULT_COT.selfTrainIters})`)
    .option("--self-train-k <k>", `cot: outputs sampled per training input in each ReST-EM iteration (default ${DEFAULT_COT.selfTrainK})`)
    .option("--init <dir>", "coconut: the `train --method cot` folder to start from (its Generator, prompt options and rationale provider)")
    .option("--c <n>", `coconut: latent thoughts per replaced reasoning step (default ${DEFAULT_COCONUT.c})`)
    .option("--max-latent-stage <n>", `coconut: stages 1..N replace the first k steps by k * c thoughts (default ${DEFAULT_COCONUT.maxLatentStage})`)
    .option("--epochs-per-stage <n>", `coconut: epochs of each stage, each with a new optimiser (default ${DEFAULT_COCONUT.epochsPerStage})`)
    .option("--no-final-stage", "coconut: no extra stage after the last latent stage (by default it drops every remaining step)")
    .option("--override <key=value>", "with --resume: continue with another lr, schedule or warmup-ratio (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[]);
  addPromptFlags(cmd);
  cmd.action(async (f: TrainFlags) => {
    const { config, keys: resumeChanges } = applyOverrides(configFromFlags(f), f.override ?? [], f.resume === true);
    if (config.method === "llm-trsr") {
      // LLM-TRSR takes its recent items by recency, --trsr-recent of them
      const given = (["historyK", "retrieval"] as const).find((k) => cmd.getOptionValueSource(k) === "cli");
      if (given) throw new UserError(`${given === "historyK" ? "--history-k" : "--retrieval"} does not apply to --method llm-trsr: its prompt takes the --trsr-recent most recent items`);
    }
    if (config.method === "coconut" && f.generator !== undefined) throw new UserError("--method coconut takes its Generator from --init: drop --generator");
    if (config.method === "coconut" && f.epochs !== undefined) throw new UserError("--method coconut trains --epochs-per-stage epochs per stage: drop --epochs");
    if (config.method !== "coconut" && f.generator === undefined) throw new UserError("train needs --generator DIR");
    const lambda = num(f.lambda, "--lambda", 0);
    const fuse = oneOf<FuseMode>(f.fuse, "--fuse", ["prefix", "projection"]);
    const enhance = oneOf<EnhanceMode>(f.enhance, "--enhance", ["global", "input", "output"]);
    const { result, manifest } = await runTraining({
      generator: f.generator ?? f.init!,
      reasoner: f.reasoner,
      data: f.data,
      valData: f.valData,
      out: f.out,
      config,
      autoBatchTokens: f.batchTokens === undefined,
      fusion: { lambda, fuse, enhance },
      cadence: {
        checkpointEvery: int(f.checkpointEvery, "--checkpoint-every", 0),
        evalEvery: int(f.evalEvery, "--eval-every", 0),
        ...(typeof f.keepCheckpoints === "string" ? { keepCheckpoints: int(f.keepCheckpoints, "--keep-checkpoints", 1) } : {}),
      },
      prompt: promptOptionsFromFlags(f),
      threads: f.threads !== undefined ? int(f.threads, "--threads", 1) : undefined,
      memory: {
        headChunk: f.headChunk === undefined || f.headChunk === "auto" ? "auto" : int(f.headChunk, "--head-chunk", 1),
        checkpointActivations: f.checkpointActivations === true,
      },
      resume: f.resume === true,
      resumeChanges,
      keepCheckpoints: f.keepCheckpoints !== undefined,
      forceLock: f.force === true,
      reward: rougeReward,
    });
    const val = result.finalValLoss !== undefined ? `, validation loss ${result.finalValLoss.toFixed(4)}` : "";
    console.log(`${manifest.method}: ${result.steps} steps, final loss ${result.finalLoss.toFixed(4)}${val} -> ${f.out}`);
  });
}
