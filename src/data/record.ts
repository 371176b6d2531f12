// The canonical personalised record every part of the project reads: one query (`input`) with its reference
// response (`output`) by one user, plus that user's history (`profile`) as earlier query/response pairs.
// Extra fields (the original dataset's fields) are kept as they are.

import { UserError } from "../util/errors.ts";

/** One item of a user's history: an earlier query and what the user wrote for it, plus any original fields. */
export interface ProfileItem {
  /** Optional identifier of the item (kept from the source when it has one). */
  id?: string;
  input: string;
  output: string;
  [extra: string]: unknown;
}

/** A canonical record. */
export interface PersonalRecord {
  id: string;
  /** Task name: a key of the prompt template table (product_review, abstract_generation, topic_writing, email). */
  task: string;
  /** The user (author, reviewer, sender) who wrote `output` and the profile items. */
  user: string;
  input: string;
  output: string;
  /** The user's history, oldest first; may be empty. */
  profile: ProfileItem[];
  [extra: string]: unknown;
}

export type Split = "train" | "val" | "test";
export const SPLITS: readonly Split[] = ["train", "val", "test"];

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return value === "" ? "an empty string" : "a string";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/**
 * Checks that `value` is a canonical record; returns it typed, or throws a UserError naming `where`
 * (e.g. "data/train.jsonl:12") and the offending field. `input` may be empty only when `allowEmptyInput` is set;
 * `output` must be a string (empty allowed for test-time records only when `allowEmptyOutput` is set).
 */
export function validateRecord(
  value: unknown,
  where = "record",
  opts: { allowEmptyInput?: boolean; allowEmptyOutput?: boolean } = {},
): PersonalRecord {
  const fail = (msg: string): never => {
    throw new UserError(`${where}: ${msg}`);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    fail(`expected a JSON object with id, task, user, input, output, profile; got ${describe(value)}`);
  }
  const r = value as Record<string, unknown>;
  for (const key of ["id", "task", "user"] as const) {
    if (typeof r[key] !== "string" || (r[key] as string).trim() === "") {
      fail(`field "${key}" must be a non-empty string, got ${r[key] === undefined ? "nothing" : describe(r[key])}`);
    }
  }
  for (const key of ["input", "output"] as const) {
    if (!(key in r)) fail(`record ${JSON.stringify(r.id)} is missing field "${key}"`);
    if (typeof r[key] !== "string") fail(`field "${key}" must be a string, got ${describe(r[key])}`);
  }
  if ((r.input as string).trim() === "" && !opts.allowEmptyInput) {
    fail(`record ${JSON.stringify(r.id)} has an empty "input"`);
  }
  if ((r.output as string).trim() === "" && !opts.allowEmptyOutput) {
    fail(`record ${JSON.stringify(r.id)} has an empty "output"`);
  }
  if (!Array.isArray(r.profile)) {
    fail(`field "profile" must be an array (possibly empty), got ${r.profile === undefined ? "nothing" : describe(r.profile)}`);
  }
  (r.profile as unknown[]).forEach((item, i) => {
    if (item === null || typeof item !== "object" || Array.isArray(item)) {
      fail(`profile[${i}] must be an object with input and output, got ${describe(item)}`);
    }
    const p = item as Record<string, unknown>;
    for (const key of ["input", "output"] as const) {
      if (typeof p[key] !== "string") {
        fail(`profile[${i}].${key} must be a string, got ${p[key] === undefined ? "nothing" : describe(p[key])}`);
      }
    }
    if (p.id !== undefined && typeof p.id !== "string") fail(`profile[${i}].id must be a string when present`);
  });
  return r as PersonalRecord;
}

/** A display id for a profile item: its own id, or "#index" within the record's profile. */
export function profileItemId(item: ProfileItem, index: number): string {
  return item.id ?? `#${index}`;
}
