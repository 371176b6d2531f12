// The library API of FlyThinker.ts.
//
//   import { loadModel, FlyThinker, train, evaluate } from "flythinker";
//   const base = LoadedModel / loadModel("qwen-folder");            // any HF Qwen2/Llama folder
//   await train({ method: "flythinker", generator, reasoner, data, out, ... });
//   const fly = FlyThinker.load(out);
//   for await (const piece of fly.generate(record)) process.stdout.write(piece.text);
//   const scores = await evaluate(predictions, references);
import { LoadedModel, type LoadOptions } from "./model/loaded-model.ts";
import { runTraining, type RunOptions, type RunOutcome } from "./train/run.ts";
import { DEFAULT_TRAIN_CONFIG, type Method, type TrainConfig } from "./train/trainer.ts";
import { DEFAULT_FUSION, type FusionOptions } from "./flythinker/fusion.ts";
import { scoreAll, type ScoreAllResult, type ScoreOptions } from "./eval/score.ts";
import { silentReporter } from "./train/progress.ts";
import { rougeReward } from "./eval/reward.ts";

/**
 * Loads a Hugging Face model folder (config.json, model.safetensors, tokenizer files) or a quantized folder;
 * `{ quantize: "int8" | "int4" }` quantizes the weights for decoding as they load.
 */
export function loadModel(dir: string, options: LoadOptions = {}): LoadedModel {
  return LoadedModel.fromDir(dir, options);
}

export interface TrainOptions {
  /** flythinker (Generator + Reasoner) or a Generator-only method (sft, nextquill, llm-trsr, cot); options in `config`. */
  method: Method;
  /** Model folders (HF layout). */
  generator: string;
  reasoner?: string;
  /** Dataset folder (train.jsonl, val.jsonl) or JSONL file. */
  data: string;
  out: string;
  fusion?: Partial<FusionOptions>;
  config?: Partial<TrainConfig>;
  /** Print progress (default false in the library). */
  verbose?: boolean;
  /** Anything else `flythinker train` takes. */
  run?: Partial<RunOptions>;
}

/**
 * Trains FlyThinker (Generator + Reasoner) or a Generator alone (SFT, NextQuill: `config.nextquill`, LLM-TRSR:
 * `config.trsr`, CoT: `config.cot`, its self-training rewarded by mean ROUGE-1/L F1) and writes the output folder; see `flythinker train`.
 */
export function train(options: TrainOptions): Promise<RunOutcome> {
  return runTraining({
    generator: options.generator,
    reasoner: options.reasoner,
    data: options.data,
    out: options.out,
    config: { ...DEFAULT_TRAIN_CONFIG, ...options.config, method: options.method },
    fusion: { ...DEFAULT_FUSION, ...options.fusion },
    cadence: { evalEvery: 0, checkpointEvery: 0, ...options.run?.cadence },
    ...(options.verbose ? {} : { reporter: silentReporter }),
    reward: rougeReward,
    ...options.run,
  });
}

/** ROUGE-1/L, BLEU and METEOR as the Python references compute them, per sample and aggregated. */
export function evaluate(predictions: readonly string[], references: readonly string[], options?: ScoreOptions): Promise<ScoreAllResult> {
  return Promise.resolve(scoreAll(predictions, references, options));
}

export { LoadedModel };
export { FlyThinker, loadAnyModel, type TextOptions, type TextPiece } from "./flythinker/model.ts";
export { generateForRecords, type RecordGenerationOptions, type RecordPrediction } from "./flythinker/generate-records.ts";
export { BASELINES, BASELINE_KINDS, cosProcessors, cosRows, type BaselineKind } from "./baselines/index.ts";
export { ContextSteering } from "./model/generation/steering.ts";
export { generate, generateBatch, type GenerateOptions, type GeneratedPiece } from "./model/generate.ts";
export { generateRows, type BatchEvent, type GenerationResult } from "./model/generation/session.ts";
export type { StepModel, JoinableStepModel } from "./model/generation/step-model.ts";
export { ContinuousBatcher, type ContinuousRequest, type ContinuousResult, type Influence } from "./model/generation/continuous.ts";
export { FlyThinkerServer, type ServeOptions } from "./serve/server.ts";
export { RepetitionPenalty, Temperature, TopK, TopP, samplingProcessors, type LogitsBatch, type LogitsProcessor } from "./model/generation/processors.ts";
export { StoppingCriteria, stopIds } from "./model/generation/stopping.ts";
export { Decoder } from "./model/decode.ts";
export { PairDecoder, type PairWeights, type DecodeMode } from "./flythinker/decode.ts";
export { DEFAULT_FUSION, type FusionOptions, type FuseMode, type EnhanceMode } from "./flythinker/fusion.ts";
export { buildLossGraph, type PairConfig } from "./flythinker/graph.ts";
export { DEFAULT_TRAIN_CONFIG, type Method, type TrainConfig };
export { COT_INSTRUCTION, COT_SEPARATOR, formatCot, parseAnswer, type ParsedAnswer } from "./baselines/cot.ts";
export { rationaleSteps } from "./baselines/rationale.ts";
export { type CotOptions, DEFAULT_COT, readRationaleFile } from "./baselines/rationales.ts";
export { keptSamples, REST_KEEP, REST_THRESHOLD } from "./train/self-train.ts";
export { rougeReward } from "./eval/reward.ts";
export { METHODS, METHOD_NAMES, type MethodSpec, type MethodOptions } from "./train/methods.ts";
export { DEFAULT_NEXTQUILL, buildNextQuillGraph, type NextQuillOptions } from "./train/nextquill.ts";
export { DEFAULT_TRSR, type TrsrOptions, type SummaryOf, readSummaryFile, extractiveSummaries } from "./baselines/summaries.ts";
export { ExtractiveSummariser, IdfTable, type SummaryMode } from "./baselines/summary.ts";
export { trainedSummaries } from "./flythinker/model.ts";
export { methodLabel } from "./flythinker/manifest.ts";
export { TextTokenizer } from "./tokenizer/tokenizer.ts";
export { trainBpe } from "./tokenizer/bpe.ts";
export { readDatasetSplits, readJsonl, buildPrompt, type PersonalRecord } from "./data/index.ts";
export { scoreAll, type ScoreAllResult };
export { writeEvalReport, evaluateRuns } from "./eval/index.ts";
export { BertScorer, computeBaseline, averageRelativeImprovement, type BertScoreOptions, type BertScoreResult } from "./eval/index.ts";
export { EncoderModel } from "./model/encoder/model.ts";
export { runSweep, type SweepOptions, type SweepRun } from "./sweep/run.ts";
export { writeSweepReport, type SweepSummary } from "./sweep/report.ts";
export { parseGrid, GRID_KEYS } from "./sweep/grid.ts";
export { heldOutNllOf, type HeldOutResult } from "./train/heldout.ts";
export { type EncoderConfig, readEncoderConfig } from "./model/encoder/config.ts";
export { Graph, Tensor, grad, adamw, ops } from "./graph/index.ts";
export { compile, CompiledGraph, releaseIdleSessions } from "./runtime/session.ts";
export { TrainStep } from "./runtime/train-step.ts";
export { presetConfig, readConfig, type ModelConfig } from "./model/config.ts";
export { loadCheckpoint, saveCheckpoint } from "./model/checkpoint.ts";
export { readTorchStateDict, writeTorchStateDict } from "./model/torch-checkpoint.ts";
export { readDeepSpeedCheckpoint } from "./model/deepspeed.ts";
export { importTorchPair, exportTorchPair } from "./flythinker/torch-pair.ts";
