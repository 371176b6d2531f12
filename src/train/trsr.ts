// LLM-TRSR's part of a training run: the prompt options it trains with (the R most recent items after the summary)
// and the summaries of the training and validation records (built-in summariser with an idf table over the training
// users' histories, cached in the dataset folder; or a --summaries file).
import { existsSync, statSync } from "node:fs";
import { readDatasetSplits, readJsonl, type PersonalRecord } from "../data/index.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import { IdfTable } from "../baselines/summary.ts";
import { type SummaryOf, type TrsrOptions, DEFAULT_TRSR, checkTrsrOptions, summariesFor } from "../baselines/summaries.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { isPairsFile } from "./examples.ts";

export interface TrsrSetup {
  options: TrsrOptions;
  prompt: PromptBuildOptions;
  summaryOf: SummaryOf;
  /** The idf table of the built-in summariser (null with a --summaries file). */
  idf: IdfTable | null;
}

/** The prompt options LLM-TRSR trains and generates with: the most recent `recent` items, after the summary. */
export function trsrPrompt(prompt: PromptBuildOptions, o: TrsrOptions): PromptBuildOptions {
  return { ...prompt, historyK: o.recent, retrieval: "recent" };
}

async function recordsOf(file: string): Promise<PersonalRecord[]> {
  if (await isPairsFile(file)) throw new UserError(`${file}: this method needs records (history and query), not {"prompt", "target"} pairs`);
  return (await readJsonl(file, { strict: true })).records;
}

/** The records of a run's data (a dataset folder's train and val splits, or record files), for side inputs. */
export async function runRecords(data: string, valData: string | undefined): Promise<{ train: PersonalRecord[]; others: PersonalRecord[]; folder: boolean }> {
  if (!existsSync(data)) throw new UserError(`--data ${data}: no such file or folder`);
  const folder = statSync(data).isDirectory();
  let train: PersonalRecord[];
  let others: PersonalRecord[] = [];
  if (folder) {
    const { splits } = await readDatasetSplits(data, { strict: true });
    train = splits.train ?? [];
    others = splits.val ?? [];
  } else {
    train = await recordsOf(data);
  }
  if (valData) others = await recordsOf(valData);
  return { train, others, folder };
}

export async function trsrSetup(data: string, valData: string | undefined, trsr: TrsrOptions | undefined, prompt: PromptBuildOptions, tok: TextTokenizer): Promise<TrsrSetup> {
  const options = checkTrsrOptions(trsr ?? DEFAULT_TRSR);
  const { train, others, folder } = await runRecords(data, valData);
  const idf = options.summaries === null ? IdfTable.fromRecords(train) : null;
  const summaryOf = summariesFor(options, [...train, ...others], {
    idf: () => idf!,
    counter: { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) },
    tokenizer: tok.fingerprint,
    cacheDir: folder ? data : undefined,
  });
  return { options, prompt: trsrPrompt(prompt, options), summaryOf, idf };
}
