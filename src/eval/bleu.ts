// Corpus BLEU as sacreBLEU's `corpus_bleu` computes it with its defaults (what HF `evaluate`'s "sacrebleu" calls):
// the "13a" tokenizer (mteval-v13a), case-sensitive, n-grams up to 4, one reference per segment, brevity penalty
// from the summed lengths, and the "exp" smoothing (NIST): each n-gram order with no match gets precision
// 100 / (2^k * total_n), k counting such orders so far. Scores are on the 0..100 scale.
import { pyRstrip, pySplit } from "./pytext.ts";

export const MAX_ORDER = 4;

// sacreBLEU's regular-expression tokenizer, with the same ASCII character ranges.
const RE_PUNCT = /([{-~[-` -&(-+:-@/])/gu;
const RE_PERIOD_COMMA_AFTER_NONDIGIT = /([^0-9])([.,])/gu;
const RE_PERIOD_COMMA_BEFORE_NONDIGIT = /([.,])([^0-9])/gu;
const RE_DASH_AFTER_DIGIT = /([0-9])(-)/gu;

/** sacreBLEU's "13a" tokenizer: returns the tokens (the tokenized line split on whitespace). */
export function tokenize13a(line: string): string[] {
  let s = line.split("<skipped>").join("");
  s = s.split("-\n").join("");
  s = s.split("\n").join(" ");
  if (s.includes("&")) {
    s = s.split("&quot;").join('"');
    s = s.split("&amp;").join("&");
    s = s.split("&lt;").join("<");
    s = s.split("&gt;").join(">");
  }
  s = ` ${s} `;
  s = s.replace(RE_PUNCT, " $1 ");
  s = s.replace(RE_PERIOD_COMMA_AFTER_NONDIGIT, "$1 $2 ");
  s = s.replace(RE_PERIOD_COMMA_BEFORE_NONDIGIT, " $1 $2");
  s = s.replace(RE_DASH_AFTER_DIGIT, "$1 $2 ");
  return pySplit(s);
}

/** Sufficient statistics of one segment: lengths and, per order 1..4, matched and total n-grams. */
export interface BleuStats {
  sysLen: number;
  refLen: number;
  correct: number[];
  total: number[];
}

function ngramsByOrder(tokens: readonly string[]): Map<string, number>[] {
  const out: Map<string, number>[] = [];
  for (let n = 1; n <= MAX_ORDER; n++) {
    const counts = new Map<string, number>();
    for (let i = 0; i + n <= tokens.length; i++) {
      // Tokens come from a whitespace split, so a space-joined key is unique.
      const key = n === 1 ? tokens[i]! : tokens.slice(i, i + n).join(" ");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    out.push(counts);
  }
  return out;
}

/** Statistics of one hypothesis against one reference (both raw text; tokenized with 13a after `rstrip`). */
export function bleuSegmentStats(hypothesis: string, reference: string): BleuStats {
  const hyp = tokenize13a(pyRstrip(hypothesis));
  const ref = tokenize13a(pyRstrip(reference));
  return bleuStatsFromTokens(hyp, ref);
}

/** Clipped n-gram matches: each hypothesis n-gram counts at most as often as it occurs in the reference. */
export function bleuStatsFromTokens(hyp: readonly string[], ref: readonly string[]): BleuStats {
  const refNgrams = ngramsByOrder(ref);
  const hypNgrams = ngramsByOrder(hyp);
  const correct = new Array<number>(MAX_ORDER).fill(0);
  const total = new Array<number>(MAX_ORDER).fill(0);
  for (let n = 0; n < MAX_ORDER; n++) {
    const refCounts = refNgrams[n]!;
    for (const [gram, count] of hypNgrams[n]!) {
      total[n]! += count;
      const r = refCounts.get(gram);
      if (r !== undefined) correct[n]! += Math.min(count, r);
    }
  }
  return { sysLen: hyp.length, refLen: ref.length, correct, total };
}

export function sumStats(stats: readonly BleuStats[]): BleuStats {
  const out: BleuStats = {
    sysLen: 0,
    refLen: 0,
    correct: new Array<number>(MAX_ORDER).fill(0),
    total: new Array<number>(MAX_ORDER).fill(0),
  };
  for (const s of stats) {
    out.sysLen += s.sysLen;
    out.refLen += s.refLen;
    for (let n = 0; n < MAX_ORDER; n++) {
      out.correct[n]! += s.correct[n]!;
      out.total[n]! += s.total[n]!;
    }
  }
  return out;
}

export interface BleuResult {
  /** BLEU on the 0..100 scale. */
  score: number;
  /** n-gram precisions (0..100) after smoothing, orders 1..4. */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  sysLen: number;
  refLen: number;
  counts: number[];
  totals: number[];
}

/** sacreBLEU's log with its floor: log(0) is taken as -9999999999. */
function flooredLog(x: number): number {
  return x === 0 ? -9999999999 : Math.log(x);
}

/** BLEU from summed statistics with exponential smoothing (sacreBLEU's `compute_bleu(..., smooth_method="exp")`). */
export function bleuFromStats(stats: BleuStats): BleuResult {
  const { sysLen, refLen } = stats;
  const correct = stats.correct.slice();
  const total = stats.total.slice();
  let bp = 1;
  if (sysLen < refLen) bp = sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0;
  const precisions = new Array<number>(MAX_ORDER).fill(0);
  const base = { bp, sysLen, refLen, counts: correct, totals: total };
  if (!correct.some((c) => c !== 0)) return { score: 0, precisions, ...base };
  let smooth = 1;
  for (let n = 0; n < MAX_ORDER; n++) {
    if (total[n] === 0) break;
    if (correct[n] === 0) {
      smooth *= 2;
      precisions[n] = 100 / (smooth * total[n]!);
    } else {
      precisions[n] = (100 * correct[n]!) / total[n]!;
    }
  }
  let logSum = 0;
  for (const p of precisions) logSum += flooredLog(p);
  const score = bp * Math.exp(logSum / MAX_ORDER);
  return { score, precisions, ...base };
}

/**
 * Sentence BLEU as sacreBLEU's `sentence_bleu` computes it: exp smoothing with the effective order (the geometric
 * mean runs over the orders up to the last one the hypothesis has n-grams of), 0..100.
 */
export function sentenceBleu(stats: BleuStats): number {
  const r = bleuFromStats(stats);
  if (!stats.correct.some((c) => c !== 0)) return 0;
  let order = 0;
  while (order < MAX_ORDER && stats.total[order] !== 0) order++;
  if (order === MAX_ORDER) return r.score;
  let logSum = 0;
  for (let n = 0; n < order; n++) logSum += flooredLog(r.precisions[n]!);
  return r.bp * Math.exp(logSum / order);
}

/** Corpus BLEU of hypotheses against one reference each. */
export function corpusBleu(hypotheses: readonly string[], references: readonly string[]): BleuResult {
  if (hypotheses.length !== references.length) {
    throw new Error(`corpusBleu: ${hypotheses.length} hypotheses but ${references.length} references`);
  }
  return bleuFromStats(sumStats(hypotheses.map((h, i) => bleuSegmentStats(h, references[i]!))));
}
