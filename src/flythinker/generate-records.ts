// Generation for dataset records with any method: a trained FlyThinker pair (parallel or sequential decoding), an SFT
// Generator, or a plain model with a tuning-free baseline (non-pers, rag, cos). Prompts come from the same builder
// as training, so a trained model sees at inference exactly the prompt shape it was trained on; the tokens come from
// the generation session, batch by batch. CoS decodes each record as two tied rows (RAG's prompt and non-pers's).
import { PairDecoder, floatPair, type DecodeMode } from "./decode.ts";
import type { Manifest } from "./manifest.ts";
import { CoconutStepModel } from "../baselines/coconut/decoder.ts";
import { type LatentTokens, inferencePrompt } from "../baselines/coconut/layout.ts";
import { latentTokensOf } from "../baselines/coconut/markers.ts";
import { pairStopIds, type PairModel } from "./model-generation.ts";
import { BASELINES, baselinePromptOptions, cosProcessors, cosRows, type BaselineKind } from "../baselines/index.ts";
import { parseAnswer } from "../baselines/cot.ts";
import { checkLambda } from "../model/generation/steering.ts";
import type { PersonalRecord } from "../data/index.ts";
import { recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import type { SamplingOptions } from "../model/sampling.ts";
import { generateRows, type GenerationResult } from "../model/generation/session.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";

/**
 * The "as long as the reference" rule of the demo's generations: a record's text may not stop before
 * min(maxNewTokens, its reference's token count) + `extra` new tokens (`extra`: CoT's and Coconut's reasoning allowance).
 */
export function referenceLengthMinimum(tok: TextTokenizer, maxNewTokens: number, extra = 0): (record: PersonalRecord) => number {
  return (r) => Math.min(maxNewTokens, tok.encode(r.output).length) + extra;
}

export interface RecordGenerationOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Fewest new tokens before a stop id may end a record's text: one number, or one per record (default 0). */
  minNewTokens?: number | ((record: PersonalRecord) => number);
  /** Record i is sampled with seed + firstIndex + i, whatever batch it is decoded in. */
  seed: number;
  /** Index of records[0] in the whole list (a shard's or a resumed run's offset; default 0). */
  firstIndex?: number;
  /**
   * A record whose prompt cannot be built (a UserError of the prompt builder): "stop" (default) yields the records
   * before it and then throws a UserError naming it; "skip" reports it through onSkip and goes on.
   */
  onBadRecord?: "stop" | "skip";
  onSkip?: (id: string, reason: string) => void;
  mode: DecodeMode;
  prompt: PromptBuildOptions;
  /** Build a tuning-free baseline's prompt instead of the trained prompt (history as in training). */
  baseline?: BaselineKind;
  /** Steering strength of the cos baseline (default 1): any real number, 0 = RAG, -1 = non-pers. */
  cosLambda?: number;
  /** Texts that end a record's text (cut before them). */
  stopStrings?: readonly string[];
  generatorThreads?: number;
  reasonerThreads?: number;
  /** ONNX Runtime execution providers of both models (default ["cpu"]; see runtime/session.ts deviceProviders). */
  providers?: string[];
  /**
   * Records decoded together (default 1). Larger batches give more tokens per second, each record's text depending
   * only on its own seed; per-record latency then grows with the batch.
   */
  batch?: number;
  /**
   * A Coconut model: each prompt gets <bot>, `latents` latent slots and <eot>, decoded with the latent passes
   * (CoconutStepModel); the output is parsed as a CoT output (the last stage drops every step: separator, answer).
   */
  coconut?: CoconutDecoding;
  /** A CoT model's outputs: the prediction is the answer after the separator, the whole output is kept as `raw`. */
  cot?: boolean;
}

export interface RecordPrediction {
  id: string;
  user: string;
  prediction: string;
  reference: string;
  /** Outputs of the history items the prompt used (for side-by-side reading). */
  history: string[];
  prompt_tokens: number;
  /** Tokens decoded, the stop id included. */
  new_tokens: number;
  ms_per_token: number;
  /** CoT: the whole output (rationale, separator, answer); `prediction` is the answer parsed from it. */
  raw?: string;
  /** CoT: no separator in the output (the prediction is then the whole output). */
  parse_failed?: boolean;
}

/** How a Coconut folder decodes: its marker ids and its last stage's latent count. */
export interface CoconutDecoding {
  tokens: LatentTokens;
  stage: number;
  maxLatentStage: number;
  c: number;
}

/** The Coconut decoding of a trained folder's manifest (undefined for every other method). */
export function coconutDecodingOf(manifest: Manifest, tok: TextTokenizer): CoconutDecoding | undefined {
  if (manifest.method !== "coconut") return undefined;
  const o = (manifest.training as { coconut?: { stage?: number; maxLatentStage?: number; c?: number } }).coconut;
  if (!o || typeof o.stage !== "number" || typeof o.maxLatentStage !== "number" || typeof o.c !== "number") {
    throw new UserError(`a coconut folder's manifest needs training.coconut with stage, maxLatentStage and c`);
  }
  return { tokens: latentTokensOf(tok), stage: o.stage, maxLatentStage: o.maxLatentStage, c: o.c };
}

/** The cos baseline's lambda when none is given. */
export const DEFAULT_COS_LAMBDA = 1;

/** Authors' sampling (docs/method.md, Training). */
export const PAPER_SAMPLING: SamplingOptions = { temperature: 0.8, topP: 0.95 };

