// LongLaMP import: the benchmark's files as users download them from the Hugging Face hub (parquet, JSON arrays or
// JSON lines; configs <task>_user and <task>_temporal; splits train/val/test) -> canonical records. Profile items
// get `input`/`output` mapped per task; every original field is kept.

import { readFile } from "node:fs/promises";
import { createReadStream, existsSync } from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { asyncBufferFromFile, type Compressors, parquetMetadataAsync, parquetReadObjects, parquetSchema } from "hyparquet";
import { UserError } from "../util/errors.ts";
import type { ReadIssue } from "./io.ts";
import type { PersonalRecord, ProfileItem, Split } from "./record.ts";
import { renderTemplate } from "./templates.ts";

export interface LongLampTaskSpec {
  /** The record field naming the user. */
  userField: string;
  /** Fields every profile item must have. */
  profileFields: string[];
  /** Template of a profile item's canonical `input` (see templates.ts for placeholders). */
  profileInput: string;
  /** The profile item field that becomes its canonical `output`. */
  profileOutput: string;
}

/** Per-task mapping, as data (docs/data.md, LongLaMP). */
export const LONGLAMP_TASKS: Readonly<Record<string, LongLampTaskSpec>> = {
  product_review: {
    userField: "reviewerId",
    profileFields: ["overall", "summary", "description", "reviewText"],
    profileInput:
      'Generate the review text written by a reviewer who has given an overall rating of "{overall|float}" for a ' +
      'product with description "{description}". The summary of the review text is "{summary}".',
    profileOutput: "reviewText",
  },
  abstract_generation: {
    userField: "name",
    profileFields: ["title", "abstract"],
    profileInput: "{title}",
    profileOutput: "abstract",
  },
  topic_writing: {
    userField: "author",
    profileFields: ["summary", "content"],
    profileInput: "{summary}",
    profileOutput: "content",
  },
};

export const LONGLAMP_CONFIGS = ["user", "temporal"] as const;
export type LongLampConfig = (typeof LONGLAMP_CONFIGS)[number];

export function longLampSpec(task: string): LongLampTaskSpec {
  const spec = Object.prototype.hasOwnProperty.call(LONGLAMP_TASKS, task) ? LONGLAMP_TASKS[task] : undefined;
  if (!spec) {
    throw new UserError(`unknown LongLaMP task "${task}"; expected one of ${Object.keys(LONGLAMP_TASKS).join(", ")}`);
  }
  return spec;
}

/** Plain JSON-like values: bigints (parquet INT64) become numbers when exact, strings otherwise; Dates ISO strings. */
export function plainValue(v: unknown): unknown {
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("utf8");
  if (Array.isArray(v)) return v.map(plainValue);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plainValue(x);
    return out;
  }
  return v;
}

/** Decompressors beyond hyparquet's built-in snappy, from Node's zlib (ZSTD and LZ4 files are not supported). */
const PARQUET_COMPRESSORS: Compressors = {
  GZIP: (input) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input) => new Uint8Array(brotliDecompressSync(input)),
};

/** A raw LongLaMP row with where it came from (file:line or file:row). */
export interface RawRow {
  value: unknown;
  where: string;
}

export type LongLampFormat = "parquet" | "json" | "jsonl";

/** Guesses a file's format: .parquet, .jsonl, or .json (a JSON array, or JSON lines under a .json name). */
export async function detectFormat(file: string): Promise<LongLampFormat> {
  if (/\.parquet$/i.test(file)) return "parquet";
  if (/\.jsonl$/i.test(file)) return "jsonl";
  const head = await new Promise<string>((res, rej) => {
    const s = createReadStream(file, { encoding: "utf8", start: 0, end: 4095 });
    let acc = "";
    s.on("data", (c) => (acc += c));
    s.on("end", () => res(acc));
    s.on("error", rej);
  });
  return head.trimStart().startsWith("[") ? "json" : "jsonl";
}

