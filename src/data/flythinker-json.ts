// The dataset JSON of FlyThinker's published training code (the files its Train/create_dataset.py and inference
// scripts read: train_dataset.json, val_dataset.json, topic_writing_user.json, ...) -> canonical records.
//
// Each element is {"profile": str, "inp": str, "target": str}: the history is one text written out already (their
// scripts cut it to under 1,250 tokens at "." and put the query right after it), unlike LongLaMP's list of items.
// A record keeps that text as its single profile item under the task "prebuilt_history", whose template renders
// exactly history + query, so the prompt is theirs: the chat template around profile + inp. A user field, when an
// element has one ("user", "user_id", "reviewerId", "name", "author"), names the user; otherwise each element is
// its own user. Every other field is kept.

import { UserError } from "../util/errors.ts";
import type { ReadIssue } from "./io.ts";
import { type LongLampFormat, detectFormat, readRawRows, splitOfInput } from "./longlamp.ts";
import type { PersonalRecord, Split } from "./record.ts";

/** The task (and prompt template) of records imported from this format. */
export const PREBUILT_HISTORY_TASK = "prebuilt_history";
const FIELDS = ["profile", "inp", "target"] as const;
const USER_FIELDS = ["user", "user_id", "reviewerId", "name", "author"];

export interface FlyThinkerJsonImport {
  splits: Partial<Record<Split, PersonalRecord[]>>;
  issues: ReadIssue[];
  files: Array<{ split: Split; file: string; format: LongLampFormat; records: number }>;
}

/** One element -> a record; a UserError names `where` and the field. */
export function flyThinkerJsonRecord(raw: unknown, id: string, where: string): PersonalRecord {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object with profile, inp, target`);
  const r = raw as Record<string, unknown>;
  for (const f of FIELDS) {
    if (typeof r[f] !== "string") {
      throw new UserError(`${where}: field "${f}" must be a string, got ${r[f] === undefined ? "nothing" : JSON.stringify(r[f])?.slice(0, 40)}`);
    }
  }
  if ((r.inp as string).trim() === "") throw new UserError(`${where}: field "inp" is empty`);
  if ((r.target as string).trim() === "") throw new UserError(`${where}: field "target" is empty`);
  const userField = USER_FIELDS.find((f) => typeof r[f] === "string" || typeof r[f] === "number");
  const profile = (r.profile as string).trim() === "" ? [] : [{ input: "", output: r.profile as string }];
  const rec: PersonalRecord = {
    id,
    task: PREBUILT_HISTORY_TASK,
    user: userField !== undefined ? String(r[userField]) : id,
    input: r.inp as string,
    output: r.target as string,
    profile,
  };
  for (const [k, v] of Object.entries(r)) if (!(FIELDS as readonly string[]).includes(k) && !(k in rec)) rec[k] = v;
  return rec;
}

/** Reads the files ("path" with the split in its name, or "split=path"); ids are "flythinker-json/<split>/<n>". */
export async function importFlyThinkerJson(opts: {
  inputs: readonly string[];
  strict?: boolean;
  onIssue?: (issue: ReadIssue) => void;
}): Promise<FlyThinkerJsonImport> {
  if (opts.inputs.length === 0) throw new UserError("no input files; pass --in FILE...");
  const issues: ReadIssue[] = [];
  const report = (issue: ReadIssue): void => {
    if (opts.strict) throw new UserError(`${issue.where}: ${issue.message}`);
    issues.push(issue);
    opts.onIssue?.(issue);
  };
  const splits: Partial<Record<Split, PersonalRecord[]>> = {};
  const files: FlyThinkerJsonImport["files"] = [];
  for (const arg of opts.inputs) {
    const { split, file } = splitOfInput(arg);
    const rows = await readRawRows(file, FIELDS, report);
    const list = (splits[split] ??= []);
    let n = 0;
    for (const row of rows) {
      try {
        list.push(flyThinkerJsonRecord(row.value, `flythinker-json/${split}/${list.length}`, row.where));
        n++;
      } catch (err) {
        if (!(err instanceof UserError) || opts.strict) throw err;
        const prefix = `${row.where}: `;
        report({ file, line: Number(/(\d+)$/.exec(row.where)![1]), where: row.where, message: err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message });
      }
    }
    files.push({ split, file, format: await detectFormat(file), records: n });
  }
  return { splits, issues, files };
}
