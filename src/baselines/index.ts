// Tuning-free baselines: prompts for a model used as it is. `non-pers` gives the query only; `rag` gives the query
// plus the top-k history items BM25 retrieves for it; `cos` (context steering, ./cos.ts) decodes RAG's prompt and
// non-pers's together and samples from RAG's distribution pushed away from non-pers's by lambda. All go through the
// same prompt builder (templates, budgets, chat template) as the trained methods, so only the history differs. Used
// by `flythinker generate --baseline`.

import { UserError } from "../util/errors.ts";
import { buildPrompt, type BuiltPrompt, DEFAULT_HISTORY_K, type PromptOptions, type RetrievalMode } from "../data/prompt.ts";
import type { PersonalRecord } from "../data/record.ts";

export type BaselineKind = "non-pers" | "rag" | "cos";

interface BaselineSpec {
  description: string;
  /** History items: a fixed number, or undefined to take the caller's k (default 2). */
  historyK?: number;
  retrieval: RetrievalMode;
  /** A second stream without context whose distribution each step is steered away from (cos). */
  against?: Exclude<BaselineKind, "cos">;
}

/** The baselines, as data. */
export const BASELINES: Readonly<Record<BaselineKind, BaselineSpec>> = {
  "non-pers": { description: "query only, no history", historyK: 0, retrieval: "bm25" },
  rag: { description: "query plus the top-k history items retrieved by BM25", retrieval: "bm25" },
  cos: { description: "context steering: RAG's prompt, each step steered away from non-pers by lambda", retrieval: "bm25", against: "non-pers" },
};

export const BASELINE_KINDS = Object.keys(BASELINES) as BaselineKind[];

/** "a, b or c". */
function orList(xs: readonly string[]): string {
  return xs.length < 2 ? xs.join("") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`;
}

/** Checks a --baseline value. */
export function parseBaselineKind(value: string, flag = "--baseline"): BaselineKind {
  if (!(BASELINE_KINDS as string[]).includes(value)) {
    throw new UserError(`unknown ${flag} "${value}"; expected ${orList(BASELINE_KINDS)}`);
  }
  return value as BaselineKind;
}

/** Prompt options of a baseline's (first) stream on top of the caller's: its k and its retrieval. */
export function baselinePromptOptions<O extends { historyK?: number; retrieval?: RetrievalMode }>(kind: BaselineKind, opts: O): O {
  const spec = BASELINES[parseBaselineKind(kind)];
  return { ...opts, historyK: spec.historyK ?? opts.historyK ?? DEFAULT_HISTORY_K, retrieval: spec.retrieval };
}

/**
 * The prompt of a baseline for a record (for cos, its stream with context: RAG's). `opts.historyK` sets k for rag
 * and cos (default 2); non-pers ignores it.
 */
export function baselinePrompt(record: PersonalRecord, kind: BaselineKind, opts: PromptOptions): BuiltPrompt {
  return buildPrompt(record, baselinePromptOptions(kind, opts));
}

export { COS_LAMBDA_GRID, cosProcessors, cosRows, parseCosLambda } from "./cos.ts";