function lineOfPosition(text: string, pos: number): number {
  let line = 1;
  for (let i = 0; i < pos && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Reads the raw rows of one file. A malformed JSON line is reported as file:line (strict: stop; else skip). */
export async function readRawRows(
  file: string,
  requiredColumns: readonly string[],
  report: (issue: ReadIssue) => void,
): Promise<RawRow[]> {
  if (!existsSync(file)) throw new UserError(`${file}: no such file`);
  const format = await detectFormat(file);
  if (format === "parquet") {
    let buffer;
    let columns: string[];
    try {
      buffer = await asyncBufferFromFile(file);
      const metadata = await parquetMetadataAsync(buffer);
      columns = parquetSchema(metadata).children.map((c) => c.element.name);
    } catch (err) {
      throw new UserError(`${file}: not a readable parquet file (${(err as Error).message})`);
    }
    const missing = requiredColumns.filter((c) => !columns.includes(c));
    if (missing.length > 0) {
      throw new UserError(
        `${file}: parquet file lacks column${missing.length > 1 ? "s" : ""} ${missing.join(", ")}; ` +
          `it has ${columns.join(", ") || "no columns"} (expected ${requiredColumns.join(", ")})`,
      );
    }
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: buffer, compressors: PARQUET_COMPRESSORS });
    } catch (err) {
      throw new UserError(`${file}: could not read parquet data (${(err as Error).message})`);
    }
    return rows.map((r, i) => ({ value: plainValue(r), where: `${file}:row ${i + 1}` }));
  }
  if (format === "json") {
    const text = await readFile(file, "utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      const msg = (err as Error).message;
      const pos = /position (\d+)/.exec(msg);
      const line = pos ? lineOfPosition(text, Number(pos[1])) : 1;
      throw new UserError(`${file}:${line}: malformed JSON (${msg})`);
    }
    if (!Array.isArray(parsed)) throw new UserError(`${file}: expected a JSON array of records`);
    // line numbers of array elements are not tracked; report the element index instead
    return parsed.map((v, i) => ({ value: plainValue(v), where: `${file}:element ${i + 1}` }));
  }
  const rows: RawRow[] = [];
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === "") continue;
    try {
      rows.push({ value: JSON.parse(line), where: `${file}:${lineNo}` });
    } catch (err) {
      report({ file, line: lineNo, where: `${file}:${lineNo}`, message: `malformed JSON (${(err as Error).message})` });
    }
  }
  return rows;
}

