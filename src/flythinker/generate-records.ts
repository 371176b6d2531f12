// Generation for dataset records with any method: a trained FlyThinker pair (parallel or sequential decoding), an SFT
// Generator, or a plain model with a tuning-free baseline prompt (non-pers, rag). Prompts come from the same builder
// as training, so a trained model sees at inference exactly the prompt shape it was trained on; the tokens come from
// the generation session, batch by batch.
import { PairDecoder, type DecodeMode } from "./decode.ts";
import { pairStopIds, type PairModel } from "./model-generation.ts";
import { BASELINES, type BaselineKind } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import type { SamplingOptions } from "../model/sampling.ts";
import { generateRows, type GenerationResult } from "../model/generation/session.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";

export interface RecordGenerationOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Record i is sampled with seed + i. */
  seed: number;
  mode: DecodeMode;
  prompt: PromptBuildOptions;
  /** Build a tuning-free baseline's prompt instead of the trained prompt (history as in training). */
  baseline?: BaselineKind;
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
}

/** Authors' sampling (docs/method.md, Training). */
export const PAPER_SAMPLING: SamplingOptions = { temperature: 0.8, topP: 0.95 };

export async function* generateForRecords(
  model: PairModel,
  tok: TextTokenizer,
  records: readonly PersonalRecord[],
  opts: RecordGenerationOptions,
): AsyncGenerator<RecordPrediction> {
  const promptOpts: PromptBuildOptions = opts.baseline
    ? { ...opts.prompt, historyK: BASELINES[opts.baseline].historyK ?? opts.prompt.historyK, retrieval: BASELINES[opts.baseline].retrieval }
    : opts.prompt;
  // Record prompts go through the chat template whenever the tokenizer has one.
  const eosIds = pairStopIds(model, tok, tok.chatTemplate !== null);
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  const decoder = await PairDecoder.create(model, {
    mode: opts.mode,
    generatorThreads: opts.generatorThreads,
    reasonerThreads: opts.reasonerThreads,
    ...(opts.providers ? { providers: opts.providers } : {}),
  });
  const { greedy, temperature, topK, topP, repetitionPenalty } = opts;
  try {
    for (let start = 0; start < records.length; start += batch) {
      const chunk = records.slice(start, start + batch);
      const built = chunk.map((record) => recordPrompt(record, tok, promptOpts));
      const counts = chunk.map(() => 0);
      const first = chunk.map(() => 0);
      const last = chunk.map(() => 0);
      const events = generateRows(
        decoder,
        built.map((b) => b.promptIds),
        { greedy, temperature, topK, topP, repetitionPenalty, maxNewTokens: opts.maxNewTokens, seed: opts.seed + start, eosIds, stopStrings: opts.stopStrings },
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
        if (counts[row] === 0) first[row] = now;
        last[row] = now;
        counts[row]!++;
      }
      for (const [r, record] of chunk.entries()) {
        const n = counts[r]!;
        yield {
          id: record.id,
          user: record.user,
          prediction: results[r]!.text.trim(),
          reference: record.output,
          history: built[r]!.usedHistory.map((j) => record.profile[j]?.output ?? ""),
          prompt_tokens: built[r]!.promptIds.length,
          new_tokens: n,
          ms_per_token: n > 1 ? (last[r]! - first[r]!) / (n - 1) : 0,
        };
      }
    }
  } finally {
    await decoder.close();
  }
}
