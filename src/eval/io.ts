// Reading prediction and reference files for `flythinker eval` and `flythinker metrics`, with errors that name the
// file and line.
//  - Plain text: one text per line ("\r\n" or "\n"; a final newline does not start another text; blank lines are
//    empty texts).
//  - JSONL: one JSON object per line; blank lines are skipped.
import { readFileSync } from "node:fs";
import { UserError } from "../util/errors.ts";
import { pairTextsById } from "./pairing.ts";

/** The file's text, or a UserError naming the line of the first byte sequence that is not UTF-8. */
export function readUtf8(file: string): string {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    throw new UserError(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    let text = new TextDecoder("utf-8", { fatal: true }).decode(buf);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return text;
  } catch {
    const decoder = new TextDecoder("utf-8", { fatal: true });
    let line = 1;
    let start = 0;
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        try {
          decoder.decode(buf.subarray(start, i));
        } catch {
          throw new UserError(`${file}:${line}: not valid UTF-8 text`);
        }
        line++;
        start = i + 1;
      }
    }
    throw new UserError(`${file}: not valid UTF-8 text`);
  }
}

/** Lines of a plain-text file, one text per line. */
export function splitTextLines(text: string): string[] {
  if (text.length === 0) return [];
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  if (text.endsWith("\n")) lines.pop();
  return lines;
}

export interface JsonlRow {
  line: number;
  value: Record<string, unknown>;
}

/** Parses JSONL text into objects with their line numbers. */
export function parseJsonl(text: string, file: string): JsonlRow[] {
  const rows: JsonlRow[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line.length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UserError(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new UserError(`${file}:${i + 1}: expected a JSON object`);
    }
    rows.push({ line: i + 1, value: value as Record<string, unknown> });
  });
  return rows;
}

/** The string field of a JSONL row, or a UserError naming file, line and field. */
export function stringField(row: JsonlRow, field: string, file: string): string {
  const v = row.value[field];
  if (v === undefined) throw new UserError(`${file}:${row.line}: missing field "${field}"`);
  if (typeof v !== "string") throw new UserError(`${file}:${row.line}: field "${field}" must be a string, got ${typeof v}`);
  return v;
}

/** Whether a file is JSONL: a .jsonl/.ndjson name, or a first non-blank line that starts with "{". */
export function looksLikeJsonl(file: string, text: string): boolean {
  if (/\.(jsonl|ndjson)$/i.test(file)) return true;
  if (/\.txt$/i.test(file)) return false;
  const first = text.split("\n").find((l) => l.trim().length > 0);
  return first !== undefined && first.trim().startsWith("{");
}

/** The texts of a --pred / --ref file: the lines of a plain-text file or one field of each JSONL row. */
export function readTexts(file: string, field: "prediction" | "reference"): { texts: string[]; jsonl: boolean; rows?: JsonlRow[] } {
  const text = readUtf8(file);
  if (looksLikeJsonl(file, text)) {
    const rows = parseJsonl(text, file);
    return { texts: rows.map((r) => stringField(r, field, file)), jsonl: true, rows };
  }
  return { texts: splitTextLines(text), jsonl: false };
}

/** The ids of JSONL rows when every row has one (a string or number), else null. */
function rowIds(rows: readonly JsonlRow[] | undefined, file: string): string[] | null {
  if (!rows || rows.length === 0 || rows.some((r) => r.value.id === undefined)) return null;
  return rows.map((r) => {
    const id = r.value.id;
    if (typeof id !== "string" && typeof id !== "number") throw new UserError(`${file}:${r.line}: field "id" must be a string or number`);
    return String(id);
  });
}

/**
 * Predictions and references for `flythinker metrics`; `refFile` may be omitted when `predFile` is JSONL with both.
 * Two JSONL files whose rows all have ids are paired by id (pairing.ts); otherwise line by line, and then both must
 * have the same number of lines.
 */