/** Converts one raw LongLaMP row into a canonical record; throws a UserError naming `where` when it cannot. */
export function longLampRecord(task: string, raw: unknown, id: string, where: string): PersonalRecord {
  const spec = longLampSpec(task);
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object`);
  const r = raw as Record<string, unknown>;
  for (const f of [spec.userField, "input", "output", "profile"]) {
    if (!(f in r) || r[f] === null || r[f] === undefined) {
      throw new UserError(`${where}: missing field "${f}" (LongLaMP ${task} records have ${spec.userField}, input, output, profile)`);
    }
  }
  for (const f of ["input", "output"]) {
    if (typeof r[f] !== "string") throw new UserError(`${where}: field "${f}" must be a string`);
  }
  if (!Array.isArray(r.profile)) throw new UserError(`${where}: field "profile" must be a list`);
  const profile: ProfileItem[] = r.profile.map((p, i) => {
    const pw = `${where}: profile[${i}]`;
    if (p === null || typeof p !== "object" || Array.isArray(p)) throw new UserError(`${pw} must be an object`);
    const item = p as Record<string, unknown>;
    for (const f of spec.profileFields) {
      if (!(f in item) || item[f] === null || item[f] === undefined) {
        throw new UserError(`${pw} is missing field "${f}" (expected ${spec.profileFields.join(", ")})`);
      }
    }
    const out: ProfileItem = {
      ...(item.id !== undefined && item.id !== null ? { id: String(item.id) } : {}),
      input: renderTemplate(spec.profileInput, item, pw),
      output: String(item[spec.profileOutput]),
    };
    for (const [k, v] of Object.entries(item)) if (k !== "id" && k !== "input" && k !== "output") out[k] = v;
    if (item.id !== undefined && item.id !== null && typeof item.id !== "string") out.sourceId = item.id;
    return out;
  });
  const rec: PersonalRecord = {
    id,
    task,
    user: String(r[spec.userField]),
    input: r.input as string,
    output: r.output as string,
    profile,
  };
  for (const [k, v] of Object.entries(r)) if (!(k in rec)) rec[k] = v;
  return rec;
}

/** Which split a file holds, from an explicit "split=path" or its name (train / val, validation, dev / test). */
export function splitOfInput(arg: string): { split: Split; file: string } {
  const m = /^(train|val|test)=(.+)$/.exec(arg);
  if (m) return { split: m[1] as Split, file: m[2]! };
  const name = basename(arg).toLowerCase();
  if (/(^|[^a-z])train/.test(name)) return { split: "train", file: arg };
  if (/(^|[^a-z])(val|validation|dev)([^a-z]|$)/.test(name)) return { split: "val", file: arg };
  if (/(^|[^a-z])test/.test(name)) return { split: "test", file: arg };
  throw new UserError(`${arg}: cannot tell the split from the file name; write it as train=${arg}, val=${arg} or test=${arg}`);
}

/** The config (user / temporal) named in a path such as "product_review_temporal/test.parquet", if any. */
export function configOfPath(file: string): LongLampConfig | undefined {
  const m = /_(user|temporal)([^a-z]|$)/i.exec(file);
  return m ? (m[1]!.toLowerCase() as LongLampConfig) : undefined;
}

export interface LongLampImportOptions {
  task: string;
  /** Files, each "path" (split from its name) or "split=path"; several files of one split are read in order. */
  inputs: readonly string[];
  config?: LongLampConfig;
  strict?: boolean;
  onIssue?: (issue: ReadIssue) => void;
  /** Accept an input file without rows and a split without records (refused otherwise). */
  allowEmpty?: boolean;
}

export interface LongLampImport {
  splits: Partial<Record<Split, PersonalRecord[]>>;
  issues: ReadIssue[];
  config: LongLampConfig | undefined;
  files: Array<{ split: Split; file: string; format: LongLampFormat; records: number }>;
}

/** Reads LongLaMP files into canonical records. Record ids are "<task>/<split>/<n>" (n counts from 0 across the
 * split's files), so the same data gives the same records whatever the file format. */
export async function importLongLamp(opts: LongLampImportOptions): Promise<LongLampImport> {
  const spec = longLampSpec(opts.task);
  if (opts.inputs.length === 0) throw new UserError("no input files; pass --in FILE...");
  if (opts.config !== undefined && !LONGLAMP_CONFIGS.includes(opts.config)) {
    throw new UserError(`unknown LongLaMP config "${opts.config}"; expected user or temporal`);
  }
  const issues: ReadIssue[] = [];
  const report = (issue: ReadIssue): void => {
    if (opts.strict) throw new UserError(`${issue.where}: ${issue.message}`);
    issues.push(issue);
    opts.onIssue?.(issue);
  };
  const splits: Partial<Record<Split, PersonalRecord[]>> = {};
  const files: LongLampImport["files"] = [];
  let config = opts.config;
  for (const arg of opts.inputs) {
    const { split, file } = splitOfInput(arg);
    const fromPath = configOfPath(file);
    if (opts.config === undefined && fromPath !== undefined) {
      if (config !== undefined && config !== fromPath) {
        throw new UserError(`${file}: mixes LongLaMP configs (${config} and ${fromPath}); import them separately`);
      }
      config = fromPath;
    }
    const required = [spec.userField, "input", "output", "profile"];
    const issuesBefore = issues.length;
    const rows = await readRawRows(file, required, report);
    const list = (splits[split] ??= []);
    let n = 0;
    for (const row of rows) {
      try {
        list.push(longLampRecord(opts.task, row.value, `${opts.task}/${split}/${list.length}`, row.where));
        n++;
      } catch (err) {
        if (!(err instanceof UserError) || opts.strict) throw err;
        const prefix = `${row.where}: `;
        const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
        report({ file, line: Number(/(\d+)$/.exec(row.where)![1]), where: row.where, message });
      }
    }
    if (rows.length > 0 && n === 0) {
      const found = [...new Set(rows.slice(0, 5).flatMap((r) => (r.value && typeof r.value === "object" && !Array.isArray(r.value) ? Object.keys(r.value) : [])))];
      throw new UserError(
        `${file}: none of its ${rows.length} rows is a LongLaMP ${opts.task} record (rows need ${required.join(", ")} with profile items of ` +
          `${spec.profileFields.join(", ")}); fields found: ${found.length ? found.join(", ") : "none"}. Is it another task's file?`,
      );
    }
    if (rows.length === 0 && issues.length === issuesBefore && !opts.allowEmpty) throw new UserError(`${file}: no rows (pass --allow-empty to import an empty file)`);
    files.push({ split, file, format: await detectFormat(file), records: n });
  }
  return { splits, issues, config, files };
}
