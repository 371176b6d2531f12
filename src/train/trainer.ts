// The trainer: epochs (or a step budget) over token-budget batches of tokenised examples, gradient accumulation,
// AdamW with warm-up and decay, periodic validation and atomic checkpoints that a later run resumes exactly.
// It works on a Generator (SFT) or a Generator + Reasoner pair (FlyThinker) through the teacher-forced loss graph of
// src/flythinker/graph.ts; weights are passed and returned by graph input name (generator.*, reasoner.*, fusion.*).
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { PairConfig } from "../flythinker/graph.ts";
import { pairLeaves } from "../flythinker/pair-params.ts";
import { configToJson } from "../model/config.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { Rng } from "../util/random.ts";
import { ops } from "../graph/index.ts";
import { UserError } from "../util/errors.ts";
import { MIB, ResidentMemory } from "../util/memory.ts";
import { type Batch, type Example, planEpoch, planFixed } from "./batching.ts";
import { METHODS, type MethodOptions, type MethodSpec, type TrainGraph } from "./methods.ts";
import {
  CHECKPOINT_VERSION,
  type TrainerState,
  listCheckpoints,
  loadTrainingCheckpoint,
  checkpointBytes,
  checkpointWriteError,
  pruneCheckpoints,
  removeDir,
  saveTrainingCheckpoint,
} from "./checkpoint.ts";
import { MetricsLog, type MetricRow, parseMetrics } from "./metrics.ts";
import { type CheckpointHealth, judgeCheckpoints, weightStats } from "./health.ts";
import { type Reporter, silentReporter } from "./progress.ts";
import { type ScheduleKind, learningRate, warmupStepsFor } from "./schedule.ts";
import { LossEvaluator, type StepEngine, createEngine } from "./steps.ts";

import type { Method } from "../flythinker/manifest.ts";

export type { Method } from "../flythinker/manifest.ts";

/** Everything that determines the numbers a run produces (compared when resuming). */
export interface TrainConfig extends MethodOptions {
  method: Method;
  /**
   * Passes over the training examples (used when maxSteps is not set); a fraction such as 0.8 stops after that share
   * of an epoch's steps (rounded up), so every method sees the same share of its examples.
   */
  epochs: number;
  /** Stop after this many optimiser steps instead (epochs continue as needed). */
  maxSteps?: number;
  /** Peak learning rate. */
  lr: number;
  /** Padded tokens (rows x longest row) per micro-batch, at most. */
  batchTokens: number;
  /** Micro-batches per optimiser step. */
  gradAccum: number;
  warmupRatio: number;
  schedule: ScheduleKind;
  seed: number;
  freezeReasoner: boolean;
  weightDecay: number;
  clipNorm: number;
  beta1: number;
  beta2: number;
  eps: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  method: "flythinker",
  epochs: 5,
  lr: 5e-6,
  batchTokens: 4096,
  gradAccum: 1,
  warmupRatio: 0.01,
  schedule: "cosine",
  seed: 0,
  freezeReasoner: false,
  weightDecay: 0.025,
  clipNorm: 1.0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
};

export interface MemoryOptions {
  /**
   * Vocabulary rows per chunk of the fused LM head + cross-entropy; "auto" (default) keeps one chunk's
   * [batch tokens, rows] logits within 256 MiB (the plain head when the whole vocabulary fits).
   */
  headChunk?: number | "auto";
  /** Recompute decoder-layer activations in the backward pass (less memory, about one more forward pass of time). */
  checkpointActivations?: boolean;
}

/** The loss-graph options for these memory settings, a vocabulary and a micro-batch budget. */
export function lossGraphMemoryOptions(m: MemoryOptions = {}, vocab: number, batchTokens: number): { headChunk: number; checkpointActivations: boolean } {
  const chunk = m.headChunk ?? "auto";
  if (chunk !== "auto" && !(Number.isInteger(chunk) && chunk > 0)) {
    throw new UserError(`--head-chunk must be a positive integer or auto, got ${chunk}`);
  }
  return { headChunk: chunk === "auto" ? ops.autoHeadChunk(vocab, batchTokens) : chunk, checkpointActivations: m.checkpointActivations === true };
}

/** How often to validate / checkpoint; these may change between a run and its resumption. */
export interface Cadence {
  /** Validate every N steps (0: only at the end). */
  evalEvery: number;
  /** Checkpoint every N steps (0: only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk (newest first); default 2. */
  keepCheckpoints?: number;
}

