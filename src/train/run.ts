// A whole training run as the CLI starts it: read the models and their tokenizers, turn the data into examples,
// train (or resume), and write the output folder.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { type FusionOptions, initialProjection } from "../flythinker/fusion.ts";
import { type PairConfig, checkPair } from "../flythinker/graph.ts";
import { flattenPair } from "../flythinker/pair-params.ts";
import { MANIFEST_FILE, type Manifest, writeTrainedModel } from "../flythinker/trained-folder.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { withOutputLock } from "../util/lock.ts";
import { fitExamples } from "./batching.ts";
import { METHODS, METHOD_NAMES, rowsPerExample, type MethodSpec } from "./methods.ts";
import { listCheckpoints, removeDir } from "./checkpoint.ts";
import { loadTrainingData } from "./examples.ts";
import { trsrSetup } from "./trsr.ts";
import { cotSetup, cotTargetOf } from "./cot.ts";
import { type CoconutOptions, type CotPieces, capturingTargetOf, checkCoconutOptions, coconutStages, joinStageMetrics, latentsAt, markedGenerator, readCotRun, stageExamples } from "./coconut.ts";
import { MetricsLog, parseMetrics, type MetricRow } from "./metrics.ts";
import { encodeSafetensors, readSafetensors } from "../model/safetensors.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { endOfTargetId } from "../data/prompt-ids.ts";
import type { Example } from "./batching.ts";
import { type Reward, type SelfTrainIteration, selfTrain } from "./self-train.ts";
import { NONE_HISTORY } from "./nextquill.ts";
import { writeIdf } from "../baselines/summaries.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import { type BudgetChoice, checkBatchTokens, chooseBatchTokens, chunkedHead, describeEstimate, unfusedHead } from "./memory-budget.ts";
import { availableMemoryBytes } from "../util/memory.ts";
import { type Reporter, defaultReporter } from "./progress.ts";
import { type Cadence, type MemoryOptions, type TrainConfig, type TrainResult, Trainer, lossGraphMemoryOptions } from "./trainer.ts";

export interface RunOptions {
  generator: string;
  reasoner?: string;
  data: string;
  /** Validation examples when --data is a single file. */
  valData?: string;
  out: string;
  config: TrainConfig;
  /**
   * Choose config.batchTokens from free memory (the largest budget up to config.batchTokens whose step fits; a resumed
   * run keeps its checkpoint's). Otherwise config.batchTokens is checked to fit before training.
   */
  autoBatchTokens?: boolean;
  fusion: FusionOptions;
  cadence: Cadence;
  prompt?: PromptBuildOptions;
  threads?: number;
  /** Fused-head chunking and activation checkpointing. */
  memory?: MemoryOptions;
  resume?: boolean;
  /** Config keys whose new values a resume accepts (asked for explicitly: --override). */
  resumeChanges?: readonly string[];
  /** Keep OUT/checkpoints after a successful run (default: removed). */
  keepCheckpoints?: boolean;
  reporter?: Reporter;
  /** Break an output lock held on another host (see util/lock.ts). */
  forceLock?: boolean;
  /** Coconut: called as each stage's Trainer is made, before it trains (tests look at its fresh optimiser). */
  onStage?: (stage: number, trainer: Trainer) => void;
  /** CoT self-training's reward of a parsed answer against the reference (needed with config.cot.selfTrainIters > 0). */
  reward?: Reward;
}

export interface RunOutcome {
  result: TrainResult;
  manifest: Manifest;
}

function isEmptyDir(dir: string): boolean {
  return readdirSync(dir).length === 0;
}

/** The shared tokenizer of the pair; refuses two folders whose tokenizers differ. */
export function pairTokenizer(generatorDir: string, reasonerDir: string | undefined, log: (s: string) => void): TextTokenizer {
  const tok = TextTokenizer.fromDir(generatorDir);
  if (reasonerDir !== undefined) {
    if (existsSync(join(reasonerDir, "tokenizer.json"))) {
      tok.assertSame(TextTokenizer.fromDir(reasonerDir), "the Generator and the Reasoner");
    } else {
      log(`warning: ${reasonerDir} has no tokenizer.json; assuming it shares the Generator's tokenizer`);
    }
  }
  return tok;
}

/**
 * Trains into `o.out` holding its output lock (util/lock.ts): a second run into the same folder fails at once, before
 * anything is read or written.
 */
