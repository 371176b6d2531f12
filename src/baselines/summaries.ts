// LLM-TRSR's summary provider: the summary of a record's history, keyed by record id. Either the built-in extractive
// summariser (./summary.ts), with its results cached in the dataset folder (DATA/summaries/), or a JSONL file of
// {"id", "summary"} lines written elsewhere (e.g. by a real LLM). Training and generation take summaries from the
// same provider, so a model sees at inference the prompt shape it was trained on.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { PersonalRecord } from "../data/record.ts";
import type { TokenCounter } from "../data/truncate.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { readJsonlObjects } from "../util/jsonl.ts";
import { UserError } from "../util/errors.ts";
import { BLOCK_SIZE, ExtractiveSummariser, IdfTable, MAX_BLOCKS, MMR_LAMBDA, SUMMARY_MODES, SUMMARY_TOKENS, type SummaryMode } from "./summary.ts";

/** LLM-TRSR's options. */
export interface TrsrOptions {
  /** How block summaries combine (built-in summariser). */
  mode: SummaryMode;
  /** The most recent history items put in the prompt after the summary (the prompt's k, retrieval "recent"). */
  recent: number;
  /** A JSONL file of {"id", "summary"} to use instead of the built-in summariser. */
  summaries: string | null;
}

export const DEFAULT_TRSR: Readonly<TrsrOptions> = { mode: "recurrent", recent: 0, summaries: null };

/** Checks the options; errors name the command-line flag. */
export function checkTrsrOptions(o: TrsrOptions): TrsrOptions {
  if (!SUMMARY_MODES.includes(o.mode)) throw new UserError(`--trsr-mode must be ${SUMMARY_MODES.join(" or ")}, got "${String(o.mode)}"`);
  if (!Number.isInteger(o.recent) || o.recent < 0) throw new UserError(`--trsr-recent must be an integer >= 0, got ${o.recent}`);
  if (o.summaries !== null && typeof o.summaries !== "string") throw new UserError(`--summaries must be a file name`);
  return o;
}

/** The summary of a record's history. */
export type SummaryOf = (record: PersonalRecord) => string;

/** Reads a JSONL file of {"id": string, "summary": string}; errors name the file and the line. */
export function readSummaryFile(file: string): Map<string, string> {
  const expected = 'an object with string fields "id" and "summary"';
  const out = new Map<string, string>();
  const lines = new Map<string, number>();
  for (const { line: n, object: o } of readJsonlObjects(file, { flag: "--summaries", expected })) {
    if (typeof o.id !== "string" || typeof o.summary !== "string") throw new UserError(`${file}:${n}: expected ${expected}`);
    if (lines.has(o.id)) throw new UserError(`${file}:${n}: record id "${o.id}" already has a summary (line ${lines.get(o.id)})`);
    lines.set(o.id, n);
    out.set(o.id, o.summary);
  }
  return out;
}

/** Summaries from a file; the first record without one is an error naming the file, the id and how many lack one. */
export function fileSummaries(file: string, records: readonly PersonalRecord[]): SummaryOf {
  const map = readSummaryFile(file);
  const missing = records.filter((r) => !map.has(r.id));
  if (missing.length > 0) {
    throw new UserError(`${file}: no summary for record "${missing[0]!.id}" (${missing.length} of ${records.length} records have none)`);
  }
  return (r) => {
    const s = map.get(r.id);
    if (s === undefined) throw new UserError(`${file}: no summary for record "${r.id}"`);
    return s;
  };
}

export interface ExtractiveSetup {
  mode: SummaryMode;
  idf: IdfTable;
  counter: TokenCounter;
  /** Tokenizer fingerprint (part of the cache key). */
  tokenizer: string | null;
  /** Dataset folder to cache summaries in (DATA/summaries/); none: not cached. */
  cacheDir?: string;
}

/** The cache file of a summariser setting: every setting that changes a summary is in its name. */
export function summaryCacheFile(s: ExtractiveSetup): string {
  const key = createHash("sha256")
    .update(JSON.stringify({ mode: s.mode, budget: SUMMARY_TOKENS, block: BLOCK_SIZE, blocks: MAX_BLOCKS, mmr: MMR_LAMBDA, tokenizer: s.tokenizer, idf: s.idf.toJSON() }))
    .digest("hex")
    .slice(0, 16);
  return join(s.cacheDir ?? ".", "summaries", `extractive-${s.mode}-${key}.jsonl`);
}

