// The training methods as one table: each entry says whether the method trains a Reasoner, which loss graph its step
// runs, how a micro-batch of its examples is laid out and how many padded tokens an example takes. The trainer, the
// training run and the command line all read this table; a new method is one more entry (and its name in Method).
import type { Graph, Tensor } from "../graph/index.ts";
import { buildLossGraph, type PairConfig } from "../flythinker/graph.ts";
import type { PairParams } from "../flythinker/pair-params.ts";
import type { Method } from "../flythinker/manifest.ts";
import { type Batch, type Example, type PackOptions, exampleLength, makeBatch } from "./batching.ts";
import type { TrsrOptions } from "../baselines/summaries.ts";
import type { CotOptions } from "../baselines/rationales.ts";
import { COCONUT_INPUTS, type CoconutOptions, coconutTrainGraph, makeCoconutBatch } from "./coconut.ts";
import { type NextQuillOptions, DEFAULT_NEXTQUILL, NEXTQUILL_INPUTS, buildNextQuillGraph, makeNextQuillBatch, nextQuillCost } from "./nextquill.ts";

/** A step's loss graph: the loss, the scored-token count and the trained models' parameter trees. */
export interface TrainGraph extends PairParams<Tensor> {
  graph: Graph;
  loss: Tensor;
  count: Tensor;
  thoughtMask?: Tensor;
}

/** Options of the methods that have some (recorded in the run's config and its output folder). */
export interface MethodOptions {
  nextquill?: NextQuillOptions;
  trsr?: TrsrOptions;
  cot?: CotOptions;
  coconut?: CoconutOptions;
}

export interface GraphMemory {
  headChunk: number;
  checkpointActivations: boolean;
}

export interface MethodSpec {
  description: string;
  /** Trains a Generator + Reasoner pair (else the Generator alone). */
  reasoner: boolean;
  /** Examples need the record's history-free prompt as well. */
  counterfactual: boolean;
  /** Prompts carry a summary of the history (LLM-TRSR); the step is SFT's. */
  summaries?: boolean;
  /** Targets are rationale + separator + answer, the prompt carries the CoT instruction (CoT); the step is SFT's. */
  rationales?: boolean;
  /** A staged latent curriculum started from a CoT run, one Trainer run per stage (Coconut). */
  latentStages?: boolean;
  /** Graph inputs fed from batches (every other input is a weight). */
  dataInputs: readonly string[];
  graph(pair: PairConfig, memory: GraphMemory, options: MethodOptions): TrainGraph;
  batch(examples: readonly Example[], indices: readonly number[], opts: PackOptions): Batch;
  /** Padded tokens one example takes in a micro-batch (what the token budget counts). */
  cost(e: Example): number;
}

const sftLike = (description: string): MethodSpec => ({
  description,
  reasoner: false,
  counterfactual: false,
  dataInputs: ["ids", "labels"],
  graph: (pair, memory) => buildLossGraph({ generator: pair.generator, fusion: pair.fusion }, memory),
  batch: (examples, indices, opts) => makeBatch(examples, indices, { padId: opts.padId }),
  cost: exampleLength,
});

export const METHODS: Readonly<Record<Method, MethodSpec>> = {
  flythinker: {
    description: "Generator + Reasoner trained jointly, thoughts fused into the Generator's input",
    reasoner: true,
    counterfactual: false,
    dataInputs: ["ids", "labels", "thought_mask"],
    graph: (pair, memory) => buildLossGraph(pair, memory),
    batch: makeBatch,
    cost: exampleLength,
  },
  sft: sftLike("the Generator fine-tuned on the history prompt"),
  nextquill: {
    description: "SFT with history and history-free rows: preference-weighted tokens plus the logit-difference loss",
    reasoner: false,
    counterfactual: true,
    dataInputs: Object.values(NEXTQUILL_INPUTS),
    graph: (pair, memory, options) => buildNextQuillGraph(pair.generator, options.nextquill ?? DEFAULT_NEXTQUILL, memory),
    batch: (examples, indices, opts) => makeNextQuillBatch(examples, indices, { padId: opts.padId }),
    cost: nextQuillCost,
  },
  "llm-trsr": { ...sftLike("SFT on prompts whose history is a summary (plus the most recent items)"), summaries: true },
  cot: { ...sftLike("SFT on targets with a style-summary rationale before the answer (REST-PG layout), optional ReST-EM self-training"), rationales: true },
  coconut: {
    description: "a CoT run's Generator trained on a staged curriculum that replaces reasoning steps by latent thoughts",
    reasoner: false,
    counterfactual: false,
    latentStages: true,
    dataInputs: COCONUT_INPUTS,
    graph: (pair, memory, options) => coconutTrainGraph(pair, memory.headChunk, options.coconut),
    batch: makeCoconutBatch,
    cost: exampleLength,
  },
};

export { METHOD_NAMES } from "../flythinker/manifest.ts";

/** Rows an example takes in a micro-batch (for fitting examples to the token budget). */
export function rowsPerExample(method: Method): number {
  return METHODS[method].counterfactual ? 2 : 1;
}