export async function runTraining(o: RunOptions): Promise<RunOutcome> {
  const reporter = o.reporter ?? defaultReporter();
  const log = (s: string) => reporter.log(s);
  const method = METHODS[o.config.method];
  if (!method) throw new UserError(`unknown method "${String(o.config.method)}"; expected ${METHOD_NAMES.join(", ")}`);
  const fly = method.reasoner;
  if (fly && o.reasoner === undefined) throw new UserError(`--method ${o.config.method} needs --reasoner DIR`);
  if (!fly && o.reasoner !== undefined) throw new UserError(`--method ${o.config.method} trains the Generator alone: drop --reasoner`);
  return withOutputLock(o.out, { command: "train", force: o.forceLock, log }, () => trainLocked(o, reporter, log, method));
}

async function trainLocked(o: RunOptions, reporter: Reporter, log: (s: string) => void, method: MethodSpec): Promise<RunOutcome> {
  const fly = method.reasoner;
  if (existsSync(o.out) && !o.resume && !isEmptyDir(o.out)) {
    throw new UserError(`output folder ${o.out} is not empty; pass --resume to continue the run in it, or choose another folder`);
  }

  if (o.resume && existsSync(join(o.out, MANIFEST_FILE)) && listCheckpoints(join(o.out, "checkpoints")).length === 0) {
    throw new UserError(`${o.out} holds a finished run (${MANIFEST_FILE}) and no checkpoints: nothing to resume`);
  }

  // Coconut starts from a CoT run's Generator with the marker tokens added (OUT/stages/base, rebuilt each run).
  const coco = method.latentStages ? coconutStart(o) : undefined;
  if (coco) o = { ...o, generator: coco.generatorDir };
  const g = loadCheckpoint(o.generator);
  const r = fly ? loadCheckpoint(o.reasoner!) : undefined;
  const pair: PairConfig = { generator: g.config, reasoner: r?.config, fusion: o.fusion };
  try {
    checkPair(pair);
  } catch (e) {
    throw new UserError(`${o.generator} and ${o.reasoner}: ${(e as Error).message}`);
  }
  const tok = pairTokenizer(o.generator, o.reasoner, log);
  for (const [dir, c] of [[o.generator, g.config], [o.reasoner, r?.config]] as const) {
    if (c && tok.vocabSize > c.vocabSize) {
      throw new UserError(`${dir}: the tokenizer has ${tok.vocabSize} tokens but the model's vocabulary is ${c.vocabSize}`);
    }
  }

  if (method.rationales && (o.config.cot?.selfTrainIters ?? 0) > 0 && o.reward === undefined) throw new UserError("CoT self-training needs a reward (RunOptions.reward)");
  const trsr = method.summaries ? await trsrSetup(o.data, o.valData, o.config.trsr, o.prompt ?? {}, tok) : undefined;
  // Coconut reads its reasoning steps from the same rationale provider, with the same prompt, as its CoT run.
  const cot = method.rationales
    ? await cotSetup(o.data, o.valData, o.config.cot, o.prompt ?? {})
    : coco
      ? await cotSetup(o.data, o.valData, coco.run.cot, coco.run.prompt)
      : undefined;
  const prompt = trsr?.prompt ?? cot?.prompt ?? o.prompt ?? {};
  const pieces = new Map<string, CotPieces>();
  const data = await loadTrainingData(o.data, tok, prompt, g.config, o.valData, {
    counterfactual: method.counterfactual,
    counterHistory: o.config.nextquill?.counterfactual === "none" ? NONE_HISTORY : undefined,
    summaryOf: trsr?.summaryOf,
    targetOf: coco && cot ? capturingTargetOf(cot.rationales.of, pieces) : cot ? cotTargetOf(cot.rationales) : undefined,
  });
  cot?.rationales.flush();
  log(data.description);
  const context = Math.min(g.config.maxPositionEmbeddings, r?.config.maxPositionEmbeddings ?? Infinity);
  const settled = settleBatchTokens(o, pair, data.train.reduce((m, e) => Math.max(m, method.cost(e)), 0), context, log);
  const config = trsr ? { ...settled, trsr: trsr.options } : coco ? { ...settled, cot: cot!.options, coconut: coco.options } : cot ? { ...settled, cot: cot.options } : settled;
  // An example of a two-row method (NextQuill) takes twice its length of the budget.
  const maxLen = Math.min(Math.floor(config.batchTokens / rowsPerExample(o.config.method)), context);
  const projection = r && o.fusion.fuse === "projection" ? initialProjection(g.config.hiddenSize, r.config.hiddenSize) : undefined;
  const weights = flattenPair({ generator: g.params, reasoner: r?.params, projection });
  if (coco) {
    const staged = await trainStages(o, { coco, config, pair, weights, train: data.train, val: data.val, pieces, tok, maxLen, reporter, log });
    const lastStage = coconutStages(coco.options).at(-1)!;
    return finish(o, { pair, config: { ...config, coconut: { ...coco.options, stage: lastStage } }, tok, prompt, result: staged.result, weights: staged.weights, totalSteps: staged.totalSteps, warmupSteps: staged.warmupSteps, trainCount: staged.trainCount, valCount: staged.valCount, metrics: staged.metrics, extra: { generator_from: coco.run.dir, stages: staged.stages } }, log);
  }
  const fitTrain = fitExamples(data.train, maxLen);
  const fitVal = fitExamples(data.val, maxLen);
  for (const [what, f] of [["training", fitTrain.report], ["validation", fitVal.report]] as const) {
    if (f.truncated) log(`${f.truncated} ${what} examples cut to ${maxLen} tokens`);
    if (f.dropped) log(`${f.dropped} ${what} examples dropped (empty, or no room for the target in ${maxLen} tokens): ${f.droppedIds.slice(0, 5).join(", ")}${f.dropped > 5 ? ", ..." : ""}`);
  }

  if (fitTrain.examples.length === 0) {
    throw new UserError(
      `all ${data.train.length} training examples were dropped: none leaves room for a target token within ${maxLen} ` +
        `tokens (raise --batch-tokens, or lower --budget-profile / --budget-input)`,
    );
  }

  const trainer = await Trainer.create({
    pair,
    weights,
    train: fitTrain.examples,
    val: fitVal.examples,
    config,
    cadence: o.cadence,
    padId: tok.padId ?? tok.eosId ?? 0,
    dir: o.out,
    resume: o.resume,
    resumeChanges: o.resumeChanges,
    threads: o.threads,
    memory: o.memory,
    reporter,
    meta: { generator: o.generator, reasoner: o.reasoner ?? null, data: o.data },
  });
  log(
    `${config.method}: ${fitTrain.examples.length} examples, ${trainer.stepsPerEpoch} steps per epoch, ` +
      `${trainer.totalSteps} steps (${trainer.warmupSteps} warm-up)`,
  );
  let result: TrainResult;
  let finalWeights: Map<string, Float32Array>;
  try {
    result = await trainer.run();
    finalWeights = trainer.weights();
  } finally {
    await trainer.close();
  }
  if (trsr?.idf) writeIdf(o.out, trsr.idf);
  let selfTraining: SelfTrainIteration[] | undefined;
  if (cot && cot.options.selfTrainIters > 0) {
    const st = await selfTrain({
      pair,
      weights: finalWeights,
      tok,
      config: { ...config, cot: cot.options },
      records: cot.train,
      examples: fitTrain.examples,
      prompt,
      reward: o.reward!,
      maxLength: maxLen,
      padId: tok.padId ?? tok.eosId ?? 0,
      threads: o.threads,
      memory: o.memory,
      reporter,
    });
    finalWeights = st.weights;
    selfTraining = st.iterations;
  }

  return finish(o, {
    pair,
    config,
    tok,
    prompt,
    result,
    weights: finalWeights,
    totalSteps: trainer.totalSteps,
    warmupSteps: trainer.warmupSteps,
    trainCount: fitTrain.examples.length,
    valCount: fitVal.examples.length,
    metrics: trainer.metrics,
    extra: selfTraining ? { self_training: selfTraining } : {},
  }, log);
}

