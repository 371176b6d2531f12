// The prompt builder: a record's query plus k items of the user's history (the most recent ones, or the ones BM25
// finds most relevant to the query), each part held to its token budget by cutting at sentence boundaries, rendered
// with the task's template and wrapped in the tokenizer's chat template when it has one. Pure and deterministic.

import { UserError } from "../util/errors.ts";
import { Bm25, type Bm25Options, retrievalTokens } from "./bm25.ts";
import { type PersonalRecord, type ProfileItem, profileItemId } from "./record.ts";
import { placeholders, renderTemplate, type TaskTemplate, TASK_TEMPLATES, templateFor } from "./templates.ts";
import { type TokenCounter, truncateToTokens } from "./truncate.ts";

export type { TokenCounter } from "./truncate.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Renders messages with a model's chat template, ending with the prompt for the assistant's turn. */
export type ChatTemplateFn = (messages: ChatMessage[]) => string;

export type RetrievalMode = "recent" | "bm25";
export const RETRIEVAL_MODES: readonly RetrievalMode[] = ["recent", "bm25"];

export interface TokenBudgets {
  /** Tokens for all history items together (the rendered history clause). */
  profile: number;
  /** Tokens for the query. */
  input: number;
  /** Tokens for the reference response. */
  target: number;
}

export const DEFAULT_BUDGETS: Readonly<TokenBudgets> = { profile: 1250, input: 300, target: 1000 };
export const DEFAULT_HISTORY_K = 2;
export const DEFAULT_RETRIEVAL: RetrievalMode = "bm25";

export interface PromptOptions {
  /** Counts tokens (the model's tokenizer). */
  counter: TokenCounter;
  /** The model's chat template; without one the prompt is the plain user message. */
  chat?: ChatTemplateFn;
  /** History items to include (default 2; 0 = query only). */
  historyK?: number;
  /** How to choose them (default "bm25"). */
  retrieval?: RetrievalMode;
  budgets?: Partial<TokenBudgets>;
  /** Drop English stop words in BM25 tokens (default true). */
  stopWords?: boolean;
  bm25?: Bm25Options;
  /** Template table (default TASK_TEMPLATES). */
  templates?: Readonly<Record<string, TaskTemplate>>;
  /**
   * A summary of the user's history (LLM-TRSR), put first in the history clause as one more part, before the k
   * items; it shares the history budget with them. Empty or absent: no summary part (the prompt is the plain one).
   */
  summary?: string;
  /**
   * Put in place of the history clause when no history item is used (NextQuill's "None" counterfactual), with the
   * template for history; absent: the template without history.
   */
  emptyHistory?: string;
  /** Text put before the user message, a blank line between (CoT's REST-PG instruction); empty or absent: none. */
  instruction?: string;
}

export interface BuiltPrompt {
  /** What the model reads: the chat-templated user message (or the plain message without a chat template). */
  prompt: string;
  /** The user message inside the chat template. */
  message: string;
  /** The reference response, cut to the target budget. */
  target: string;
  /** The parts held to budgets: the history clause (rendered items joined), each rendered item, the query. */
  parts: { history: string; items: string[]; input: string };
  /** Indices into record.profile of the history items used, in prompt order. */
  usedHistory: number[];
  /** Their ids (the item's own id, or "#index"). */
  usedHistoryIds: string[];
  truncated: { history: boolean; input: boolean; target: boolean };
  /** Token counts of the parts held to budgets: history clause, query, target. */
  tokens: { history: number; input: number; target: number };
}

/** Indices of the history items to use, in prompt order. */
export function selectHistory(
  record: PersonalRecord,
  k: number,
  mode: RetrievalMode,
  template: TaskTemplate,
  opts: { stopWords?: boolean; bm25?: Bm25Options } = {},
): number[] {
  const n = record.profile.length;
  if (k <= 0 || n === 0) return [];
  if (mode === "recent") {
    // the profile is oldest first: the last k items, most recent first
    const out: number[] = [];
    for (let i = n - 1; i >= Math.max(0, n - k); i--) out.push(i);
    return out;
  }
  if (mode !== "bm25") throw new UserError(`unknown retrieval mode "${String(mode)}"; expected recent or bm25`);
  const tok = (s: string): string[] => retrievalTokens(s, { stopWords: opts.stopWords });
  const corpus = record.profile.map((item) =>
    tok(template.retrieval.map((f) => (item[f] === undefined || item[f] === null ? "" : String(item[f]))).join(" ")),
  );
  return new Bm25(corpus, opts.bm25).topN(tok(record.input), k);
}

