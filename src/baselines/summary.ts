// LLM-TRSR's history summaries without a summariser LLM: an extractive summary of the user's history (the record's
// profile only, never its query or response). The history, oldest first, is cut into blocks of BLOCK_SIZE items (the
// most recent MAX_BLOCKS blocks are kept); each block's sentences are candidates, and a summary is chosen from
// candidates greedily by maximal marginal relevance until SUMMARY_TOKENS tokens of the model's tokenizer are used:
//
//   salience(s) = sum over words w of s of tf_user(w) * idf(w) / sqrt(|s|)     (tf over the whole history)
//   next        = argmax  MMR_LAMBDA * salience(s) / max salience  -  (1 - MMR_LAMBDA) * max cos(s, chosen)
//
// cosines on tf-idf vectors of the sentences, English stop words dropped, idf over the training users' history
// texts. The chosen sentences are written in their chronological order. Two ways to combine blocks:
//   recurrent     S_0 = pick(block_0), S_n = pick(sentences(S_{n-1}) + block_n); the summary is the last S_n
//   hierarchical  S_b = pick(block_b) for every block, then the summary is pick(S_1 + ... + S_B)
// Ties go to the earlier sentence, so the result is a function of the history alone (no randomness).
import { retrievalTokens, sentenceEnds, type TokenCounter } from "../data/index.ts";
import type { PersonalRecord, ProfileItem } from "../data/record.ts";

export const BLOCK_SIZE = 5;
export const MAX_BLOCKS = 5;
export const SUMMARY_TOKENS = 150;
export const MMR_LAMBDA = 0.7;

/** Texts whose token counts (or sentences) a summariser remembers at most. */
const COUNT_CACHE_ENTRIES = 100_000;

export type SummaryMode = "recurrent" | "hierarchical";
export const SUMMARY_MODES: readonly SummaryMode[] = ["recurrent", "hierarchical"];

/** A history sentence and where it stands in time: item index, then sentence index within the item. */
interface Sentence {
  text: string;
  item: number;
  index: number;
  words: string[];
}

/** Inverse document frequencies over a set of texts: log((1 + N) / (1 + df)) + 1, as words are seen. */
export class IdfTable {
  private constructor(
    readonly documents: number,
    private readonly df: ReadonlyMap<string, number>,
  ) {}

  /** One document per history item of the records (their outputs, the user's own texts). */
  static fromRecords(records: readonly PersonalRecord[]): IdfTable {
    const df = new Map<string, number>();
    let n = 0;
    for (const r of records) {
      for (const item of r.profile) {
        n++;
        for (const w of new Set(retrievalTokens(itemText(item)))) df.set(w, (df.get(w) ?? 0) + 1);
      }
    }
    return new IdfTable(n, df);
  }

  idf(word: string): number {
    return Math.log((1 + this.documents) / (1 + (this.df.get(word) ?? 0))) + 1;
  }

  toJSON(): { documents: number; df: Record<string, number> } {
    return { documents: this.documents, df: Object.fromEntries([...this.df.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) };
  }

  static fromJSON(json: { documents: number; df: Record<string, number> }): IdfTable {
    return new IdfTable(json.documents, new Map(Object.entries(json.df)));
  }
}

/** The text of a history item that the summary draws from: what the user wrote. */
export function itemText(item: ProfileItem): string {
  return String(item.output ?? "");
}

function sentencesOf(text: string, item: number): Sentence[] {
  const out: Sentence[] = [];
  let start = 0;
  for (const end of sentenceEnds(text)) {
    const s = text.slice(start, end).trim();
    start = end;
    if (s === "") continue;
    out.push({ text: s, item, index: out.length, words: retrievalTokens(s) });
  }
  return out;
}

function chronological(a: Sentence, b: Sentence): number {
  return a.item - b.item || a.index - b.index;
}

export interface SummariserOptions {
  mode: SummaryMode;
  idf: IdfTable;
  /** The model's tokenizer (the budget is in its tokens). */
  counter: TokenCounter;
  budget?: number;
}

/** The blocks of a history (oldest first): BLOCK_SIZE items each, the most recent MAX_BLOCKS of them. */
export function historyBlocks(profile: readonly ProfileItem[]): number[][] {
  const blocks: number[][] = [];
  for (let i = 0; i < profile.length; i += BLOCK_SIZE) blocks.push(Array.from({ length: Math.min(BLOCK_SIZE, profile.length - i) }, (_, j) => i + j));
  return blocks.slice(Math.max(0, blocks.length - MAX_BLOCKS));
}

/** Extractive summaries of histories (one summariser per idf table, tokenizer and mode). */
export class ExtractiveSummariser {
  private readonly budget: number;
  /** Token counts by text, and the sentences of item texts: a user's records share most of their history. */
  private readonly counts = new Map<string, number>();
  private readonly split = new Map<string, readonly Sentence[]>();