export async function* generateForRecords(
  model: PairModel,
  tok: TextTokenizer,
  records: readonly PersonalRecord[],
  opts: RecordGenerationOptions,
): AsyncGenerator<RecordPrediction> {
  const promptOpts: PromptBuildOptions = opts.baseline ? baselinePromptOptions(opts.baseline, opts.prompt) : opts.prompt;
  const against = opts.baseline ? BASELINES[opts.baseline].against : undefined;
  const againstOpts = against ? baselinePromptOptions(against, opts.prompt) : undefined;
  const lambda = checkLambda(opts.cosLambda ?? DEFAULT_COS_LAMBDA);
  // Record prompts go through the chat template whenever the tokenizer has one.
  const eosIds = pairStopIds(model, tok, tok.chatTemplate !== null);
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  const coconut = opts.coconut;
  if (coconut && opts.baseline) throw new UserError("a Coconut model takes no tuning-free baseline");
  const decoder = coconut
    ? await CoconutStepModel.create(model.pair.generator, floatPair(model, "Coconut decoding").generator, coconut.tokens)
    : await PairDecoder.create(model, {
      mode: opts.mode,
      generatorThreads: opts.generatorThreads,
      reasonerThreads: opts.reasonerThreads,
      ...(opts.providers ? { providers: opts.providers } : {}),
    });
  // Coconut: question + <bot> + c * min(stage, max) latent slots + <eot>.
  const promptOf = (ids: number[]): number[] => (coconut ? inferencePrompt(ids, coconut.tokens, coconut) : ids);
  const { greedy, temperature, topK, topP, repetitionPenalty } = opts;
  const first = opts.firstIndex ?? 0;
  try {
    for (let start = 0; start < records.length; start += batch) {
      const all = records.slice(start, start + batch);
      const chunk: PersonalRecord[] = [];
      const built: ReturnType<typeof recordPrompt>[] = [];
      const seeds: number[] = [];
      let failure: UserError | undefined;
      for (const [k, record] of all.entries()) {
        try {
          built.push(recordPrompt(record, tok, promptOpts));
        } catch (e) {
          if (!(e instanceof UserError)) throw e;
          const reason = e.message;
          if (opts.onBadRecord === "skip") {
            opts.onSkip?.(record.id, reason);
            continue;
          }
          failure = new UserError(`record "${record.id}" (number ${first + start + k + 1}): its prompt cannot be built: ${reason}`);
          break;
        }
        chunk.push(record);
        seeds.push(opts.seed + first + start + k);
      }
      if (chunk.length === 0) {
        if (failure) throw failure;
        continue;
      }
      const sampling = { greedy, temperature, topK, topP, repetitionPenalty };
      // CoS: rows 0..n-1 sample (RAG's prompts), rows n..2n-1 follow them (non-pers's prompts).
      const rows = againstOpts
        ? cosRows(built.map((b) => b.promptIds), chunk.map((record) => recordPrompt(record, tok, againstOpts).promptIds))
        : { prompts: built.map((b) => promptOf(b.promptIds)), tiedTo: undefined };
      const mins = opts.minNewTokens === undefined ? undefined : chunk.map((r) => (typeof opts.minNewTokens === "function" ? opts.minNewTokens(r) : opts.minNewTokens!));
      const counts = chunk.map(() => 0);
      const firstAt = chunk.map(() => 0);
      const last = chunk.map(() => 0);
      const events = generateRows(
        decoder,
        rows.prompts,
        {
          ...sampling,
          maxNewTokens: opts.maxNewTokens,
          ...(mins ? { minNewTokens: rows.tiedTo ? [...mins, ...mins] : mins } : {}),
          seed: opts.seed + first + start,
          // A record's seed is its position in the dataset, so skipped records and shards do not shift the others'
          // (a CoS follower never samples: it repeats its leader's seed).
          rowSeeds: rows.tiedTo ? [...seeds, ...seeds] : seeds,
          eosIds,
          stopStrings: opts.stopStrings,
          ...(rows.tiedTo ? { tiedTo: rows.tiedTo, processors: cosProcessors(sampling, lambda) } : {}),
        },
        tok,
      );
      let results: GenerationResult[];
      for (;;) {
        const e = await events.next();
        if (e.done) {
          results = e.value;
          break;
        }
        const now = performance.now();
        const row = e.value.row;
        if (counts[row] === 0) firstAt[row] = now;
        last[row] = now;
        counts[row]!++;
      }
      for (const [r, record] of chunk.entries()) {
        const n = counts[r]!;
        const text = results[r]!.text.trim();
        const parsed = opts.cot || coconut ? parseAnswer(text) : undefined;
        yield {
          id: record.id,
          user: record.user,
          prediction: parsed ? parsed.answer.trim() : text,
          ...(parsed ? { raw: text, parse_failed: parsed.parseFailed } : {}),
          reference: record.output,
          history: built[r]!.usedHistory.map((j) => record.profile[j]?.output ?? ""),
          prompt_tokens: rows.prompts[r]!.length,
          new_tokens: n,
          ms_per_token: n > 1 ? (last[r]! - firstAt[r]!) / (n - 1) : 0,
        };
      }
      if (failure) throw failure;
    }
  } finally {
    if (decoder instanceof CoconutStepModel) await decoder.release();
    else await decoder.close();
  }
}
