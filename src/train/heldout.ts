// Held-out likelihood: the mean negative log-likelihood of each record's reference response (its target tokens, the
// end-of-turn token included) under a trained folder's model, teacher-forced with the prompt that model was trained
// with, through the very loss graph training evaluates (FlyThinker with its thoughts and enhancement mask). Records
// are fitted to the length training used (the same cut) and scored one at a time, so the token-weighted mean of the
// per-record values is what the trainer's validation loss gives on the same records.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { readDatasetSplits } from "../data/index.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import { buildLossGraph } from "../flythinker/graph.ts";
import { flattenPair, pairFromNamed } from "../flythinker/pair-params.ts";
import { readTrainedModel, type TrainedModel } from "../flythinker/trained-folder.ts";
import type { CompileOptions } from "../runtime/session.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { fitExamples, makeBatch, type Example } from "./batching.ts";
import { fileExamples, recordExamples } from "./examples.ts";
import { LossEvaluator } from "./steps.ts";

export interface HeldOutOptions {
  /** Dataset split when `data` is a folder (default "test"). */
  split?: string;
  compile?: CompileOptions;
  onProgress?: (done: number, total: number) => void;
}

export interface HeldOutResult {
  /** Record ids, in data order (records training would drop, for want of room for a target token, are left out). */
  ids: string[];
  /** Mean NLL per target token of each record (nats). */
  nll: number[];
  /** Target tokens scored per record. */
  tokens: number[];
}

/** The examples of `data` (a dataset folder's split, or a file) as the trained folder's training would build them. */
export async function heldOutExamples(model: TrainedModel, data: string, split = "test"): Promise<Example[]> {
  if (!existsSync(data)) throw new UserError(`--nll-data ${data}: no such file or folder`);
  const tok = TextTokenizer.fromDir(model.generatorDir);
  const prompt = ((model.manifest.training as { prompt?: PromptBuildOptions }).prompt ?? {}) as PromptBuildOptions;
  const config = model.pair.generator;
  if (statSync(data).isDirectory()) {
    const { splits } = await readDatasetSplits(data, { strict: true });
    const records = (splits as Record<string, unknown[] | undefined>)[split];
    if (!records || records.length === 0) throw new UserError(`${join(data, `${split}.jsonl`)}: no records of split "${split}"`);
    return recordExamples(records as Parameters<typeof recordExamples>[0], tok, prompt, config);
  }
  return fileExamples(data, tok, prompt, config);
}

/** The longest example training allowed: its batch budget, within both models' context. */
function trainedMaxLength(model: TrainedModel): number {
  const t = model.manifest.training as { batchTokens?: unknown };
  const context = Math.min(model.pair.generator.maxPositionEmbeddings, model.pair.reasoner?.maxPositionEmbeddings ?? Infinity);
  return typeof t.batchTokens === "number" ? Math.min(t.batchTokens, context) : context;
}

/** Per-record held-out NLL of `examples` under a trained folder. */
export async function heldOutNll(model: TrainedModel, examples: readonly Example[], opts: HeldOutOptions = {}): Promise<HeldOutResult> {
  const fly = model.manifest.method === "flythinker";
  const pair = fly ? model.pair : { generator: model.pair.generator, fusion: model.pair.fusion };
  const { examples: fitted } = fitExamples(examples, trainedMaxLength(model));
  const weights = flattenPair(pairFromNamed(pair, model, model.generatorDir));
  const lg = buildLossGraph(pair);
  const evaluator = await LossEvaluator.create(lg, opts.compile);
  const tok = TextTokenizer.fromDir(model.generatorDir);
  const padId = tok.padId ?? tok.eosId ?? 0;
  const out: HeldOutResult = { ids: [], nll: [], tokens: [] };
  for (let i = 0; i < fitted.length; i++) {
    const batch = makeBatch(fitted, [i], { padId, enhance: fly ? model.pair.fusion.enhance : undefined });
    const r = await evaluator.evaluate([batch], weights);
    out.ids.push(fitted[i]!.id ?? `#${i + 1}`);
    out.nll.push(r.loss);
    out.tokens.push(r.scored);
    opts.onProgress?.(i + 1, fitted.length);
  }
  return out;
}

/** Reads a trained folder and scores `data` with it. */
export async function heldOutNllOf(dir: string, data: string, opts: HeldOutOptions = {}): Promise<HeldOutResult> {
  const model = readTrainedModel(dir);
  return heldOutNll(model, await heldOutExamples(model, data, opts.split ?? "test"), opts);
}