interface RenderedItem {
  text: string;
  tokens: number;
  truncated: boolean;
}

/** Renders one history item within `budget` tokens, shortening the template's shrink fields in order; null when the
 * item cannot fit or nothing of the user's own text would be left. */
function renderItem(
  item: ProfileItem,
  template: TaskTemplate,
  budget: number,
  counter: TokenCounter,
  where: string,
): RenderedItem | null {
  const count = (s: string): number => counter.encode(s).length;
  const fields: Record<string, unknown> = { ...item };
  let text = renderTemplate(template.item, fields, where);
  let truncated = false;
  // Fit the fields one by one (the user's own text first): each gets what the rest of the item leaves.
  for (const f of template.shrink) {
    const original = fields[f] === undefined || fields[f] === null ? "" : String(fields[f]);
    if (original === "") continue;
    const fixed = count(renderTemplate(template.item, { ...fields, [f]: "" }, where));
    let allowed = budget - fixed;
    // token counts of a part and of the whole can differ by a few at the seams: shrink until the whole fits
    for (let tries = 0; tries < 8 && allowed > 0; tries++) {
      const cut = truncateToTokens(original, allowed, counter);
      fields[f] = cut.text;
      if (cut.truncated) truncated = true;
      text = renderTemplate(template.item, fields, where);
      const tokens = count(text);
      if (tokens <= budget) {
        // nothing left of the user's own text: the item is not worth its tokens
        if (f === template.shrink[0] && cut.text === "") return null;
        return { text, tokens, truncated };
      }
      allowed -= tokens - budget;
    }
    if (f === template.shrink[0]) return null;
    fields[f] = "";
    truncated = true;
    text = renderTemplate(template.item, fields, where);
  }
  const tokens = count(text);
  return tokens <= budget ? { text, tokens, truncated } : null;
}

/** The default wording of the summary part, for templates without a `summary` entry. */
export const SUMMARY_PART = '"{summary}" is a summary of what the user wrote before';

/** The summary part within `budget` tokens (the summary shortened further when the wording does not fit). */
function renderSummary(template: TaskTemplate, summary: string, counter: TokenCounter, budget: number, where: string): { text: string; tokens: number } | null {
  const wording = template.summary ?? SUMMARY_PART;
  const fixed = counter.encode(renderTemplate(wording, { summary: "" }, where)).length;
  let cut = truncateToTokens(summary, Math.max(0, budget - fixed), counter).text;
  for (let tries = 0; tries < 8 && cut !== ""; tries++) {
    const text = renderTemplate(wording, { summary: cut }, where);
    const tokens = counter.encode(text).length;
    if (tokens <= budget) return { text, tokens };
    cut = truncateToTokens(cut, Math.max(0, counter.encode(cut).length - (tokens - budget)), counter).text;
  }
  return null;
}

