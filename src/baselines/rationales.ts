// CoT's rationale provider: the reasoning steps of a training example, keyed by record id. Either the built-in
// extractive style summary (./rationale.ts) of the history items the example's prompt shows, cached in the dataset
// folder (DATA/rationales/), or a JSONL file of {"id", "rationale"} lines written elsewhere (e.g. by a teacher LLM).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PersonalRecord } from "../data/record.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { readJsonlObjects } from "../util/jsonl.ts";
import { UserError } from "../util/errors.ts";
import { stepsOf } from "./cot.ts";
import { OPENING_WORDS, PHRASES, WORDS, rationaleSteps } from "./rationale.ts";
import type { IdfTable } from "./summary.ts";

/** CoT's options. */
export interface CotOptions {
  /** A JSONL file of {"id", "rationale"} to use instead of the built-in style summary. */
  rationales: string | null;
  /** ReST-EM iterations after the supervised run (0: none). */
  selfTrainIters: number;
  /** Outputs sampled per training input in each iteration. */
  selfTrainK: number;
}

export const DEFAULT_COT: Readonly<CotOptions> = { rationales: null, selfTrainIters: 0, selfTrainK: 4 };

/** Checks the options; errors name the command-line flag. */
export function checkCotOptions(o: CotOptions): CotOptions {
  if (o.rationales !== null && typeof o.rationales !== "string") throw new UserError("--rationales must be a file name");
  if (!Number.isInteger(o.selfTrainIters) || o.selfTrainIters < 0) throw new UserError(`--self-train-iters must be an integer >= 0, got ${o.selfTrainIters}`);
  if (!Number.isInteger(o.selfTrainK) || o.selfTrainK < 1) throw new UserError(`--self-train-k must be an integer >= 1, got ${o.selfTrainK}`);
  return o;
}

/**
 * The reasoning steps of a record's example: `shown` are the indices into record.profile of the history items its
 * prompt shows, `y` the expected output (as the target has it).
 */
export type RationaleOf = (record: PersonalRecord, shown: readonly number[], y: string) => string[];

/** A provider, and `flush()` to write what it computed to its cache (nothing for a file). */
export interface Rationales {
  of: RationaleOf;
  flush(): void;
}

const EXPECTED = 'an object with a string field "id" and a field "rationale" (a string, one step a line, or an array of strings)';

/** Reads a JSONL file of {"id", "rationale"}; errors name the file, the line and the record id. */
export function readRationaleFile(file: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = new Map<string, number>();
  for (const { line: n, object: o } of readJsonlObjects(file, { flag: "--rationales", expected: EXPECTED })) {
    if (typeof o.id !== "string") throw new UserError(`${file}:${n}: expected ${EXPECTED}`);
    const r = o.rationale;
    const steps = typeof r === "string" ? stepsOf(r) : Array.isArray(r) && r.every((s) => typeof s === "string") ? (r as string[]).map((s) => s.trim()).filter((s) => s !== "") : null;
    if (steps === null) throw new UserError(`${file}:${n}: record "${o.id}": field "rationale" must be a string or an array of strings`);
    if (lines.has(o.id)) throw new UserError(`${file}:${n}: record id "${o.id}" already has a rationale (line ${lines.get(o.id)})`);
    lines.set(o.id, n);
    out.set(o.id, steps);
  }
  return out;
}

/** Rationales from a file; the first record without one is an error naming the file, the id and how many lack one. */
export function fileRationales(file: string, records: readonly PersonalRecord[]): Rationales {
  const map = readRationaleFile(file);
  const missing = records.filter((r) => !map.has(r.id));
  if (missing.length > 0) throw new UserError(`${file}: no rationale for record "${missing[0]!.id}" (${missing.length} of ${records.length} records have none)`);
  return {
    of: (r) => {
      const s = map.get(r.id);
      if (s === undefined) throw new UserError(`${file}: no rationale for record "${r.id}"`);
      return s;
    },
    flush: () => {},
  };
}

/** The cache file of the built-in rationales under an idf table: every setting that changes a rationale is in its name. */
export function rationaleCacheFile(cacheDir: string, idf: IdfTable): string {
  const key = createHash("sha256").update(JSON.stringify({ v: 1, words: WORDS, phrases: PHRASES, opening: OPENING_WORDS, idf: idf.toJSON() })).digest("hex").slice(0, 16);
  return join(cacheDir, "rationales", `extractive-${key}.jsonl`);
}

/** What a rationale is computed from: the shown items and y (the cache key of an entry). */
function inputHash(record: PersonalRecord, shown: readonly number[], y: string): string {
  return createHash("sha256").update(JSON.stringify({ shown: shown.map((i) => record.profile[i]), y })).digest("hex").slice(0, 16);
}

/**
 * Built-in rationales with this idf table: read from the cache (`cacheDir`/rationales/) when an entry's inputs are
 * unchanged, the rest computed as asked for; `flush()` rewrites the cache (atomically) when anything was added.
 */
export function extractiveRationales(idf: IdfTable, cacheDir?: string): Rationales {
  const file = cacheDir !== undefined ? rationaleCacheFile(cacheDir, idf) : undefined;
  const cached = new Map<string, { key: string; steps: string[] }>();
  if (file && existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const o = JSON.parse(line) as { id?: unknown; key?: unknown; steps?: unknown };
        if (typeof o.id === "string" && typeof o.key === "string" && Array.isArray(o.steps) && o.steps.every((s) => typeof s === "string")) {
          cached.set(o.id, { key: o.key, steps: o.steps as string[] });
        }
      } catch {
        // a damaged cache line is recomputed
      }
    }
  }
  let added = 0;
  return {
    of: (record, shown, y) => {
      const key = inputHash(record, shown, y);
      const hit = cached.get(record.id);
      if (hit && hit.key === key) return hit.steps;
      const steps = rationaleSteps(shown.map((i) => record.profile[i]!), y, idf);
      cached.set(record.id, { key, steps });
      added++;
      return steps;
    },
    flush: () => {
      if (!file || added === 0) return;
      const lines = [...cached.entries()].map(([id, v]) => JSON.stringify({ id, key: v.key, steps: v.steps }));
      mkdirSync(dirname(file), { recursive: true });
      atomicWriteBytes(file, lines.join("\n") + "\n");
      added = 0;
    },
  };
}

/** The rationales of `records` under these options: the file's, or the built-in style summary's with this idf table. */
export function rationalesFor(cot: CotOptions, records: readonly PersonalRecord[], setup: { idf: () => IdfTable; cacheDir?: string }): Rationales {
  if (cot.rationales !== null) return fileRationales(cot.rationales, records);
  return extractiveRationales(setup.idf(), setup.cacheDir);
}