  constructor(private readonly o: SummariserOptions) {
    this.budget = o.budget ?? SUMMARY_TOKENS;
  }

  /** The sentences of history item `item` (split once per text). */
  private sentences(text: string, item: number): Sentence[] {
    let list = this.split.get(text);
    if (list === undefined) {
      if (this.split.size >= COUNT_CACHE_ENTRIES) this.split.clear();
      list = sentencesOf(text, 0);
      this.split.set(text, list);
    }
    return list.map((s) => ({ ...s, item }));
  }

  private tokenCount(text: string): number {
    let n = this.counts.get(text);
    if (n === undefined) {
      // bounded, for a long-lived summariser (a server's)
      if (this.counts.size >= COUNT_CACHE_ENTRIES) this.counts.clear();
      n = this.o.counter.encode(text).length;
      this.counts.set(text, n);
    }
    return n;
  }

  /** The summary of a history (the record's profile, oldest first). */
  summarise(profile: readonly ProfileItem[]): string {
    return this.levels(profile).summary;
  }

  /** The summary and the per-block summaries it came from (recurrent: S_0..S_n; hierarchical: S_1..S_B). */
  levels(profile: readonly ProfileItem[]): { blocks: string[]; summary: string } {
    const blocks = historyBlocks(profile).map((items) => items.flatMap((i) => this.sentences(itemText(profile[i]!), i)));
    if (blocks.length === 0) return { blocks: [], summary: "" };
    const tf = new Map<string, number>();
    for (const s of blocks.flat()) for (const w of s.words) tf.set(w, (tf.get(w) ?? 0) + 1);
    const pick = (c: Sentence[]) => this.pick(c, tf);
    const steps: Sentence[][] = [];
    if (this.o.mode === "recurrent") {
      let s = pick(blocks[0]!);
      steps.push(s);
      for (const block of blocks.slice(1)) {
        s = pick([...s, ...block]);
        steps.push(s);
      }
      return { blocks: steps.map(render), summary: render(s) };
    }
    for (const block of blocks) steps.push(pick(block));
    return { blocks: steps.map(render), summary: render(pick(steps.flat())) };
  }

  /** Greedy MMR selection within the token budget, returned in chronological order. */
  private pick(candidates: readonly Sentence[], tf: ReadonlyMap<string, number>): Sentence[] {
    const list = [...candidates].sort(chronological);
    const idf = (w: string) => this.o.idf.idf(w);
    const vectors = list.map((s) => {
      const v = new Map<string, number>();
      for (const w of s.words) v.set(w, (v.get(w) ?? 0) + idf(w));
      return v;
    });
    const norms = vectors.map((v) => Math.sqrt([...v.values()].reduce((a, x) => a + x * x, 0)));
    const salience = list.map((s) => (s.words.length === 0 ? 0 : s.words.reduce((a, w) => a + (tf.get(w) ?? 0) * idf(w), 0) / Math.sqrt(s.words.length)));
    const top = Math.max(1e-12, ...salience);
    const cos = (i: number, j: number) => {
      if (norms[i] === 0 || norms[j] === 0) return 0;
      let dot = 0;
      for (const [w, x] of vectors[i]!) dot += x * (vectors[j]!.get(w) ?? 0);
      return dot / (norms[i]! * norms[j]!);
    };
    const tokens = list.map((s) => this.tokenCount(s.text));
    const chosen: number[] = [];
    const left = new Set(list.keys());
    // redundancy[i] = max cos(i, j) over the chosen j (kept up to date as sentences are chosen)
    const redundancy = new Float64Array(list.length);
    let used = 0;
    while (left.size > 0) {
      let best = -1;
      let bestScore = -Infinity;
      for (const i of left) {
        const score = MMR_LAMBDA * (salience[i]! / top) - (1 - MMR_LAMBDA) * redundancy[i]!;
        if (score > bestScore) [best, bestScore] = [i, score];
      }
      left.delete(best);
      // a sentence that does not fit is passed over (a shorter one may still fit); the budget is checked on the text
      // as written, since token counts of parts and of the whole can differ at the seams
      if (tokens[best]! > this.budget - used) continue;
      chosen.push(best);
      const n = this.tokenCount(render(chosen.map((i) => list[i]!).sort(chronological)));
      if (n > this.budget) {
        chosen.pop();
        continue;
      }
      used = n;
      for (const i of left) redundancy[i] = Math.max(redundancy[i]!, cos(i, best));
    }
    return chosen.map((i) => list[i]!).sort(chronological);
  }
}

function render(sentences: readonly Sentence[]): string {
  return sentences.map((s) => s.text).join(" ");
}
