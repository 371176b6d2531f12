// Training: the trainer over tokenised examples, step engines, checkpoints, data -> examples, the output folder.
export { type Example, type Batch, IGNORE_INDEX, exampleLength, fitExamples, makeBatch, planEpoch, planFixed } from "./batching.ts";
export { type ScheduleKind, SCHEDULE_KINDS, learningRate, warmupStepsFor } from "./schedule.ts";
export { type StepEngine, type StepOutcome, LossEvaluator, batchFeeds, createEngine } from "./steps.ts";
export {
  type Cadence,
  DEFAULT_TRAIN_CONFIG,
  type Method,
  type TrainConfig,
  type TrainerInit,
  type TrainResult,
  Trainer,
  TrainingDiverged,
  dataFingerprint,
} from "./trainer.ts";
export { type TrainerState, type TrainingCheckpoint, listCheckpoints, loadTrainingCheckpoint, saveTrainingCheckpoint } from "./checkpoint.ts";
export { type MetricRow, MetricsLog, parseMetrics } from "./metrics.ts";
export { type Reporter, defaultReporter, lineReporter, silentReporter } from "./progress.ts";
export { type TrainingData, loadTrainingData, pairExamples, recordExamples } from "./examples.ts";
export { type Manifest, type TrainedModel, MANIFEST_FILE, readTrainedModel, writeTrainedModel } from "../flythinker/trained-folder.ts";
export { type RunOptions, type RunOutcome, pairTokenizer, runTraining } from "./run.ts";
