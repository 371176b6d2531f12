// Tuning-free baselines: prompts for a model used as it is. `non-pers` gives the query only; `rag` gives the query
// plus the top-k history items BM25 retrieves for it. Both go through the same prompt builder (templates, budgets,
// chat template) as the trained methods, so only the history differs. Used by `flythinker generate --baseline`.

import { UserError } from "../util/errors.ts";
import { buildPrompt, type BuiltPrompt, DEFAULT_HISTORY_K, type PromptOptions, type RetrievalMode } from "../data/prompt.ts";
import type { PersonalRecord } from "../data/record.ts";

export type BaselineKind = "non-pers" | "rag";

interface BaselineSpec {
  description: string;
  /** History items: a fixed number, or undefined to take the caller's k (default 2). */
  historyK?: number;
  retrieval: RetrievalMode;
}

/** The baselines, as data. */
export const BASELINES: Readonly<Record<BaselineKind, BaselineSpec>> = {
  "non-pers": { description: "query only, no history", historyK: 0, retrieval: "bm25" },
  rag: { description: "query plus the top-k history items retrieved by BM25", retrieval: "bm25" },
};

export const BASELINE_KINDS = Object.keys(BASELINES) as BaselineKind[];

/** Checks a --baseline value. */
export function parseBaselineKind(value: string): BaselineKind {
  if (!(BASELINE_KINDS as string[]).includes(value)) {
    throw new UserError(`unknown baseline "${value}"; expected ${BASELINE_KINDS.join(" or ")}`);
  }
  return value as BaselineKind;
}

/** The prompt of a baseline for a record. `opts.historyK` sets k for rag (default 2); non-pers ignores it. */
export function baselinePrompt(record: PersonalRecord, kind: BaselineKind, opts: PromptOptions): BuiltPrompt {
  const spec = BASELINES[parseBaselineKind(kind)];
  return buildPrompt(record, {
    ...opts,
    historyK: spec.historyK ?? opts.historyK ?? DEFAULT_HISTORY_K,
    retrieval: spec.retrieval,
  });
}
