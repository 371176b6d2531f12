// Reading small JSON-lines files of objects (side files such as summaries, rationales or text pairs): every
// non-blank line must be a JSON object; errors name the file and the line.
import { existsSync, readFileSync } from "node:fs";
import { UserError } from "./errors.ts";

export interface JsonlObject {
  /** 1-based line number in the file. */
  line: number;
  object: Record<string, unknown>;
}

export interface JsonlReadOptions {
  /** The flag that named the file, put before it in the missing-file error (e.g. "--summaries"). */
  flag?: string;
  /** What a line must be, for the error on a line that is not an object (e.g. 'an object with string field "id"'). */
  expected?: string;
}

/** The objects of a JSONL file, blank lines skipped; a missing file, malformed JSON or a non-object is a UserError. */
export function readJsonlObjects(file: string, opts: JsonlReadOptions = {}): JsonlObject[] {
  if (!existsSync(file)) throw new UserError(`${opts.flag ? `${opts.flag} ` : ""}${file}: no such file`);
  const out: JsonlObject[] = [];
  readFileSync(file, "utf8").split(/\r?\n/).forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === "") return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}:${line}: malformed JSON (${(e as Error).message})`);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new UserError(`${file}:${line}: expected ${opts.expected ?? "a JSON object"}`);
    out.push({ line, object: v as Record<string, unknown> });
  });
  return out;
}