export interface TrainerInit {
  pair: PairConfig;
  /** Initial value of every weight input, by graph input name. */
  weights: ReadonlyMap<string, Float32Array>;
  train: readonly Example[];
  val?: readonly Example[];
  config: TrainConfig;
  cadence?: Cadence;
  /** Padding token id (any id works: padding is never attended to by real tokens nor scored). */
  padId?: number;
  /** Run folder: checkpoints/, metrics.jsonl, loss.svg. Without one nothing is written. */
  dir?: string;
  /**
   * Continue from the newest good checkpoint in dir/checkpoints (health.ts; a fresh start when there is none);
   * newer checkpoints that are not good (a diverged run) are removed.
   */
  resume?: boolean;
  /** Config keys (e.g. "lr", "schedule") that may differ from the resumed checkpoint's: asked for explicitly. */
  resumeChanges?: readonly string[];
  /** ONNX Runtime intra-op threads (default: all cores). */
  threads?: number;
  /** How the step graph trades memory for compute (not part of the run's identity: a run may resume with others). */
  memory?: MemoryOptions;
  reporter?: Reporter;
  /** Stored in checkpoints for reference (input folders, ...). */
  meta?: Record<string, unknown>;
}

export interface TrainResult {
  steps: number;
  /** Loss of the last step. */
  finalLoss: number;
  /** Validation loss after the last step (when there are validation examples). */
  finalValLoss?: number;
  metrics: MetricRow[];
  /** Step the run started from (0, or the resumed checkpoint's step). */
  resumedFrom: number;
  /** What one epoch of this run is: its steps, examples and tokens, and how long the step graph took to compile. */
  epoch: EpochShape;
}

/** One epoch of a run (Coconut: of its last stage): what `bench methods` multiplies the median step time by. */
export interface EpochShape {
  stepsPerEpoch: number;
  examples: number;
  /** Tokens an epoch feeds, as the method counts an example (NextQuill: both rows at the longer one's length; Coconut: with its latent slots). */
  tokens: number;
  /** Mean prompt and target tokens of an example. */
  meanPromptTokens: number;
  meanTargetTokens: number;
  /** Building and compiling the step graph (and the validation graph), ms. */
  compileMs: number;
}

/** Training stopped because the loss or the gradient became NaN/Inf. */
export class TrainingDiverged extends UserError {
  constructor(
    message: string,
    readonly step: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(message);
    this.name = "TrainingDiverged";
  }
}

/** sha256 over the token ids of the examples (train, then validation). */
export function dataFingerprint(train: readonly Example[], val: readonly Example[] = []): string {
  const h = createHash("sha256");
  for (const [tag, list] of [["train", train], ["val", val]] as const) {
    h.update(`${tag}:${list.length}\n`);
    for (const e of list) {
      const counter = e.counterPromptIds ? `|${e.counterPromptIds.join(",")}` : "";
      h.update(`${e.promptIds.join(",")}|${e.targetIds.join(",")}${counter}\n`);
    }
  }
  return h.digest("hex");
}

function checkConfig(c: TrainConfig): void {
  const bad = (flag: string, want: string, got: unknown): never => {
    throw new UserError(`${flag} must be ${want}, got ${got}`);
  };
  const posInt = (v: number) => Number.isInteger(v) && v > 0;
  if (c.maxSteps !== undefined && !posInt(c.maxSteps)) bad("--max-steps", "a positive integer", c.maxSteps);
  if (c.maxSteps === undefined && !(Number.isFinite(c.epochs) && c.epochs > 0)) bad("--epochs", "a positive number", c.epochs);
  if (!(c.lr >= 0 && Number.isFinite(c.lr))) bad("--lr", "a non-negative number", c.lr);
  if (!posInt(c.batchTokens)) bad("--batch-tokens", "a positive integer", c.batchTokens);
  if (!posInt(c.gradAccum)) bad("--grad-accum", "a positive integer", c.gradAccum);
  if (!(c.weightDecay >= 0)) bad("weight decay", "non-negative", c.weightDecay);
  if (!(c.clipNorm >= 0)) bad("clip norm", "non-negative", c.clipNorm);
  if (!Number.isInteger(c.seed)) bad("--seed", "an integer", c.seed);
}

