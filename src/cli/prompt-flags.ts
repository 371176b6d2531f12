// Command-line flags of the prompt builder, shared by every command that builds prompts (train, generate, ...):
// --history-k, --retrieval, --budget-profile / --budget-input / --budget-target, --no-stop-words.

import type { Command } from "commander";
import { UserError } from "../util/errors.ts";
import { intFlag } from "./flags.ts";
import { DEFAULT_BUDGETS, DEFAULT_HISTORY_K, DEFAULT_RETRIEVAL, type PromptOptions, RETRIEVAL_MODES, type RetrievalMode } from "../data/prompt.ts";

export interface PromptFlags {
  historyK?: string;
  retrieval?: string;
  budgetProfile?: string;
  budgetInput?: string;
  budgetTarget?: string;
  stopWords?: boolean;
}

/** Adds the prompt flags to a command. */
export function addPromptFlags(cmd: Command): Command {
  return cmd
    .option("--history-k <n>", "history items in each prompt", String(DEFAULT_HISTORY_K))
    .option("--retrieval <mode>", `how history items are chosen: ${RETRIEVAL_MODES.join(" | ")}`, DEFAULT_RETRIEVAL)
    .option("--budget-profile <tokens>", "token budget of the history part", String(DEFAULT_BUDGETS.profile))
    .option("--budget-input <tokens>", "token budget of the query", String(DEFAULT_BUDGETS.input))
    .option("--budget-target <tokens>", "token budget of the reference response", String(DEFAULT_BUDGETS.target))
    .option("--no-stop-words", "keep English stop words when retrieving with BM25");
}

function nonNegativeInt(value: string | undefined, flag: string, fallback: number): number {
  return value === undefined ? fallback : intFlag(value, flag, { min: 0 });
}

/** Prompt options (all but the tokenizer parts) from parsed flags. */
export function promptOptionsFromFlags(flags: PromptFlags): Omit<PromptOptions, "counter" | "chat"> {
  const retrieval = (flags.retrieval ?? DEFAULT_RETRIEVAL) as RetrievalMode;
  if (!RETRIEVAL_MODES.includes(retrieval)) {
    throw new UserError(`--retrieval must be ${RETRIEVAL_MODES.join(" or ")}, got "${flags.retrieval}"`);
  }
  return {
    historyK: nonNegativeInt(flags.historyK, "--history-k", DEFAULT_HISTORY_K),
    retrieval,
    budgets: {
      profile: nonNegativeInt(flags.budgetProfile, "--budget-profile", DEFAULT_BUDGETS.profile),
      input: nonNegativeInt(flags.budgetInput, "--budget-input", DEFAULT_BUDGETS.input),
      target: nonNegativeInt(flags.budgetTarget, "--budget-target", DEFAULT_BUDGETS.target),
    },
    stopWords: flags.stopWords !== false,
  };
}
