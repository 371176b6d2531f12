// Generation for dataset records with any method: a trained FlyThinker pair (parallel or sequential decoding), an SFT
// Generator, or a plain model with a tuning-free baseline prompt (non-pers, rag). Prompts come from the same builder
// as training, so a trained model sees at inference exactly the prompt shape it was trained on.
import { PairDecoder, type PairWeights, type DecodeMode } from "./decode.ts";
import { BASELINES, type BaselineKind } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { recordPrompt, endOfTargetId, type PromptBuildOptions } from "../data/prompt-ids.ts";
import { Sampler, type SamplingOptions } from "../model/sampling.ts";
import { TextAssembler } from "../model/generate.ts";
import { eosTokenIds } from "../model/config.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";

export interface RecordGenerationOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Record i is sampled with seed + i. */
  seed: number;
  mode: DecodeMode;
  prompt: PromptBuildOptions;
  /** Build a tuning-free baseline's prompt instead of the trained prompt (history as in training). */
  baseline?: BaselineKind;
  generatorThreads?: number;
  reasonerThreads?: number;
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
  new_tokens: number;
  ms_per_token: number;
}

/** Authors' sampling (docs/method.md, Training). */
export const PAPER_SAMPLING: SamplingOptions = { temperature: 0.8, topP: 0.95 };

export async function* generateForRecords(
  model: PairWeights,
  tok: TextTokenizer,
  records: readonly PersonalRecord[],
  opts: RecordGenerationOptions,
): AsyncGenerator<RecordPrediction> {
  const promptOpts: PromptBuildOptions = opts.baseline
    ? { ...opts.prompt, historyK: BASELINES[opts.baseline].historyK ?? opts.prompt.historyK, retrieval: BASELINES[opts.baseline].retrieval }
    : opts.prompt;
  const stopIds = new Set<number>(eosTokenIds(model.pair.generator));
  const end = endOfTargetId(tok, model.pair.generator);
  if (end !== null) stopIds.add(end);
  if (tok.eosId !== null) stopIds.add(tok.eosId);

  const decoder = await PairDecoder.create(model, {
    mode: opts.mode,
    generatorThreads: opts.generatorThreads,
    reasonerThreads: opts.reasonerThreads,
  });
  const batch = opts.batch ?? 1;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  try {
    for (let start = 0; start < records.length; start += batch) {
      const chunk = records.slice(start, start + batch);
      const built = chunk.map((record) => recordPrompt(record, tok, promptOpts));
      const samplers = chunk.map((_, r) => new Sampler(opts, opts.seed + start + r));
      const texts = chunk.map(() => new TextAssembler(tok));
      const histories = built.map((b) => [...b.promptIds]);
      const counts = chunk.map(() => 0);
      const first = chunk.map(() => 0);
      const last = chunk.map(() => 0);
      const pick = (row: number, logits: Float32Array) => samplers[row]!.next(logits, histories[row]!);
      const steps = decoder.decodeBatch(built.map((b) => b.promptIds), pick, opts.maxNewTokens, (id) => stopIds.has(id));
      for await (const step of steps) {
        const now = performance.now();
        for (const { row, id } of step) {
          if (counts[row] === 0) first[row] = now;
          last[row] = now;
          counts[row]!++;
          histories[row]!.push(id);
          if (!stopIds.has(id)) texts[row]!.push(id);
        }
      }
      for (const [r, record] of chunk.entries()) {
        texts[r]!.flush();
        const n = counts[r]!;
        yield {
          id: record.id,
          user: record.user,
          prediction: texts[r]!.text.trim(),
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