/** Config fields as a plain object, for storing and comparing. */
function configRecord(c: TrainConfig): Record<string, unknown> {
  return JSON.parse(JSON.stringify({ ...c, maxSteps: c.maxSteps ?? null })) as Record<string, unknown>;
}

function modelsRecord(pair: PairConfig): Record<string, unknown> {
  return JSON.parse(
    JSON.stringify({
      generator: configToJson(pair.generator),
      reasoner: pair.reasoner ? configToJson(pair.reasoner) : null,
      fusion: pair.reasoner ? pair.fusion : null,
    }),
  ) as Record<string, unknown>;
}

function differences(a: Record<string, unknown>, b: Record<string, unknown>, prefix = ""): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]))
    .map((k) => `${prefix}${k}: ${JSON.stringify(a[k])} in the checkpoint, ${JSON.stringify(b[k])} now`);
}

export class Trainer {
  /** Completed optimiser steps. */
  stepsDone = 0;
  readonly totalSteps: number;
  readonly warmupSteps: number;
  readonly stepsPerEpoch: number;
  readonly metrics: MetricsLog;
  private epoch = 0;
  private cursor = 0;
  private plan: number[][] = [];
  private rng: Rng;
  private valBatches: Batch[] = [];
  private lastCheckpoint: string | null = null;
  private resumedFrom = 0;
  /** Largest |weight| and non-finite count of the run's initial trained weights (kept through resumes). */
  private base = { max: 0, nonFinite: 0 };
  private readonly lengths: number[];
  private readonly fingerprint: string;
  private readonly memory = new ResidentMemory();
  private readonly method: MethodSpec;
  /** Building and compiling the step and validation graphs, ms (set by create). */
  private compileMs = 0;

  private constructor(
    private readonly init: TrainerInit,
    readonly lossGraph: TrainGraph,
    private readonly engine: StepEngine,
    private readonly evaluator: LossEvaluator | undefined,
    private readonly reporter: Reporter,
  ) {
    const c = init.config;
    this.method = METHODS[c.method];
    this.lengths = init.train.map(this.method.cost);
    const batchesPerEpoch = planFixed(this.lengths, c.batchTokens).length;
    this.stepsPerEpoch = Math.ceil(batchesPerEpoch / c.gradAccum);
    this.totalSteps = c.maxSteps ?? Math.max(1, Math.ceil(c.epochs * this.stepsPerEpoch - 1e-9));
    this.warmupSteps = warmupStepsFor(c.warmupRatio, this.totalSteps);
    this.rng = new Rng(c.seed);
    this.fingerprint = dataFingerprint(init.train, init.val);
    this.metrics = new MetricsLog(init.dir ? join(init.dir, "metrics.jsonl") : undefined);
    const val = init.val ?? [];
    if (val.length > 0) {
      this.valBatches = planFixed(val.map(this.method.cost), c.batchTokens).map((b) =>
        this.method.batch(val, b, { padId: init.padId, enhance: this.enhance }),
      );
    }
  }

  private get enhance() {
    return this.init.pair.reasoner ? this.init.pair.fusion.enhance : undefined;
  }

  private get checkpointRoot(): string | undefined {
    return this.init.dir ? join(this.init.dir, "checkpoints") : undefined;
  }

  static async create(init: TrainerInit): Promise<Trainer> {
    const c = init.config;
    checkConfig(c);
    const method = METHODS[c.method];
    if (method.reasoner !== (init.pair.reasoner !== undefined)) {
      throw new UserError(method.reasoner ? `--method ${c.method} needs a Reasoner (--reasoner DIR)` : `--method ${c.method} takes no Reasoner`);
    }
    if (init.train.length === 0) throw new UserError("no training examples");
    const compileStart = performance.now();
    const memory = lossGraphMemoryOptions(init.memory, init.pair.generator.vocabSize, c.batchTokens);
    const lg = method.graph(init.pair, memory, c);
    const trainable = pairLeaves(lg, { withoutReasoner: c.freezeReasoner });
    for (const t of lg.graph.inputs.values()) {
      const n = t.inputName!;
      if (method.dataInputs.includes(n)) continue;
      if (!init.weights.has(n)) throw new UserError(`no initial value for the weight "${n}"`);
    }
    const compileOpts = { threads: init.threads };
    const engine = await createEngine(lg, trainable, init.weights, {
      gradAccum: c.gradAccum,
      compile: compileOpts,
      optimizer: { beta1: c.beta1, beta2: c.beta2, eps: c.eps, weightDecay: c.weightDecay, clipNorm: c.clipNorm },
    });
    const evaluator = init.val && init.val.length > 0 ? await LossEvaluator.create(lg, compileOpts) : undefined;
    const trainer = new Trainer(init, lg, engine, evaluator, init.reporter ?? silentReporter);
    trainer.compileMs = performance.now() - compileStart;
    if (init.dir) mkdirSync(init.dir, { recursive: true });
    trainer.base = weightStats(trainer.engine.params.values());
    if (init.resume) trainer.restore();
    if (trainer.stepsDone === 0) trainer.metrics.reset([]);
    return trainer;
  }

