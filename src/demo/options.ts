// Settings of the demo: the default run (about 10 minutes on a 2-core machine), the quick run (CI smoke, about a
// minute) and model shapes by width.
import type { EfficiencySettings } from "./efficiency.ts";
import type { AblationSpec } from "./ablations.ts";
import { availableParallelism } from "node:os";
import type { FusionOptions } from "../flythinker/fusion.ts";
import type { TokenBudgets, RetrievalMode } from "../data/prompt.ts";
import { presetConfig, type ModelConfig } from "../model/config.ts";
import { UserError } from "../util/errors.ts";
import { SHIPPED_BASES_DIR } from "./bases.ts";

/** The parts of a model config that the demo chooses (the rest comes from the "reference" preset). */
export type ModelShape = Pick<
  ModelConfig,
  "hiddenSize" | "numLayers" | "numHeads" | "numKvHeads" | "headDim" | "intermediateSize"
>;

/** Training of the base models on plain text: packed chunks of `seqLen` tokens, every token scored. */
export interface PretrainSettings {
  /** Passes over the chunks (used when steps is not set). */
  epochs: number;
  steps?: number;
  seqLen: number;
  /** Tokens per step (chunks x seqLen). */
  batchTokens: number;
  lr: number;
  warmupRatio: number;
  /** Each mail's text is cut to this many tokens (at a sentence end) before packing. */
  docTokens: number;
  /** Also pretrain on the English books and speeches of src/data/english-corpora.ts (the mail chunks then appear
   * `mailRepeats` times per epoch). */
  english?: boolean;
  mailRepeats?: number;
}

/** Where the base models come from: the repository's shipped bases (fine-tuned from), a long pretraining run that
 * rebuilds them (`--pretrain`: the demo stops after writing them), or a short pretraining from scratch inside the run
 * (`--quick`). */
export type BasesMode = "shipped" | "pretrain" | "scratch";

/** SFT, FlyThinker, NextQuill and LLM-TRSR training (the same for all). */
export interface FinetuneSettings {
  epochs: number;
  steps?: number;
  lr: number;
  batchTokens: number;
  warmupRatio: number;
}

export interface PromptSettings {
  historyK: number;
  retrieval: RetrievalMode;
  budgets: TokenBudgets;
}

export type EvalSplit = "test" | "val";

export interface DemoOptions {
  out: string;
  fresh: boolean;
  quick: boolean;
  seed: number;
  /** Users the methods are generated for and scored on: test (the demo) or val (for tuning). */
  split: EvalSplit;
  bases: BasesMode;
  /** The shipped bases' folder (read by "shipped", written by "pretrain"). */
  basesDir: string;
  /** Records generated per method (0: all of the split), spread over the split's users. */
  records: number;
  maxNewTokens: number;
  /** "reference": no text ends before min(maxNewTokens, its reference's token count) tokens (stop ids held back). */
  minNewTokens?: "reference";
  temperature: number;
  topP: number;
  vocabSize: number;
  generator: ModelShape;
  reasoner: ModelShape;
  pretrain: PretrainSettings;
  /** The Reasoner's pretraining (default: the Generator's settings). */
  reasonerPretrain: PretrainSettings;
  finetune: FinetuneSettings;
  fusion: FusionOptions;
  prompt: PromptSettings;
  /** ONNX Runtime threads for training. One by default: with more, ONNX Runtime's scatter-add of the embedding
   * gradient races on repeated token ids, so runs are not reproducible. */
  threads: number;
  /** Training runs and generations run side by side, this many at once, each on one ONNX Runtime thread (worker
   * threads; 1: one at a time in the main thread, training on `threads`, generation on every core). */
  lanes: number;
  /**
   * Coconut's curriculum (from the demo's CoT model; a final stage that drops every step follows the last). Each stage
   * trains for `stageShare` x CoT's training steps (1: as many steps as CoT took).
   */
  coconut: { c: number; maxLatentStage: number; epochsPerStage: number; stageShare: number };
  /** CoT's and Coconut's token allowance for what they write before the answer (rationale, separator). */
  reasoningTokens: { cot: number; coconut: number };
  /** `--full`: the ablation and seed sweeps run after the main study (null: none). */
  full: readonly AblationSpec[] | null;
  /** The efficiency stage (`bench methods` on the demo's data and bases), run alone after the generations; null: none. */
  efficiency: EfficiencySettings | null;
}