interface Finished {
  pair: PairConfig;
  config: TrainConfig;
  tok: TextTokenizer;
  prompt: PromptBuildOptions;
  result: TrainResult;
  weights: ReadonlyMap<string, Float32Array>;
  totalSteps: number;
  warmupSteps: number;
  trainCount: number;
  valCount: number;
  metrics: MetricsLog;
  /** More manifest training fields (they win over the defaults). */
  extra: Record<string, unknown>;
}

/** Writes the output folder of a finished run (and drops its checkpoints unless kept). */
function finish(o: RunOptions, f: Finished, log: (s: string) => void): RunOutcome {
  const manifest = writeTrainedModel(o.out, {
    pair: f.pair,
    method: f.config.method,
    weights: f.weights,
    tokenizerFrom: { generator: o.generator, reasoner: o.reasoner },
    tokenizerFingerprint: f.tok.fingerprint,
    training: {
      ...f.config,
      maxSteps: f.config.maxSteps ?? null,
      steps: f.result.steps,
      total_steps: f.totalSteps,
      warmup_steps: f.warmupSteps,
      train_examples: f.trainCount,
      val_examples: f.valCount,
      final_loss: f.result.finalLoss,
      final_val_loss: f.result.finalValLoss ?? null,
      generator_from: o.generator,
      reasoner_from: o.reasoner ?? null,
      data: o.data,
      /** Prompt-builder options: generation reuses them so it sees the prompt shape training saw. */
      prompt: f.prompt,
      ...f.extra,
    },
    metrics: f.metrics.text(),
    svg: f.metrics.svg(),
  });
  if (!o.keepCheckpoints) {
    removeDir(join(o.out, "checkpoints"));
    removeDir(join(o.out, STAGES_DIR));
  }
  log(`wrote ${join(o.out, MANIFEST_FILE)}`);
  return { result: f.result, manifest };
}

