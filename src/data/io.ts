// Reading and writing canonical records: JSONL files (one record a line) and dataset folders holding
// train.jsonl / val.jsonl / test.jsonl plus a dataset.json card. Reading reports problems per file:line and either
// stops (strict) or skips the bad line; writing a folder is atomic (temporary sibling folder, then rename).

import { createReadStream, createWriteStream, existsSync, statSync } from "node:fs";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { UserError } from "../util/errors.ts";
import { ensureDir } from "../util/files.ts";
import { type PersonalRecord, type Split, SPLITS, validateRecord } from "./record.ts";

export interface ReadIssue {
  file: string;
  /** 1-based line number (or row / element number for parquet files and JSON arrays). */
  line: number;
  /** "file:line" (or "file:row N", "file:element N"), for messages. */
  where: string;
  message: string;
}

export interface ReadOptions {
  /** Stop at the first bad line (UserError "file:line: ..."); otherwise report it and skip the line. */
  strict?: boolean;
  /** Called for every skipped line (non-strict mode), e.g. to print it. */
  onIssue?: (issue: ReadIssue) => void;
  /** Allow records whose output is empty (e.g. test records to be generated). */
  allowEmptyOutput?: boolean;
}

export interface ReadResult {
  records: PersonalRecord[];
  issues: ReadIssue[];
}

/** Reads a JSONL file of canonical records; blank lines are ignored. */
export async function readJsonl(file: string, opts: ReadOptions = {}): Promise<ReadResult> {
  if (!existsSync(file)) throw new UserError(`${file}: no such file`);
  const records: PersonalRecord[] = [];
  const issues: ReadIssue[] = [];
  const report = (line: number, message: string): void => {
    if (opts.strict) throw new UserError(`${file}:${line}: ${message}`);
    const issue = { file, line, where: `${file}:${line}`, message };
    issues.push(issue);
    opts.onIssue?.(issue);
  };
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      report(lineNo, `malformed JSON (${(err as Error).message})`);
      continue;
    }
    try {
      records.push(validateRecord(value, `${file}:${lineNo}`, { allowEmptyOutput: opts.allowEmptyOutput }));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      if (opts.strict) throw err;
      const message = err.message.startsWith(`${file}:${lineNo}: `)
        ? err.message.slice(`${file}:${lineNo}: `.length)
        : err.message;
      report(lineNo, message);
    }
  }
  return { records, issues };
}

/** What a dataset.json card says besides the counts, which are computed when the folder is written. */
export interface CardInput {
  name: string;
  task: string;
  /** Where the data came from. */
  source: string;
  licence: string;
  /** How records were assigned to splits. */
  splitRule: string;
  [extra: string]: unknown;
}

/** The dataset.json card of a dataset folder. */
export interface DatasetCard extends CardInput {
  counts: Partial<Record<Split, { records: number; users: number }>>;
}

export function splitFile(dir: string, split: Split): string {
  return join(dir, `${split}.jsonl`);
}

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/** Reads the dataset.json card of a folder, or undefined when it has none. */
export async function readCard(dir: string): Promise<DatasetCard | undefined> {
  const file = join(dir, "dataset.json");
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(await readFile(file, "utf8")) as DatasetCard;
  } catch (err) {
    throw new UserError(`${file}: malformed JSON (${(err as Error).message})`);
  }
}

/**
 * Reads records from a dataset folder (the file of `split`, default "train") or from a single JSONL file
 * (`split` is then ignored).
 */
