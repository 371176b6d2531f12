// A JSONL output written record by record so that nothing finished is lost: every record is appended to
// `OUT.partial` and fsynced; `OUT.run.json` describes the run (its options) and is written before the first record;
// on success `OUT.partial` is renamed to `OUT`. A later run with `resume` reads the records already in `OUT.partial`
// (a line cut by a kill is dropped), refuses if its options differ from `OUT.run.json`, and appends the rest.
import { accessSync, closeSync, constants, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UserError } from "./errors.ts";
import { atomicWriteBytes, writeAll } from "./files.ts";

export type RunDescription = Record<string, unknown>;

export interface ResumableJsonl {
  /** The records already written by an earlier run (resume), in file order. */
  readonly done: Record<string, unknown>[];
  /** True when OUT was already complete (resume of a finished run): nothing is to be written. */
  readonly complete: boolean;
  /** The mutable part of OUT.run.json as the earlier run left it (see `note`). */
  readonly progress: Record<string, unknown>;
  /** Appends one record (one line) and flushes it to disk. */
  append(record: object): void;
  /** Updates the mutable part of OUT.run.json (e.g. records skipped so far); not compared on resume. */
  note(progress: Record<string, unknown>): void;
  /** Flushes, closes and renames OUT.partial to OUT. */
  finish(): void;
  /** Closes without finishing (OUT.partial stays for a resume). */
  close(): void;
}

export const partialFile = (out: string): string => `${out}.partial`;
export const runFile = (out: string): string => `${out}.run.json`;

/** A UserError for a failed write that names the file and, on a full disk, the bytes that did not fit. */
export function writeError(file: string, err: unknown, bytes?: number): UserError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOSPC") {
    return new UserError(`no space left on the device of ${dirname(resolve(file))} writing ${file}${bytes !== undefined ? ` (${bytes} more bytes needed)` : ""}`);
  }
  if (e.code === "EROFS") return new UserError(`${file}: the file system of ${dirname(resolve(file))} is read-only`);
  if (e.code === "EACCES" || e.code === "EPERM") return new UserError(`${file}: no permission to write in ${dirname(resolve(file))}`);
  return new UserError(`cannot write ${file}: ${e.message}`);
}

/** Checks that `dir` is an existing, writable folder; the message names `what` (e.g. "--out"). */
export function checkWritableFolder(dir: string, what: string): void {
  if (!existsSync(dir)) throw new UserError(`${what}: the folder ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UserError(`${what}: ${dir} is not a folder`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UserError(`${what}: the folder ${dir} is not writable`);
  }
}

/** Keys whose values differ between two run descriptions, as "key: then X, now Y" lines. */
export function differences(then: RunDescription, now: RunDescription): string[] {
  const keys = [...new Set([...Object.keys(then), ...Object.keys(now)])].sort();
  return keys
    .filter((k) => JSON.stringify(then[k]) !== JSON.stringify(now[k]))
    .map((k) => `${k}: ${JSON.stringify(then[k]) ?? "(none)"} then, ${JSON.stringify(now[k]) ?? "(none)"} now`);
}

export function readRun(out: string): { run: RunDescription; progress: Record<string, unknown> } {
  const file = runFile(out);
  let v: { run?: RunDescription; progress?: Record<string, unknown> };
  try {
    v = JSON.parse(readFileSync(file, "utf8")) as typeof v;
  } catch (e) {
    throw new UserError(`${file}: cannot read the run description (${(e as Error).message})`);
  }
  if (!v.run || typeof v.run !== "object") throw new UserError(`${file}: no "run" object`);
  return { run: v.run, progress: v.progress ?? {} };
}

/** Complete lines of a JSONL file as objects; `cut` is the byte length of the complete lines. */
function readLines(file: string): { rows: Record<string, unknown>[]; cut: number; size: number } {
  const buf = readFileSync(file);
  const end = buf.lastIndexOf(0x0a) + 1;
  const rows: Record<string, unknown>[] = [];
  buf
    .subarray(0, end)
    .toString("utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      try {
        rows.push(JSON.parse(line) as Record<string, unknown>);
      } catch (e) {
        throw new UserError(`${file}:${i + 1}: not valid JSON (${(e as Error).message}); remove the file to start over`);
      }
    });
  return { rows, cut: end, size: buf.length };
}

export interface OpenOptions {
  /** Continue an unfinished (or confirm a finished) run with the same description. */
  resume?: boolean;
  /** Discard an unfinished run's OUT.partial instead of refusing. */
  discard?: boolean;
  /** The flag that resumes, for messages (default "--resume"). */
  resumeFlag?: string;
}

/**
 * Opens `out` for streamed writing. Refuses (UserError) a missing or unwritable folder, an unfinished run without
 * `resume` or `discard`, and a resume whose run description differs from the stored one.
 */
export function openResumableJsonl(out: string, run: RunDescription, opts: OpenOptions = {}): ResumableJsonl {
  const flag = opts.resumeFlag ?? "--resume";
  checkWritableFolder(dirname(resolve(out)), "--out");
  if (existsSync(out) && statSync(out).isDirectory()) throw new UserError(`--out ${out} is a folder; give a file name`);
  const partial = partialFile(out);
  let done: Record<string, unknown>[] = [];
  let progress: Record<string, unknown> = {};
  let cut: number | undefined;
  const checkSame = (what: string) => {
    const stored = readRun(out);
    const diffs = differences(stored.run, run);
    if (diffs.length) {
      throw new UserError(`${runFile(out)}: ${what} was made with other settings; rerun with the same ones or choose another --out:\n  ${diffs.join("\n  ")}`);
    }
    return stored;
  };
  if (existsSync(partial)) {
    if (opts.resume) {
      progress = checkSame(`the unfinished run in ${partial}`).progress;
      const lines = readLines(partial);
      done = lines.rows;
      if (lines.cut < lines.size) cut = lines.cut;
    } else if (opts.discard) {
      rmSync(partial, { force: true });
    } else {
      const n = readLines(partial).rows.length;
      throw new UserError(`${partial} holds ${n} records of an unfinished run; pass ${flag} to continue it, or --force to start over`);
    }
  } else if (opts.resume && existsSync(out) && existsSync(runFile(out))) {
    checkSame(out);
    return {
      done: readLines(out).rows,
      complete: true,
      progress: {},
      append: () => {
        throw new Error(`${out} is complete`);
      },
      note: () => {},
      finish: () => {},
      close: () => {},
    };
  }
  const writeRun = () => {
    try {
      atomicWriteBytes(runFile(out), JSON.stringify({ run, progress }, null, 2) + "\n");
    } catch (e) {
      throw writeError(runFile(out), e);
    }
  };
  writeRun();
  let fd: number;
  try {
    fd = openSync(partial, "a");
    if (cut !== undefined) ftruncateSync(fd, cut); // drop a line cut short by a kill
  } catch (e) {
    throw writeError(partial, e);
  }
  let open = true;
  const close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return {
    done,
    complete: false,
    progress: { ...progress },
    append(record) {
      const line = Buffer.from(JSON.stringify(record) + "\n", "utf8");
      try {
        writeAll(fd, line);
        fsyncSync(fd);
      } catch (e) {
        throw writeError(partial, e, line.length);
      }
    },
    note(p) {
      progress = { ...progress, ...p };
      writeRun();
    },
    finish() {
      try {
        fsyncSync(fd);
        close();
        renameSync(partial, out);
      } catch (e) {
        throw writeError(out, e);
      }
    },
    close,
  };
}