/** Head size 64 from width 128 up (16 below); grouped-query attention with half as many K/V heads when even. */
export function shapeForWidth(width: number, layers: number): ModelShape {
  if (!Number.isInteger(width) || width < 16) throw new UserError(`model width must be an integer >= 16, got ${width}`);
  if (!Number.isInteger(layers) || layers < 1) throw new UserError(`model layers must be a positive integer, got ${layers}`);
  const headDim = width >= 128 ? 64 : 16;
  if (width % headDim !== 0) throw new UserError(`model width ${width} must be a multiple of ${headDim}`);
  const numHeads = width / headDim;
  return {
    hiddenSize: width,
    numLayers: layers,
    numHeads,
    numKvHeads: numHeads % 2 === 0 ? numHeads / 2 : numHeads,
    headDim,
    // the reference preset's FFN ratio (688 / 256)
    intermediateSize: Math.round((width * 43) / 16),
  };
}

/** The shape of a named preset ("reference", "tiny"). */
export function shapeOfPreset(name: string): ModelShape {
  const c = presetConfig(name);
  return {
    hiddenSize: c.hiddenSize,
    numLayers: c.numLayers,
    numHeads: c.numHeads,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
    intermediateSize: c.intermediateSize,
  };
}

/** A full model config of a shape (vocabulary and special ids are fitted to the tokenizer later). */
export function configOfShape(shape: ModelShape): ModelConfig {
  return { ...presetConfig("reference"), ...shape };
}

export function describeShape(s: ModelShape): string {
  return `d${s.hiddenSize} x ${s.numLayers} layer${s.numLayers === 1 ? "" : "s"}, ${s.numHeads} heads (${s.numKvHeads} K/V), FFN ${s.intermediateSize}`;
}

export const DEFAULT_OUT = "demo-output";

/** The default run. */
export function defaultOptions(): DemoOptions {
  const pretrain: PretrainSettings = { epochs: 4, seqLen: 256, batchTokens: 2048, lr: 2e-3, warmupRatio: 0.05, docTokens: 384 };
  return {
    out: DEFAULT_OUT,
    fresh: false,
    quick: false,
    seed: 0,
    split: "test",
    bases: "shipped",
    basesDir: SHIPPED_BASES_DIR,
    records: 0,
    maxNewTokens: 320,
    minNewTokens: "reference",
    temperature: 0.8,
    topP: 0.95,
    vocabSize: 4096,
    generator: shapeForWidth(128, 4),
    reasoner: shapeForWidth(128, 2),
    pretrain,
    reasonerPretrain: { ...pretrain },
    finetune: { epochs: 0.8, lr: 5e-4, batchTokens: 2048, warmupRatio: 0.05 },
    fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
    prompt: { historyK: 2, retrieval: "bm25", budgets: { profile: 256, input: 64, target: 192 } },
    threads: 1,
    lanes: Math.max(1, Math.min(2, availableParallelism())),
    coconut: { c: 1, maxLatentStage: 1, epochsPerStage: 1, stageShare: 0.5 },
    reasoningTokens: { cot: 64, coconut: 8 },
    efficiency: { steps: 5, records: 4, answerTokens: 128, rounds: 2 },
    full: null,
  };
}

/** The quick run (CI smoke test): tiny models, few steps, few records. */
export function quickOptions(): DemoOptions {
  const d = defaultOptions();
  const pretrain: PretrainSettings = { epochs: 1, steps: 40, seqLen: 128, batchTokens: 1024, lr: 3e-3, warmupRatio: 0.05, docTokens: 128 };
  return {
    ...d,
    quick: true,
    bases: "scratch",
    records: 12,
    maxNewTokens: 40,
    vocabSize: 1024,
    generator: shapeForWidth(64, 2),
    reasoner: shapeForWidth(32, 1),
    pretrain,
    reasonerPretrain: { ...pretrain },
    finetune: { epochs: 1, steps: 20, lr: 1e-3, batchTokens: 1024, warmupRatio: 0.05 },
    coconut: { c: 1, maxLatentStage: 1, epochsPerStage: 1, stageShare: 1 },
    reasoningTokens: { cot: 16, coconut: 4 },
    efficiency: { steps: 3, records: 2, answerTokens: 16, rounds: 1, trainRecords: 64 },
    prompt: { historyK: 1, retrieval: "bm25", budgets: { profile: 96, input: 48, target: 64 } },
  };
}

/** The long pretraining of the shipped bases (`demo --pretrain`): English plus the train users' mail, a fixed number
 * of steps each (the Generator about 30 minutes and the Reasoner about 12 on one core of a 2-core machine). */
export function basesPretrainOptions(o: DemoOptions): DemoOptions {
  const common = { seqLen: 256, batchTokens: 4096, lr: 3e-3, warmupRatio: 0.02, docTokens: 384, english: true, mailRepeats: 3, epochs: 1 };
  return {
    ...o,
    bases: "pretrain",
    pretrain: { ...common, steps: BASES_STEPS.generator },
    reasonerPretrain: { ...common, steps: BASES_STEPS.reasoner },
  };
}

export const BASES_STEPS = { generator: 2600, reasoner: 1500 };
