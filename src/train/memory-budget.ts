// How much memory a training step needs, and the largest token budget (--batch-tokens) that fits in the memory the
// machine has free. The estimate is plain arithmetic over the model configs, in bytes (float32 everywhere):
//
//   weights      4 B per weight as loaded (trained and frozen) + 4 B per trained weight for the optimiser's flat copy
//   optimiser    8 B per trained weight: AdamW's two moments
//   update       40 B per trained weight: the gradients (4), the new parameters and moments ONNX Runtime allocates
//                anew each step (12), their copies into JavaScript arrays (12) and the previous step's arrays that the
//                garbage collector has not freed yet (12); for a large model, whose update runs group by group in
//                slices (train/steps.ts), 8 B: the gradients ONNX Runtime returns and their JavaScript copies, plus
//                a constant for the slices' outputs awaiting collection (COLLECT_AFTER_BYTES and three slices)
//   activations  per token and layer, the tensors the backward pass keeps or builds: 8 hidden vectors, q/k/v three
//                times (projections, rotated, gradients), 4 MLP vectors, and 3 attention rows (scores, probabilities
//                and their gradient: heads x longest row each) — summed over the layers of both models; with
//                activation checkpointing, one hidden vector per layer (the layer inputs) plus one layer's full set
//   head         per token, the LM head's working set: `headFloatsPerToken` floats (logits, softmax, gradient of the
//                logits, ...): UNFUSED_HEAD_COPIES x vocab for the plain [tokens, vocab] head, or a multiple of the
//                chunk width for a chunked head that holds [tokens, chunk] at a time
//
// The step's peak is the sum; it fits when it is at most SAFETY_SHARE of the memory available now plus the weights
// already loaded (they are part of the estimate and already resident).
import type { ModelConfig } from "../model/config.ts";
import { parameterCount } from "../model/config.ts";
import type { PairConfig } from "../flythinker/graph.ts";
import { UserError } from "../util/errors.ts";
import { APPLY_SLICE, COLLECT_AFTER_BYTES, GROUPED_APPLY_BYTES } from "./steps.ts";
import { formatBytes } from "../util/memory.ts";

const FLOAT = 4;
/** Bytes per trained weight for gradients + the step's new parameters and moments (see the header). */
const UPDATE_BYTES_PER_TRAINED = 40;
/** Bytes per trained weight for the update of a large model (grouped, in slices): gradients and their copies. */
const GROUPED_UPDATE_BYTES_PER_TRAINED = 8;
/** Bytes the grouped update holds beyond that: dead slice outputs up to a collection, and one slice's run. */
export const GROUPED_UPDATE_SLACK = COLLECT_AFTER_BYTES + 3 * FLOAT * APPLY_SLICE;
/** Copies of a [tokens, vocab] float32 tensor that an unfused LM head + cross-entropy keeps at its peak. */
export const UNFUSED_HEAD_COPIES = 4;
/** Share of the available memory a step may plan to use (the rest absorbs estimation error and allocator slack). */
export const SAFETY_SHARE = 0.8;
/** Largest budget chosen automatically. */
export const MAX_AUTO_BATCH_TOKENS = 4096;

/** Floats per token the LM head holds at its peak. */
export interface HeadModel {
  floatsPerToken: number;
  /** For messages: "[tokens, 151669] logits", "[tokens, 4096] chunks". */
  describe: string;
}

/** The plain head: full [tokens, vocab] logits, their softmax and gradients live together. */
export function unfusedHead(vocab: number): HeadModel {
  return { floatsPerToken: UNFUSED_HEAD_COPIES * vocab, describe: `[tokens, ${vocab}] logits` };
}

/** A chunked head + cross-entropy that holds [tokens, chunk] at a time (the same number of copies per chunk). */
export function chunkedHead(chunk: number): HeadModel {
  return { floatsPerToken: UNFUSED_HEAD_COPIES * chunk, describe: `[tokens, ${chunk}] chunks` };
}