/** Coconut's stage folders (each a Trainer run folder with its checkpoints) and the marked base model, under OUT. */
export const STAGES_DIR = "stages";
const STAGE_WEIGHTS = "weights.safetensors";

interface CoconutStart {
  run: ReturnType<typeof readCotRun>;
  options: CoconutOptions;
  generatorDir: string;
  tokens: ReturnType<typeof markedGenerator>["tokens"];
}

/** Reads the --init CoT run and writes its Generator with the markers added to OUT/stages/base. */
function coconutStart(o: RunOptions): CoconutStart {
  const options = checkCoconutOptions(o.config.coconut ?? ({ init: "" } as CoconutOptions));
  const run = readCotRun(options.init);
  const { dir, tokens } = markedGenerator(run, join(o.out, STAGES_DIR, "base"));
  return { run, options: { ...options, stage: undefined }, generatorDir: dir, tokens };
}

interface StagesInput {
  coco: CoconutStart;
  config: TrainConfig;
  pair: PairConfig;
  weights: Map<string, Float32Array>;
  train: readonly Example[];
  val: readonly Example[];
  pieces: ReadonlyMap<string, CotPieces>;
  tok: TextTokenizer;
  maxLen: number;
  reporter: Reporter;
  log: (s: string) => void;
}

/** A reporter whose messages name the stage. */
function stageReporter(r: Reporter, label: string): Reporter {
  return { start: (t, d) => r.start(t, d), step: (i) => r.step(i), log: (line) => r.log(`[${label}] ${line}`), stop: () => r.stop() };
}

/**
 * Coconut's curriculum: one Trainer run per stage (a fresh AdamW and one compiled graph each), the weights passed on
 * from stage to stage. A finished stage leaves its weights in OUT/stages/stage-K; a resumed run skips those stages
 * and resumes the first unfinished one from its own checkpoints.
 */