function profileHash(r: PersonalRecord): string {
  return createHash("sha256").update(JSON.stringify(r.profile)).digest("hex").slice(0, 16);
}

/**
 * Built-in extractive summaries for `records`, computed once: read from the cache when an entry's history is
 * unchanged, the rest computed and the cache rewritten (atomically) with them.
 */
export function extractiveSummaries(setup: ExtractiveSetup, records: readonly PersonalRecord[]): SummaryOf {
  const summariser = new ExtractiveSummariser({ mode: setup.mode, idf: setup.idf, counter: setup.counter });
  const file = setup.cacheDir !== undefined ? summaryCacheFile(setup) : undefined;
  const cached = new Map<string, { profile: string; summary: string }>();
  if (file && existsSync(file)) {
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const o = JSON.parse(line) as { id?: unknown; profile?: unknown; summary?: unknown };
        if (typeof o.id === "string" && typeof o.profile === "string" && typeof o.summary === "string") cached.set(o.id, { profile: o.profile, summary: o.summary });
      } catch {
        // a damaged cache line is recomputed
      }
    }
  }
  const out = new Map<string, string>();
  let added = 0;
  for (const r of records) {
    const h = profileHash(r);
    const hit = cached.get(r.id);
    if (hit && hit.profile === h) {
      out.set(r.id, hit.summary);
      continue;
    }
    const summary = summariser.summarise(r.profile);
    cached.set(r.id, { profile: h, summary });
    out.set(r.id, summary);
    added++;
  }
  if (file && added > 0) {
    const lines = [...cached.entries()].map(([id, v]) => JSON.stringify({ id, profile: v.profile, summary: v.summary }));
    mkdirSync(dirname(file), { recursive: true });
    atomicWriteBytes(file, lines.join("\n") + "\n");
  }
  return (r) => out.get(r.id) ?? summariser.summarise(r.profile);
}

/** The summaries of `records` under these options: the file's, or the built-in summariser's with this idf table. */
export function summariesFor(
  trsr: TrsrOptions,
  records: readonly PersonalRecord[],
  setup: { idf: () => IdfTable; counter: TokenCounter; tokenizer: string | null; cacheDir?: string },
): SummaryOf {
  if (trsr.summaries !== null) return fileSummaries(trsr.summaries, records);
  return extractiveSummaries({ mode: trsr.mode, idf: setup.idf(), counter: setup.counter, tokenizer: setup.tokenizer, cacheDir: setup.cacheDir }, records);
}

/**
 * Summaries made when a record is first asked for (where the records are not known in advance): the file's (read
 * once), or the built-in summariser's with the idf table `idf()` gives (read once).
 */
export function lazySummaries(trsr: TrsrOptions, setup: { idf: () => IdfTable; counter: TokenCounter }): SummaryOf {
  const file = trsr.summaries;
  if (file !== null) {
    let map: Map<string, string> | undefined;
    return (r) => {
      map ??= readSummaryFile(file);
      const s = map.get(r.id);
      if (s === undefined) throw new UserError(`${file}: no summary for record "${r.id}"`);
      return s;
    };
  }
  let summariser: ExtractiveSummariser | undefined;
  return (r) => {
    summariser ??= new ExtractiveSummariser({ mode: trsr.mode, idf: setup.idf(), counter: setup.counter });
    return summariser.summarise(r.profile);
  };
}

/** Where a trained LLM-TRSR folder keeps the idf table of its training users (generation summarises with it). */
export const SUMMARY_IDF_FILE = "summary-idf.json";

export function writeIdf(dir: string, idf: IdfTable): void {
  atomicWriteBytes(join(dir, SUMMARY_IDF_FILE), JSON.stringify(idf.toJSON()) + "\n");
}

export function readIdf(dir: string): IdfTable {
  const file = join(dir, SUMMARY_IDF_FILE);
  if (!existsSync(file)) throw new UserError(`${dir} has no ${SUMMARY_IDF_FILE} (the idf table of an LLM-TRSR run)`);
  const json = JSON.parse(readFileSync(file, "utf8")) as { documents?: unknown; df?: unknown };
  if (typeof json.documents !== "number" || typeof json.df !== "object" || json.df === null) throw new UserError(`${file}: expected {"documents", "df"}`);
  return IdfTable.fromJSON(json as { documents: number; df: Record<string, number> });
}
