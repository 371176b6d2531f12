// CoT's part of a training run: the prompt options it trains with (the caller's, plus REST-PG's instruction) and the
// rationales of the training and validation records (built-in style summaries with an idf table over the training
// users' histories, cached in the dataset folder; or a --rationales file).
import { COT_INSTRUCTION, bullets, formatCot } from "../baselines/cot.ts";
import { type CotOptions, type Rationales, DEFAULT_COT, checkCotOptions, rationalesFor } from "../baselines/rationales.ts";
import { IdfTable } from "../baselines/summary.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import type { PersonalRecord } from "../data/record.ts";
import { runRecords } from "./trsr.ts";

export interface CotSetup {
  options: CotOptions;
  prompt: PromptBuildOptions;
  rationales: Rationales;
  /** The training records (self-training samples for them). */
  train: PersonalRecord[];
}

/** The prompt options CoT trains and generates with. */
export function cotPrompt(prompt: PromptBuildOptions): PromptBuildOptions {
  return { ...prompt, instruction: COT_INSTRUCTION };
}

export async function cotSetup(data: string, valData: string | undefined, cot: CotOptions | undefined, prompt: PromptBuildOptions): Promise<CotSetup> {
  const options = checkCotOptions(cot ?? DEFAULT_COT);
  const { train, others, folder } = await runRecords(data, valData);
  const rationales = rationalesFor(options, [...train, ...others], { idf: () => IdfTable.fromRecords(train), cacheDir: folder ? data : undefined });
  return { options, prompt: cotPrompt(prompt), rationales, train };
}

/** CoT's training target: the rationale of the shown history items as bullets, the separator, then the response. */
export function cotTargetOf(rationales: Rationales): (record: PersonalRecord, shown: readonly number[], response: string) => string {
  return (record, shown, response) => formatCot(bullets(rationales.of(record, shown, response)), response);
}