/** Floats one token keeps in one decoder layer during forward + backward (without the attention rows). */
export function layerFloatsPerToken(c: ModelConfig): number {
  const qkv = (c.numHeads + 2 * c.numKvHeads) * c.headDim;
  return 8 * c.hiddenSize + 3 * qkv + 4 * c.intermediateSize;
}

/** Attention floats per token per layer: scores, probabilities and their gradient over a row of `seq` tokens. */
export function attentionFloatsPerToken(c: ModelConfig, seq: number): number {
  return 3 * c.numHeads * seq;
}

export interface StepMemoryInput {
  /** The model(s) the step runs: the Generator, and the Reasoner for FlyThinker. */
  models: readonly ModelConfig[];
  trainedWeights: number;
  frozenWeights: number;
  /** Padded tokens per micro-batch (rows x longest row). */
  batchTokens: number;
  /** The longest row a batch can have (attention is quadratic in it). */
  longestRow: number;
  head: HeadModel;
  /** Decoder layers recompute their activations in the backward pass. */
  checkpointActivations?: boolean;
  /** The update runs group by group in slices (default: when the trained weights exceed GROUPED_APPLY_BYTES). */
  groupedUpdate?: boolean;
}

/** Bytes per term of the step's peak; `total` is their sum. */
export interface StepMemoryEstimate {
  weights: number;
  /** The part of `weights` resident before training starts (the loaded models). */
  loaded: number;
  optimizer: number;
  update: number;
  activations: number;
  head: number;
  total: number;
  /** What the head term counts, for messages. */
  headDescribe: string;
}

export function estimateStepMemory(i: StepMemoryInput): StepMemoryEstimate {
  const loaded = FLOAT * (i.trainedWeights + i.frozenWeights);
  const weights = loaded + FLOAT * i.trainedWeights;
  const optimizer = 2 * FLOAT * i.trainedWeights;
  const grouped = i.groupedUpdate ?? FLOAT * i.trainedWeights > GROUPED_APPLY_BYTES;
  const update = grouped ? GROUPED_UPDATE_BYTES_PER_TRAINED * i.trainedWeights + GROUPED_UPDATE_SLACK : UPDATE_BYTES_PER_TRAINED * i.trainedWeights;
  const seq = Math.min(i.longestRow, i.batchTokens);
  let perToken = 0;
  for (const c of i.models) {
    const layer = layerFloatsPerToken(c) + attentionFloatsPerToken(c, seq);
    perToken += (i.checkpointActivations ? c.numLayers * c.hiddenSize + layer : c.numLayers * layer) + 2 * c.hiddenSize;
  }
  const activations = FLOAT * perToken * i.batchTokens;
  const head = FLOAT * i.head.floatsPerToken * i.batchTokens;
  const total = weights + optimizer + update + activations + head;
  return { weights, loaded, optimizer, update, activations, head, total, headDescribe: i.head.describe };
}

/** Trained and frozen weight counts of a pair (every weight the loss could reach counts as trained). */
export function pairWeightCounts(pair: PairConfig, freezeReasoner = false): { trained: number; frozen: number } {
  const g = parameterCount(pair.generator);
  const r = pair.reasoner ? parameterCount(pair.reasoner) : 0;
  const projection = pair.reasoner && pair.fusion.fuse === "projection" ? pair.generator.hiddenSize * pair.reasoner.hiddenSize : 0;
  return freezeReasoner ? { trained: g + projection, frozen: r } : { trained: g + r + projection, frozen: 0 };
}

/** Budgets tried, largest first: powers of two and 1.5 x powers of two from `max` down to `min` (and `min` itself). */
export function budgetCandidates(max: number, min: number): number[] {
  const out = new Set<number>();
  for (let p = 2 ** Math.floor(Math.log2(max)); p >= 1; p /= 2) {
    for (const b of [p * 1.5, p]) if (Number.isInteger(b) && b <= max && b >= min) out.add(b);
  }
  if (min <= max) out.add(min);
  return [...out].sort((a, b) => b - a);
}