export async function readDataset(
  dirOrFile: string,
  opts: ReadOptions & { split?: Split } = {},
): Promise<ReadResult & { file: string; card?: DatasetCard }> {
  if (isDirectory(dirOrFile)) {
    const split = opts.split ?? "train";
    if (!SPLITS.includes(split)) throw new UserError(`unknown split "${split}"; expected one of ${SPLITS.join(", ")}`);
    const file = splitFile(dirOrFile, split);
    if (!existsSync(file)) {
      const present = SPLITS.filter((s) => existsSync(splitFile(dirOrFile, s)));
      throw new UserError(
        `${dirOrFile} has no ${split} split (${split}.jsonl)` +
          (present.length ? `; it has ${present.join(", ")}` : "; it holds no train/val/test .jsonl files"),
      );
    }
    return { ...(await readJsonl(file, opts)), file, card: await readCard(dirOrFile) };
  }
  if (!existsSync(dirOrFile)) throw new UserError(`${dirOrFile}: no such file or folder`);
  return { ...(await readJsonl(dirOrFile, opts)), file: dirOrFile };
}

/** Reads every split present in a dataset folder. */
export async function readDatasetSplits(
  dir: string,
  opts: ReadOptions = {},
): Promise<{ splits: Partial<Record<Split, PersonalRecord[]>>; issues: ReadIssue[]; card?: DatasetCard }> {
  if (!isDirectory(dir)) throw new UserError(`${dir}: not a dataset folder`);
  const splits: Partial<Record<Split, PersonalRecord[]>> = {};
  const issues: ReadIssue[] = [];
  for (const s of SPLITS) {
    const file = splitFile(dir, s);
    if (!existsSync(file)) continue;
    const r = await readJsonl(file, opts);
    splits[s] = r.records;
    issues.push(...r.issues);
  }
  return { splits, issues, card: await readCard(dir) };
}

/** Writes records as JSONL (one JSON object a line). */
export async function writeJsonl(file: string, records: Iterable<unknown>): Promise<void> {
  const out = createWriteStream(file, { encoding: "utf8" });
  const done = new Promise<void>((res, rej) => {
    out.on("finish", res);
    out.on("error", rej);
  });
  for (const r of records) {
    if (!out.write(JSON.stringify(r) + "\n")) await new Promise<void>((res) => out.once("drain", res));
  }
  out.end();
  await done;
}

/**
 * Builds a folder atomically: `fill` writes into a fresh temporary sibling folder, which is renamed to `outDir`
 * only when `fill` succeeds. An existing `outDir` is refused unless `overwrite` is set (then it is replaced).
 */
export async function writeDirAtomic(
  outDir: string,
  fill: (tmpDir: string) => Promise<void>,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  const target = resolve(outDir);
  if (existsSync(target) && !opts.overwrite) {
    throw new UserError(`${outDir} already exists; choose another --out or pass --force to replace it`);
  }
  const parent = dirname(target);
  ensureDir(parent, "output");
  const tmp = await mkdtemp(join(parent, `.${basename(target)}.tmp-`)).catch((e: NodeJS.ErrnoException) => {
    throw new UserError(`cannot write ${outDir}: no folder can be made in ${parent} (${e.code ?? e.message})`);
  });
  try {
    await fill(tmp);
    if (existsSync(target)) {
      const old = await mkdtemp(join(parent, `.${basename(target)}.old-`));
      await rename(target, join(old, "previous"));
      await rename(tmp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, target);
    }
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Number of distinct users among records. */
export function countUsers(records: readonly PersonalRecord[]): number {
  return new Set(records.map((r) => r.user)).size;
}

/** Writes a dataset folder (the given splits plus dataset.json) atomically. */
export async function writeDataset(
  outDir: string,
  splits: Partial<Record<Split, readonly PersonalRecord[]>>,
  card: CardInput,
  opts: { overwrite?: boolean } = {},
): Promise<DatasetCard> {
  const counts: DatasetCard["counts"] = {};
  for (const s of SPLITS) {
    const recs = splits[s];
    if (recs) counts[s] = { records: recs.length, users: countUsers(recs) };
  }
  const full: DatasetCard = { ...card, counts };
  await writeDirAtomic(
    outDir,
    async (tmp) => {
      for (const s of SPLITS) {
        const recs = splits[s];
        if (recs) await writeJsonl(splitFile(tmp, s), recs);
      }
      await writeFile(join(tmp, "dataset.json"), JSON.stringify(full, null, 2) + "\n");
    },
    opts,
  );
  return full;
}