async function trainStages(o: RunOptions, s: StagesInput) {
  const co = s.coco.options;
  const stages = coconutStages(co);
  const end = endOfTargetId(s.tok, s.pair.generator);
  let weights: Map<string, Float32Array> = s.weights;
  const done: { stage: number; rows: MetricRow[] }[] = [];
  const summary: Record<string, unknown>[] = [];
  let totalSteps = 0;
  let warmupSteps = 0;
  let trainCount = 0;
  let valCount = 0;
  let last: TrainResult | undefined;
  for (const k of stages) {
    const label = `stage ${k}/${stages.length}`;
    const dir = join(o.out, STAGES_DIR, `stage-${k}`);
    const layout = { stage: k, maxLatentStage: co.maxLatentStage, c: co.c, eosId: end };
    const train = fitExamples(stageExamples(s.train, s.pieces, s.tok, s.coco.tokens, layout), s.maxLen).examples;
    const val = fitExamples(stageExamples(s.val, s.pieces, s.tok, s.coco.tokens, layout), s.maxLen).examples;
    if (train.length === 0) throw new UserError(`coconut ${label}: every training example was dropped (raise --batch-tokens)`);
    const config: TrainConfig = { ...s.config, epochs: co.epochsPerStage, coconut: { ...co, stage: k } };
    const weightsFile = join(dir, STAGE_WEIGHTS);
    if (o.resume && existsSync(weightsFile)) {
      const saved = readSafetensors(weightsFile).tensors;
      weights = new Map([...weights].map(([n, v]) => [n, saved.get(n)?.data ?? v] as const));
      const rows = parseMetrics(readFileSync(join(dir, "metrics.jsonl"), "utf8"));
      done.push({ stage: k, rows });
      summary.push({ stage: k, latents: latentsAt(co, k), steps: rows.length, resumed: true });
      s.log(`${label}: finished in an earlier run (${rows.length} steps), its weights loaded`);
      totalSteps += rows.length;
      continue;
    }
    const trainer = await Trainer.create({
      pair: s.pair,
      weights,
      train,
      val,
      config,
      cadence: o.cadence,
      padId: s.tok.padId ?? s.tok.eosId ?? 0,
      dir,
      resume: o.resume,
      resumeChanges: o.resumeChanges,
      threads: o.threads,
      memory: o.memory,
      reporter: stageReporter(s.reporter, label),
      meta: { generator: o.generator, init: co.init, data: o.data, stage: k },
    });
    s.log(`coconut ${label}: ${latentsAt(co, k)} latent slots, ${train.length} examples, ${trainer.totalSteps} steps with a new optimiser`);
    o.onStage?.(k, trainer);
    try {
      last = await trainer.run();
      weights = trainer.weights();
    } finally {
      await trainer.close();
    }
    const trained = [...weights].filter(([n]) => n.startsWith("generator."));
    atomicWriteBytes(weightsFile, encodeSafetensors(new Map(trained.map(([n, v]) => [n, { shape: [v.length], data: v }]))));
    done.push({ stage: k, rows: last.metrics });
    summary.push({ stage: k, latents: latentsAt(co, k), steps: last.steps, final_loss: last.finalLoss });
    totalSteps += trainer.totalSteps;
    warmupSteps += trainer.warmupSteps;
    trainCount = train.length;
    valCount = val.length;
  }
  const rows = joinStageMetrics(done);
  const metrics = new MetricsLog();
  metrics.reset(rows);
  const lastRow = rows[rows.length - 1];
  const result: TrainResult = {
    steps: rows.length,
    finalLoss: lastRow?.loss ?? NaN,
    finalValLoss: last?.finalValLoss,
    metrics: rows,
    resumedFrom: last?.resumedFrom ?? 0,
    // an epoch of the last stage (a resumed run whose stages were all done has none: zeros)
    epoch: last?.epoch ?? { stepsPerEpoch: 0, examples: 0, tokens: 0, meanPromptTokens: 0, meanTargetTokens: 0, compileMs: 0 },
  };
  return { weights, result, totalSteps, warmupSteps, trainCount, valCount, metrics, stages: summary };
}

/** The batch budget of the newest checkpoint in OUT, when resuming one. */
function resumedBatchTokens(out: string): number | undefined {
  const list = listCheckpoints(join(out, "checkpoints"));
  if (list.length === 0) return undefined;
  const state = JSON.parse(readFileSync(join(list[list.length - 1]!.dir, "trainer.json"), "utf8")) as { config?: { batchTokens?: unknown } };
  return typeof state.config?.batchTokens === "number" ? state.config.batchTokens : undefined;
}

/**
 * The config with a batch budget that fits in memory: chosen (o.autoBatchTokens) or checked. `longest` is the longest
 * training example in tokens, `context` the models' context length.
 */
function settleBatchTokens(o: RunOptions, pair: PairConfig, longest: number, context: number, log: (s: string) => void): TrainConfig {
  const resumed = o.autoBatchTokens && o.resume ? resumedBatchTokens(o.out) : undefined;
  const auto = o.autoBatchTokens === true && resumed === undefined;
  const cap = resumed ?? o.config.batchTokens;
  const ctx = {
    pair,
    freezeReasoner: o.config.freezeReasoner,
    longestExample: Math.max(1, Math.min(longest, cap, context)),
    available: availableMemoryBytes(),
    head: (b: number) => {
      const vocab = pair.generator.vocabSize;
      const { headChunk } = lossGraphMemoryOptions(o.memory, vocab, b);
      return headChunk >= vocab ? unfusedHead(vocab) : chunkedHead(headChunk);
    },
    checkpointActivations: o.memory?.checkpointActivations === true,
  };
  const choice: BudgetChoice = auto ? chooseBatchTokens(ctx, cap) : checkBatchTokens(ctx, cap);
  if (auto) log(`--batch-tokens ${choice.batchTokens} (chosen from free memory: ${describeEstimate(choice.estimate, ctx.available)})`);
  return { ...o.config, batchTokens: choice.batchTokens };
}