export interface BudgetContext {
  pair: PairConfig;
  freezeReasoner?: boolean;
  /** Tokens of the longest training example (after cutting to the model's context). */
  longestExample: number;
  /** Bytes available now (MemAvailable). */
  available: number;
  /** The head's working set for a budget; defaults to the unfused head over the Generator's vocabulary. */
  head?: (batchTokens: number) => HeadModel;
  checkpointActivations?: boolean;
}

function inputFor(ctx: BudgetContext, batchTokens: number): StepMemoryInput {
  const { trained, frozen } = pairWeightCounts(ctx.pair, ctx.freezeReasoner);
  return {
    models: ctx.pair.reasoner ? [ctx.pair.generator, ctx.pair.reasoner] : [ctx.pair.generator],
    trainedWeights: trained,
    frozenWeights: frozen,
    batchTokens,
    longestRow: Math.min(ctx.longestExample, batchTokens),
    head: ctx.head ? ctx.head(batchTokens) : unfusedHead(ctx.pair.generator.vocabSize),
    checkpointActivations: ctx.checkpointActivations,
  };
}

/** Whether a step with this estimate fits: its new memory within SAFETY_SHARE of what is available. */
export function fits(e: StepMemoryEstimate, available: number): boolean {
  return e.total - e.loaded <= SAFETY_SHARE * available;
}

/** The numbers behind an estimate, for messages. */
export function describeEstimate(e: StepMemoryEstimate, available: number): string {
  return (
    `estimated peak ${formatBytes(e.total)} = weights ${formatBytes(e.weights)} + optimiser state ${formatBytes(e.optimizer)} + ` +
    `gradients and update ${formatBytes(e.update)} + activations ${formatBytes(e.activations)} + head ${formatBytes(e.head)} ` +
    `(${e.headDescribe}); available ${formatBytes(available)} free + ${formatBytes(e.loaded)} already loaded, ` +
    `of which a step may plan to use ${Math.round(SAFETY_SHARE * 100)}% of the free part`
  );
}

export interface BudgetChoice {
  batchTokens: number;
  estimate: StepMemoryEstimate;
}

/** Refuses a budget that cannot fit, before any training, with the numbers and what to do. */
export function checkBatchTokens(ctx: BudgetContext, batchTokens: number): BudgetChoice {
  const estimate = estimateStepMemory(inputFor(ctx, batchTokens));
  if (!fits(estimate, ctx.available)) {
    throw new UserError(
      `--batch-tokens ${batchTokens} does not fit in memory: ${describeEstimate(estimate, ctx.available)}. ` +
        `Lower --batch-tokens (and raise --grad-accum to keep the tokens per step), or use --checkpoint-activations.`,
    );
  }
  return { batchTokens, estimate };
}

/**
 * The largest candidate budget (<= `max`, >= the longest example) whose step fits; fails with the estimate of the
 * smallest candidate when none does.
 */
export function chooseBatchTokens(ctx: BudgetContext, max = MAX_AUTO_BATCH_TOKENS): BudgetChoice {
  const min = Math.min(ctx.longestExample, max);
  const candidates = budgetCandidates(max, min);
  for (const b of candidates) {
    const estimate = estimateStepMemory(inputFor(ctx, b));
    if (fits(estimate, ctx.available)) return { batchTokens: b, estimate };
  }
  const smallest = candidates[candidates.length - 1]!;
  const estimate = estimateStepMemory(inputFor(ctx, smallest));
  throw new UserError(
    `no --batch-tokens from ${max} down to the longest example (${min} tokens) fits in memory; at ${smallest}: ` +
      `${describeEstimate(estimate, ctx.available)}. ` +
      `Shorten the examples (--budget-profile, --budget-input, --budget-target), use --checkpoint-activations, ` +
      `or free memory.`,
  );
}
