// Prompt templates per task, as data. The LongLaMP entries follow the benchmark's own phrasing (each history item
// one quoted clause, clauses joined with ", and ", then the query); the email entry follows the same pattern.
//
// Placeholders: {field} inserts a field of the history item (or {history} / {input} in the outer templates);
// {field|float} prints a number the way Python prints a float (5 -> "5.0"); {field|words:N} keeps the first N
// whitespace-separated words.

import { UserError } from "../util/errors.ts";

export interface TaskTemplate {
  /** One history item. */
  item: string;
  /** Between two rendered items. */
  joiner: string;
  /** The user message when history is given: {history} and {input}. */
  withHistory: string;
  /** The user message without history: {input}. */
  withoutHistory: string;
  /** Item fields that may be shortened to fit the history budget, the first one first (it is the user's text). */
  shrink: string[];
  /** Item fields joined with spaces to form the text BM25 retrieves on. */
  retrieval: string[];
  /** The history summary as a part of the history clause: {summary} (default SUMMARY_PART in prompt.ts). */
  summary?: string;
}

export const TASK_TEMPLATES: Readonly<Record<string, TaskTemplate>> = {
  product_review: {
    item: '"{overall|float}" is a rating for the product with description "{description}". "{summary}" is summary for "{reviewText}"',
    joiner: ", and ",
    withHistory: "{history}. Following the given patterns {input}",
    withoutHistory: "{input}",
    shrink: ["reviewText", "description", "summary"],
    retrieval: ["overall", "summary", "description", "reviewText"],
  },
  abstract_generation: {
    item: '"{abstract|words:750}" is the abstract for the title "{title}"',
    joiner: ", and ",
    withHistory:
      "{history}. Use the above abstracts as context to understand the style and language of the user and, {input}",
    withoutHistory: "{input}",
    shrink: ["abstract", "title"],
    retrieval: ["title", "abstract"],
  },
  topic_writing: {
    item: '"{summary}" is a summary for "{content}"',
    joiner: ", and ",
    withHistory: "{history}. Following the given patterns, {input}",
    withoutHistory: "{input}",
    shrink: ["content", "summary"],
    retrieval: ["summary", "content"],
  },
  // The authors' dataset JSON (data/flythinker-json.ts): one history text written out already, the query right after.
  prebuilt_history: {
    item: "{output}",
    joiner: "",
    withHistory: "{history}{input}",
    withoutHistory: "{input}",
    shrink: ["output"],
    retrieval: ["output"],
  },
  email: {
    item: '"{subject}" is the subject of the email "{output}"',
    joiner: ", and ",
    withHistory: "{history}. Following the given patterns, {input}",
    withoutHistory: "{input}",
    shrink: ["output", "subject"],
    retrieval: ["subject", "output"],
  },
};

/** The template of a task, or a UserError naming the known tasks. */
export function templateFor(task: string, table: Readonly<Record<string, TaskTemplate>> = TASK_TEMPLATES): TaskTemplate {
  const t = Object.prototype.hasOwnProperty.call(table, task) ? table[task] : undefined;
  if (!t) {
    throw new UserError(`no prompt template for task "${task}"; known tasks: ${Object.keys(table).join(", ")}`);
  }
  return t;
}

/** Python's str() of a float: integers get ".0"; other numbers print as JavaScript prints them. */
function pythonFloat(v: unknown): string {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (Number.isNaN(n)) return String(v ?? "");
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

function applyFilter(value: unknown, filter: string | undefined): string {
  if (filter === undefined) return value === undefined || value === null ? "" : String(value);
  const [name, arg] = filter.split(":");
  if (name === "float") return pythonFloat(value);
  if (name === "words") {
    const n = Number(arg);
    return String(value ?? "")
      .split(/\s+/)
      .filter((w) => w !== "")
      .slice(0, n)
      .join(" ");
  }
  throw new UserError(`unknown template filter "${filter}"`);
}

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)(?:\|([a-z]+(?::\d+)?))?\}/g;

/** Field names a template string refers to. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** Fills a template string from `fields`; a missing field is a UserError naming `where`. */
export function renderTemplate(template: string, fields: Readonly<Record<string, unknown>>, where = "template"): string {
  return template.replace(PLACEHOLDER, (_all, name: string, filter: string | undefined) => {
    if (!(name in fields) || fields[name] === undefined) {
      throw new UserError(`${where}: missing field "${name}" needed by the prompt template`);
    }
    return applyFilter(fields[name], filter);
  });
}