  /** Loads the newest checkpoint of the run folder, if any. */
  private restore(): void {
    const root = this.checkpointRoot;
    if (!root) throw new Error("resume needs a run folder");
    pruneCheckpoints(root, Number.MAX_SAFE_INTEGER);
    const list = listCheckpoints(root);
    if (list.length === 0) {
      this.reporter.log(`no checkpoint in ${root}: starting from step 0`);
      return;
    }
    // The newest checkpoint's metrics hold the losses of every step up to it.
    const newest = loadTrainingCheckpoint(list[list.length - 1]!.dir);
    const losses = new Map(parseMetrics(newest.metrics).map((r) => [r.step, r.loss] as const));
    const { good, bad } = judgeCheckpoints(root, losses);
    // Checkpoints newer than the good one belong to a diverged run: they go once the resume is accepted.
    const dropBad = () => {
      for (const b of bad) {
        this.reporter.log(`skipping ${b.dir} (step ${b.step}): ${b.why}`);
        removeDir(b.dir);
      }
    };
    if (!good) {
      dropBad();
      this.reporter.log(`no good checkpoint in ${root}: starting from step 0`);
      return;
    }
    const ck = good.dir === newest.dir ? newest : loadTrainingCheckpoint(good.dir);
    const s = ck.state;
    const allowed = new Set(this.init.resumeChanges ?? []);
    const now = configRecord(this.init.config);
    const configDiffs = differences(s.config, now, "config.");
    const changed = configDiffs.filter((d) => allowed.has(d.slice("config.".length, d.indexOf(":"))));
    const diffs = [...configDiffs.filter((d) => !changed.includes(d)), ...differences(s.models, modelsRecord(this.init.pair), "models.")];
    if (diffs.length) {
      const hint = configDiffs.length > changed.length ? "\n(to change the learning rate or schedule of a resumed run, say so: --override lr=X)" : "";
      throw new UserError(`${ck.dir}: the run being resumed was started with other settings:\n  ${diffs.join("\n  ")}${hint}`);
    }
    if (s.dataFingerprint !== this.fingerprint) {
      throw new UserError(
        `${ck.dir}: the training data differ from those of the run being resumed ` +
          `(${s.trainExamples} training examples then, ${this.init.train.length} now, or different token ids)`,
      );
    }
    const trained = [...this.engine.params.keys()];
    if (JSON.stringify(trained) !== JSON.stringify(s.trainable)) {
      throw new UserError(`${ck.dir}: checkpoint trains other parameters than this run`);
    }
    dropBad();
    for (const c of changed) this.reporter.log(`changed on resume: ${c}`);
    if (s.health) this.base = { max: s.health.baseMaxAbs, nonFinite: s.health.baseNonFinite };
    for (const n of trained) {
      const len = this.engine.params.get(n)!.length;
      if (ck.params.get(n)!.length !== len) throw new UserError(`${ck.dir}: tensor ${n} has ${ck.params.get(n)!.length} values, expected ${len}`);
      this.engine.params.set(n, ck.params.get(n)!);
      this.engine.m.set(n, ck.m.get(n)!);
      this.engine.v.set(n, ck.v.get(n)!);
    }
    this.engine.stepCount = s.adamStep;
    this.stepsDone = s.step;
    this.epoch = s.epoch;
    this.cursor = s.cursor;
    this.plan = s.plan;
    this.rng = Rng.fromState(s.rng);
    this.metrics.reset(parseMetrics(ck.metrics).filter((r) => r.step <= s.step));
    this.lastCheckpoint = ck.dir;
    this.resumedFrom = s.step;
    this.reporter.log(`resuming from ${ck.dir} (step ${s.step} of ${this.totalSteps})`);
  }