export function readPredictionsAndReferences(
  predFile: string,
  refFile?: string,
  opts: { allowPartial?: boolean } = {},
): { predictions: string[]; references: string[]; pairedBy: "id" | "line"; warnings: string[] } {
  const pred = readTexts(predFile, "prediction");
  if (refFile === undefined) {
    if (!pred.jsonl) throw new UserError(`--ref is required when ${predFile} is plain text`);
    return { predictions: pred.texts, references: pred.rows!.map((r) => stringField(r, "reference", predFile)), pairedBy: "line", warnings: [] };
  }
  const ref = readTexts(refFile, "reference");
  const predIds = rowIds(pred.rows, predFile);
  const refIds = rowIds(ref.rows, refFile);
  if (predIds && refIds) {
    const keyed = (ids: string[], texts: string[], rows: JsonlRow[]) => ids.map((id, i) => ({ id, line: rows[i]!.line, text: texts[i]! }));
    const p = pairTextsById(keyed(predIds, pred.texts, pred.rows!), keyed(refIds, ref.texts, ref.rows!), { pred: predFile, ref: refFile }, opts.allowPartial);
    return { predictions: p.predictions, references: p.references, pairedBy: "id", warnings: p.warnings };
  }
  if (pred.texts.length !== ref.texts.length) {
    const [longFile, longer, shortFile] =
      pred.texts.length > ref.texts.length ? [predFile, pred, refFile] : [refFile, ref, predFile];
    const extra = Math.min(pred.texts.length, ref.texts.length);
    const where = longer.jsonl ? `line ${longer.rows![extra]!.line}` : `line ${extra + 1}`;
    throw new UserError(
      `${predFile} has ${pred.texts.length} ${pred.jsonl ? "records" : "lines"} but ${refFile} has ${ref.texts.length}: ` +
        `${longFile} ${where} has no counterpart in ${shortFile}`,
    );
  }
  return { predictions: pred.texts, references: ref.texts, pairedBy: "line", warnings: [] };
}

/** One line of a preds.jsonl file given to `flythinker eval`. */
export interface PredictionRecord {
  id: string;
  user?: string;
  prediction: string;
  reference: string;
  /** The user's history (a string, or a list of earlier texts / profile items) for side-by-side samples. */
  history?: unknown;
  line: number;
  /** A CoT output without the answer separator (field "parse_failed"); absent for other methods' files. */
  parseFailed?: boolean;
}

/** Reads a preds.jsonl file: fields id (string or number; default "line-N"), user, prediction, reference, history/profile. */
export function readPredictionRecords(file: string): PredictionRecord[] {
  const rows = parseJsonl(readUtf8(file), file);
  if (rows.length === 0) throw new UserError(`${file}: no records`);
  const seen = new Map<string, number>();
  return rows.map((row) => {
    const rawId = row.value.id;
    let id: string;
    if (rawId === undefined) id = `line-${row.line}`;
    else if (typeof rawId === "string" || typeof rawId === "number") id = String(rawId);
    else throw new UserError(`${file}:${row.line}: field "id" must be a string or number`);
    const dup = seen.get(id);
    if (dup !== undefined) throw new UserError(`${file}:${row.line}: id "${id}" already used on line ${dup}`);
    seen.set(id, row.line);
    const user = row.value.user;
    if (user !== undefined && typeof user !== "string" && typeof user !== "number") {
      throw new UserError(`${file}:${row.line}: field "user" must be a string`);
    }
    return {
      id,
      user: user === undefined ? undefined : String(user),
      prediction: stringField(row, "prediction", file),
      reference: stringField(row, "reference", file),
      history: row.value.history ?? row.value.profile,
      line: row.line,
      ...(typeof row.value.parse_failed === "boolean" ? { parseFailed: row.value.parse_failed } : {}),
    };
  });
}

/** The records of a method given as several files (e.g. the shards of a sharded run); an id in two files is an error. */
export function readPredictionParts(files: readonly string[]): PredictionRecord[] {
  if (files.length === 1) return readPredictionRecords(files[0]!);
  const where = new Map<string, string>();
  const all: PredictionRecord[] = [];
  for (const file of files) {
    for (const r of readPredictionRecords(file)) {
      const first = where.get(r.id);
      if (first !== undefined) throw new UserError(`${file}:${r.line}: id "${r.id}" is also in ${first}`);
      where.set(r.id, `${file}:${r.line}`);
      all.push(r);
    }
  }
  return all;
}
