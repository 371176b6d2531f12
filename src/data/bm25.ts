// BM25 Okapi retrieval with the semantics of the `rank_bm25` Python package (BM25Okapi), which the LongLaMP
// benchmark uses to pick history items:
//   idf(t)   = ln((N - n_t + 0.5) / (n_t + 0.5)), where n_t = number of documents containing t;
//   a term whose idf is negative gets epsilon * (mean idf over all distinct corpus terms, taken before the
//   replacement) instead;
//   score(q, d) = sum over query tokens t (repeats count) of idf(t) * f(t,d) * (k1 + 1)
//                 / (f(t,d) + k1 * (1 - b + b * |d| / avgdl)).
// Query tokens absent from the corpus add nothing. Ranking sorts by score, highest first; equal scores go in the
// order rank_bm25's `get_top_n` gives them (numpy argsort reversed: later documents first).

import { StringMemo } from "../util/memo.ts";

export interface Bm25Options {
  k1?: number;
  b?: number;
  epsilon?: number;
}

export class Bm25 {
  readonly k1: number;
  readonly b: number;
  readonly epsilon: number;
  readonly corpusSize: number;
  readonly avgdl: number;
  readonly docLen: number[];
  readonly docFreqs: Map<string, number>[];
  readonly idf = new Map<string, number>();
  readonly averageIdf: number;

  /** `corpus`: each document as its list of tokens. */
  constructor(corpus: readonly (readonly string[])[], opts: Bm25Options = {}) {
    this.k1 = opts.k1 ?? 1.5;
    this.b = opts.b ?? 0.75;
    this.epsilon = opts.epsilon ?? 0.25;
    this.corpusSize = corpus.length;
    this.docLen = corpus.map((d) => d.length);
    this.docFreqs = corpus.map((doc) => {
      const f = new Map<string, number>();
      for (const t of doc) f.set(t, (f.get(t) ?? 0) + 1);
      return f;
    });
    const total = this.docLen.reduce((a, b) => a + b, 0);
    this.avgdl = this.corpusSize > 0 ? total / this.corpusSize : 0;
    const nd = new Map<string, number>();
    for (const f of this.docFreqs) for (const t of f.keys()) nd.set(t, (nd.get(t) ?? 0) + 1);
    let idfSum = 0;
    const negative: string[] = [];
    for (const [t, n] of nd) {
      const idf = Math.log((this.corpusSize - n + 0.5) / (n + 0.5));
      this.idf.set(t, idf);
      idfSum += idf;
      if (idf < 0) negative.push(t);
    }
    this.averageIdf = nd.size > 0 ? idfSum / nd.size : 0;
    const eps = this.epsilon * this.averageIdf;
    for (const t of negative) this.idf.set(t, eps);
  }

  /** Scores of every document for a tokenised query. */
  scores(query: readonly string[]): number[] {
    const out = new Array<number>(this.corpusSize).fill(0);
    if (this.corpusSize === 0) return out;
    for (const q of query) {
      const idf = this.idf.get(q);
      if (!idf) continue;
      for (let i = 0; i < this.corpusSize; i++) {
        const f = this.docFreqs[i]!.get(q) ?? 0;
        if (f === 0) continue;
        const norm = this.avgdl > 0 ? this.docLen[i]! / this.avgdl : 0;
        out[i]! += (idf * (f * (this.k1 + 1))) / (f + this.k1 * (1 - this.b + this.b * norm));
      }
    }
    return out;
  }

  /** Indices of the top `n` documents, best first (ties: later document first, as rank_bm25 returns them). */
  topN(query: readonly string[], n: number): number[] {
    const s = this.scores(query);
    return s
      .map((score, i) => ({ score, i }))
      .sort((a, b) => b.score - a.score || b.i - a.i)
      .slice(0, Math.max(0, n))
      .map((x) => x.i);
  }
}

/** A small English stop-word list (articles, pronouns, auxiliaries, prepositions, conjunctions). */
export const ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a about above after again against all am an and any are as at be because been before being below between both " +
    "but by can could did do does doing down during each few for from further had has have having he her here hers " +
    "herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on " +
    "once only or other our ours ourselves out over own same she should so some such than that the their theirs them " +
    "themselves then there these they this those through to too under until up very was we were what when where " +
    "which while who whom why will with would you your yours yourself yourselves s t re ve ll d m"
  ).split(" "),
);

/** Retrieval tokens of texts seen lately, with and without stop words. */
const RETRIEVAL_MEMO = { filtered: new StringMemo<readonly string[]>(4 << 20), all: new StringMemo<readonly string[]>(4 << 20) };

export interface RetrievalTokenizerOptions {
  /** Drop English stop words (default true). */
  stopWords?: boolean;
}

/**
 * The retrieval tokenizer: NFKC, lower case, then maximal runs of letters and digits (any script) are the tokens;
 * punctuation and whitespace separate them. Stop words are dropped unless disabled.
 */
export function retrievalTokens(text: string, opts: RetrievalTokenizerOptions = {}): string[] {
  const keep = opts.stopWords !== false;
  const run = (t: string): string[] => {
    const tokens = t.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    return keep ? tokens.filter((w) => !ENGLISH_STOP_WORDS.has(w)) : tokens;
  };
  // a user's history items are tokenised for every record of that user: short texts are kept
  return [...(keep ? RETRIEVAL_MEMO.filtered : RETRIEVAL_MEMO.all).get(text, run)];
}