  /** Completed AdamW updates of this Trainer's optimiser (its t; 0 for a fresh one). */
  get optimizerStep(): number {
    return this.engine.stepCount;
  }

  /** AdamW's first moments by trained weight name (all zero for a fresh optimiser). */
  get firstMoments(): ReadonlyMap<string, Float32Array> {
    return new Map(this.engine.m);
  }

  /** Current value of every weight input (trained ones updated), by graph input name. */
  weights(): Map<string, Float32Array> {
    const out = new Map(this.init.weights);
    for (const [n, v] of this.engine.params) out.set(n, v);
    return out;
  }

  /** Token-weighted validation loss with the current weights (NaN without validation examples). */
  async validate(): Promise<number> {
    if (!this.evaluator) return NaN;
    return (await this.evaluator.evaluate(this.valBatches, this.weights())).loss;
  }

  private state(): TrainerState {
    return {
      version: CHECKPOINT_VERSION,
      step: this.stepsDone,
      adamStep: this.engine.stepCount,
      epoch: this.epoch,
      cursor: this.cursor,
      plan: this.plan,
      rng: this.rng.state(),
      config: configRecord(this.init.config),
      models: modelsRecord(this.init.pair),
      dataFingerprint: this.fingerprint,
      trainExamples: this.init.train.length,
      trainable: [...this.engine.params.keys()],
      meta: this.init.meta ?? {},
      health: this.health(),
    };
  }

  private health(): CheckpointHealth {
    const { max, nonFinite } = weightStats(this.engine.params.values());
    return { nonFinite, maxAbsWeight: max, baseNonFinite: this.base.nonFinite, baseMaxAbs: this.base.max };
  }

  /** Losses of every step so far, by step. */
  private losses(): Map<number, number> {
    return new Map(this.metrics.rows.map((r) => [r.step, r.loss] as const));
  }

  /** Writes a checkpoint of the current state (and the loss chart); returns its folder. */
  checkpoint(): string | null {
    const root = this.checkpointRoot;
    if (!root) return null;
    mkdirSync(root, { recursive: true });
    let dir: string;
    try {
      dir = saveTrainingCheckpoint(root, this.state(), this.engine, this.metrics.text());
    } catch (e) {
      throw checkpointWriteError(root, e, checkpointBytes(this.engine.params.values()));
    }
    this.lastCheckpoint = dir;
    // The newest good checkpoint stays however many newer ones there are (they may be diverging).
    pruneCheckpoints(root, this.init.cadence?.keepCheckpoints ?? 2, judgeCheckpoints(root, this.losses()).good?.dir);
    this.writeChart();
    return dir;
  }

  writeChart(): void {
    if (this.init.dir) atomicWriteBytes(join(this.init.dir, "loss.svg"), this.metrics.svg());
  }

  /** Batches of the next step, starting a new epoch (a fresh shuffled plan) when the current one is used up. */
  private nextBatches(): { batches: Batch[]; epochPos: number } {
    if (this.plan.length === 0 || this.cursor >= this.plan.length) {
      if (this.plan.length > 0) this.epoch++;
      this.plan = planEpoch(this.lengths, this.init.config.batchTokens, this.rng);
      this.cursor = 0;
    }
    const take = this.plan.slice(this.cursor, this.cursor + this.init.config.gradAccum);
    this.cursor += take.length;
    const batches = take.map((b) => this.method.batch(this.init.train, b, { padId: this.init.padId, enhance: this.enhance }));
    return { batches, epochPos: this.epoch + this.cursor / this.plan.length };
  }