/** Builds the prompt for a record. */
export function buildPrompt(record: PersonalRecord, opts: PromptOptions): BuiltPrompt {
  const budgets: TokenBudgets = { ...DEFAULT_BUDGETS, ...opts.budgets };
  for (const [k, v] of Object.entries(budgets)) {
    if (!Number.isInteger(v) || v < 0) throw new UserError(`token budget "${k}" must be a non-negative integer, got ${v}`);
  }
  const k = opts.historyK ?? DEFAULT_HISTORY_K;
  if (!Number.isInteger(k) || k < 0) throw new UserError(`--history-k must be a non-negative integer, got ${k}`);
  const template = templateFor(record.task, opts.templates ?? TASK_TEMPLATES);
  const counter = opts.counter;
  const count = (s: string): number => (s === "" ? 0 : counter.encode(s).length);

  const input = truncateToTokens(record.input, budgets.input, counter);
  const target = truncateToTokens(record.output, budgets.target, counter);

  const chosen = selectHistory(record, k, opts.retrieval ?? DEFAULT_RETRIEVAL, template, opts);
  const joinerTokens = count(template.joiner);
  // The summary part, cut to the history budget (the items share what it leaves).
  const summaryPart = opts.summary ? renderSummary(template, opts.summary, counter, budgets.profile, record.id) : null;
  let history = "";
  let historyTruncated = false;
  let used: number[] = [];
  let items: string[] = [];
  let historyTokens = 0;
  // Each item may use an equal share of what is left (after the joiners still to come), so room an item leaves
  // goes to the items after it. `caps` lowers an item's share when the seams between items cost extra tokens.
  const caps: number[] = [];
  for (let attempt = 0; ; attempt++) {
    const parts: string[] = summaryPart ? [summaryPart.text] : [];
    const partTokens: number[] = summaryPart ? [summaryPart.tokens] : [];
    const slots: number[] = summaryPart ? [-1] : [];
    used = [];
    historyTruncated = false;
    let left = budgets.profile - (summaryPart?.tokens ?? 0);
    chosen.forEach((idx, j) => {
      const remaining = chosen.length - j;
      const joins = (parts.length > 0 ? 1 : 0) + remaining - 1;
      const share = Math.min(Math.floor((left - joins * joinerTokens) / remaining), caps[j] ?? Infinity);
      const r = share > 0 ? renderItem(record.profile[idx]!, template, share, counter, `${record.id} profile[${idx}]`) : null;
      if (!r) {
        historyTruncated = true;
        return;
      }
      left -= r.tokens + (parts.length > 0 ? joinerTokens : 0);
      parts.push(r.text);
      partTokens.push(r.tokens);
      slots.push(j);
      used.push(idx);
      if (r.truncated) historyTruncated = true;
    });
    history = parts.join(template.joiner);
    items = summaryPart ? parts.slice(1) : parts;
    historyTokens = count(history);
    const excess = historyTokens - budgets.profile;
    if (excess <= 0) break;
    if (attempt >= 16) {
      history = "";
      used = [];
      items = [];
      historyTokens = 0;
      historyTruncated = true;
      break;
    }
    const last = parts.length - 1;
    if (slots[last]! < 0) {
      // only the summary is left and the seams still overflow: no history part at all
      history = "";
      used = [];
      items = [];
      historyTokens = 0;
      historyTruncated = true;
      break;
    }
    caps[slots[last]!] = partTokens[last]! - excess;
  }

  const shown = history === "" && opts.emptyHistory !== undefined ? opts.emptyHistory : history;
  const message =
    shown !== ""
      ? renderTemplate(template.withHistory, { history: shown, input: input.text }, record.id)
      : renderTemplate(template.withoutHistory, { input: input.text }, record.id);
  const content = opts.instruction ? `${opts.instruction}\n\n${message}` : message;
  const prompt = opts.chat ? opts.chat([{ role: "user", content }]) : content;
  return {
    prompt,
    message: content,
    target: target.text,
    parts: { history, items, input: input.text },
    usedHistory: used,
    usedHistoryIds: used.map((i) => profileItemId(record.profile[i]!, i)),
    truncated: { history: historyTruncated, input: input.truncated, target: target.truncated },
    tokens: { history: historyTokens, input: input.tokens, target: target.tokens },
  };
}

/**
 * Why the prompt builder would refuse this record, or null: its task needs a template, and every history item the
 * fields the task's item template names (`data inspect` runs this, so it fails the records generation would).
 */
export function promptProblem(record: PersonalRecord, templates: Readonly<Record<string, TaskTemplate>> = TASK_TEMPLATES): string | null {
  let template: TaskTemplate;
  try {
    template = templateFor(record.task, templates);
  } catch (e) {
    return (e as Error).message;
  }
  const needed = placeholders(template.item);
  for (const [i, item] of record.profile.entries()) {
    const lacking = needed.filter((f) => !(f in item) || item[f] === undefined);
    if (lacking.length) return `profile[${i}] lacks ${lacking.map((f) => `"${f}"`).join(", ")}, needed by the ${record.task} prompt template`;
  }
  return null;
}
