// Generation for dataset records with any method: a trained FlyThinker pair (parallel or sequential decoding), an SFT
// Generator, or a plain model with a tuning-free baseline prompt (non-pers, rag). Prompts come from the same builder
// as training, so a trained model sees at inference exactly the prompt shape it was trained on.
import { PairDecoder, type PairWeights, type DecodeMode } from "./decode.ts";
import { BASELINES, type BaselineKind } from "../baselines/index.ts";
import type { PersonalRecord } from "../data/index.ts";
import { recordPrompt, endOfTargetId, type PromptBuildOptions } from "../train/examples.ts";
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

/** Authors' sampling (DESIGN.md section 1). */
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
  try {
    for (const [i, record] of records.entries()) {
      const built = recordPrompt(record, tok, promptOpts);
      const sampler = new Sampler(opts, opts.seed + i);
      const text = new TextAssembler(tok);
      const history = [...built.promptIds];
      let n = 0;
      let t0 = 0;
      const pick = (logits: Float32Array) => sampler.next(logits, history);
      for await (const step of decoder.decode(built.promptIds, pick, opts.maxNewTokens, (id) => stopIds.has(id))) {
        if (n === 0) t0 = performance.now();
        n++;
        history.push(step.id);
        if (!stopIds.has(step.id)) text.push(step.id);
      }
      const elapsed = performance.now() - t0;
      text.flush();
      yield {
        id: record.id,
        user: record.user,
        prediction: text.text.trim(),
        reference: record.output,
        history: built.usedHistory.map((j) => record.profile[j]?.output ?? ""),
        prompt_tokens: built.promptIds.length,
        new_tokens: n,
        ms_per_token: n > 1 ? elapsed / (n - 1) : 0,
      };
    }
  } finally {
    await decoder.close();
  }
}