  /** Trains until the step budget is reached (or `stopAfter` more steps, for tests). */
  async run(opts: { stopAfter?: number } = {}): Promise<TrainResult> {
    const c = this.init.config;
    const cad: Cadence = this.init.cadence ?? { evalEvery: 0, checkpointEvery: 0 };
    const schedule = { lr: c.lr, totalSteps: this.totalSteps, warmupSteps: this.warmupSteps, kind: c.schedule };
    const limit = Math.min(this.totalSteps, opts.stopAfter !== undefined ? this.stepsDone + opts.stopAfter : Infinity);
    this.reporter.start(this.totalSteps, this.stepsDone);
    const t0 = performance.now();
    const startStep = this.stepsDone;
    let finalVal: number | undefined;
    try {
      while (this.stepsDone < limit) {
        const s = this.stepsDone;
        const lr = learningRate(s, schedule);
        const t = performance.now();
        const { batches, epochPos } = this.nextBatches();
        const out = await this.engine.step(batches, lr);
        const dt = (performance.now() - t) / 1000;
        if (!out.finite) {
          const where = `step ${s + 1} (epoch ${this.epoch + 1}, batch ${this.cursor} of ${this.plan.length})`;
          const root = this.checkpointRoot;
          const good = root ? judgeCheckpoints(root, this.losses()).good : null;
          const kept = good
            ? `the last good checkpoint is ${good.dir} (step ${good.step}), whose weights are finite and whose loss was not diverging: ` +
              `continue from it with --resume and a lower learning rate (--override lr=X)`
            : this.lastCheckpoint
              ? "no checkpoint before it is good (every one already holds diverging weights); start again with a lower --lr"
              : "no checkpoint was written yet";
          throw new TrainingDiverged(
            `training stopped: the loss became ${out.loss} (gradient norm ${out.gradNorm}) at ${where}; ` +
              `the update was not applied and ${kept}. Try a lower --lr or a longer warm-up.`,
            s + 1,
            good?.dir ?? null,
          );
        }
        this.stepsDone++;
        const row: MetricRow = {
          step: this.stepsDone,
          epoch: Number(epochPos.toFixed(6)),
          loss: out.loss,
          lr,
          grad_norm: out.gradNorm,
          tokens: out.tokens,
          tokens_per_s: dt > 0 ? out.tokens / dt : 0,
          step_ms: Number((dt * 1000).toFixed(3)),
        };
        const mem = this.memory.sample();
        row.rss_mb = Math.round(mem.rss / MIB);
        row.peak_rss_mb = Math.round(mem.peak / MIB);
        const last = this.stepsDone === this.totalSteps;
        if (this.evaluator && (last || (cad.evalEvery > 0 && this.stepsDone % cad.evalEvery === 0))) {
          row.val_loss = await this.validate();
          if (last) finalVal = row.val_loss;
        }
        this.metrics.add(row);
        const elapsed = (performance.now() - t0) / 1000;
        const perStep = elapsed / (this.stepsDone - startStep);
        this.reporter.step({
          step: this.stepsDone,
          total: this.totalSteps,
          epoch: epochPos,
          loss: out.loss,
          lr,
          tokensPerS: row.tokens_per_s,
          etaS: perStep * (this.totalSteps - this.stepsDone),
          valLoss: row.val_loss,
          rssBytes: mem.rss,
        });
        if (last || (cad.checkpointEvery > 0 && this.stepsDone % cad.checkpointEvery === 0)) {
          const dir = this.checkpoint();
          if (dir && !last) this.reporter.log(`checkpoint ${dir}`);
        }
      }
    } finally {
      this.reporter.stop();
    }
    if (this.stepsDone === this.totalSteps && this.evaluator && finalVal === undefined) finalVal = await this.validate();
    this.writeChart();
    const rows = this.metrics.rows;
    return {
      steps: this.stepsDone,
      finalLoss: rows.length ? rows[rows.length - 1]!.loss : NaN,
      finalValLoss: finalVal,
      metrics: [...rows],
      resumedFrom: this.resumedFrom,
      epoch: this.epochShape(),
    };
  }

  /** Releases the compiled step and validation graphs; the trainer is not used after (its weights() already read). */
  async close(): Promise<void> {
    await this.engine.release();
    await this.evaluator?.release();
  }

  /** Steps, examples and tokens of one epoch, and the compile time. */
  epochShape(): EpochShape {
    const n = this.init.train.length;
    const sum = (f: (e: Example) => number) => this.init.train.reduce((a, e) => a + f(e), 0);
    return {
      stepsPerEpoch: this.stepsPerEpoch,
      examples: n,
      tokens: this.lengths.reduce((a, b) => a + b, 0),
      meanPromptTokens: sum((e) => e.promptIds.length) / n,
      meanTargetTokens: sum((e) => e.targetIds.length) / n,
      compileMs: this.compileMs,
    };
  }
}
