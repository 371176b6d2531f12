// ROUGE-1 and ROUGE-L as the `rouge_score` package computes them with its default tokenizer (what HF `evaluate`
// uses): lower-case the text, turn every run of characters outside [a-z0-9] into a space, split, optionally Porter-stem
// tokens longer than 3 characters. ROUGE-N counts clipped n-gram overlap; ROUGE-L uses the longest common subsequence of
// the two whole token sequences (not the summary-level "rougeLsum").
import { porterStem } from "./porter.ts";

export interface PRF {
  precision: number;
  recall: number;
  fmeasure: number;
}

export interface RougeOptions {
  /** Porter-stem tokens longer than 3 characters (rouge_score's `use_stemmer=True`). Default false. */
  stemmer?: boolean;
}

const NON_ALNUM = /[^a-z0-9]+/g;

/** rouge_score's default tokenizer. */
export function rougeTokenize(text: string, opts: RougeOptions = {}): string[] {
  const spaced = text.toLowerCase().replace(NON_ALNUM, " ");
  const out: string[] = [];
  for (const raw of spaced.split(" ")) {
    if (raw.length === 0) continue;
    out.push(opts.stemmer && raw.length > 3 ? porterStem(raw) : raw);
  }
  // The stemmer maps [a-z0-9]+ to [a-z0-9]+, so rouge_score's final validity filter only drops empty strings here.
  return out;
}

export function fmeasure(precision: number, recall: number): number {
  return precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
}

/** Counts of the n-grams of a token list, keyed by the tokens joined with a space (tokens contain no spaces). */
export function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = n === 1 ? tokens[i]! : tokens.slice(i, i + n).join(" ");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** ROUGE-N: overlap = sum over reference n-grams of min(count in reference, count in prediction). */
export function rougeN(refTokens: readonly string[], predTokens: readonly string[], n: number): PRF {
  const ref = ngramCounts(refTokens, n);
  const pred = ngramCounts(predTokens, n);
  let overlap = 0;
  for (const [gram, c] of ref) overlap += Math.min(c, pred.get(gram) ?? 0);
  let refTotal = 0;
  for (const c of ref.values()) refTotal += c;
  let predTotal = 0;
  for (const c of pred.values()) predTotal += c;
  const precision = overlap / Math.max(predTotal, 1);
  const recall = overlap / Math.max(refTotal, 1);
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

/**
 * Length of the longest common subsequence of two sequences. Tokens are mapped to integer ids; the default
 * algorithm is the bit-parallel one of Allison & Dix / Crochemore et al. (one bit per position of the shorter
 * sequence, O(n * m / 32) word operations); `lcsLengthDP` is the classic two-row dynamic programme, used when the
 * bit masks would need too much memory and as the reference in tests.
 */
export function lcsLength(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const [outer, inner] = a.length >= b.length ? [a, b] : [b, a];
  const ids = new Map<string, number>();
  const innerIds = Int32Array.from(inner, (t) => {
    let id = ids.get(t);
    if (id === undefined) {
      id = ids.size;
      ids.set(t, id);
    }
    return id;
  });
  const m = innerIds.length;
  const words = (m + 31) >>> 5;
  if (ids.size * words > 8_000_000) return lcsDP(Int32Array.from(outer, (t) => ids.get(t) ?? -1), innerIds);
  // Match masks: bit j of masks[id] is set when inner[j] has that id.
  const masks = new Uint32Array(ids.size * words);
  for (let j = 0; j < m; j++) masks[innerIds[j]! * words + (j >>> 5)]! |= 1 << (j & 31);
  const v = new Uint32Array(words).fill(0xffffffff);
  for (const t of outer) {
    const id = ids.get(t);
    if (id === undefined) continue; // no match anywhere: the row is unchanged
    const base = id * words;
    let carry = 0;
    for (let k = 0; k < words; k++) {
      const vk = v[k]!;
      const u = vk & masks[base + k]!;
      const sum = vk + (u >>> 0) + carry; // as doubles: exact up to 2^33
      carry = sum > 0xffffffff ? 1 : 0;
      v[k] = (sum >>> 0) | (vk & ~u);
    }
  }
  // LCS = number of zero bits among the first m bits of v.
  let ones = 0;
  for (let k = 0; k < words; k++) {
    let x = v[k]!;
    if (k === words - 1 && (m & 31) !== 0) x &= (1 << (m & 31)) - 1;
    x = x - ((x >>> 1) & 0x55555555);
    x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
    ones += (Math.imul((x + (x >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24);
  }
  return m - ones;
}

function lcsDP(outerIds: Int32Array, innerIds: Int32Array): number {
  const m = innerIds.length;
  let prev = new Int32Array(m + 1);
  let cur = new Int32Array(m + 1);
  for (let i = 0; i < outerIds.length; i++) {
    const x = outerIds[i]!;
    if (x < 0) continue; // a token absent from the other sequence leaves the row unchanged
    for (let j = 1; j <= m; j++) {
      if (innerIds[j - 1] === x) cur[j] = prev[j - 1]! + 1;
      else {
        const up = prev[j]!;
        const left = cur[j - 1]!;
        cur[j] = up > left ? up : left;
      }
    }
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev[m]!;
}

/** The classic O(n * m) LCS length over two Int32Array rows. */
export function lcsLengthDP(a: readonly string[], b: readonly string[]): number {
  if (a.length === 0 || b.length === 0) return 0;
  const ids = new Map<string, number>();
  const bIds = Int32Array.from(b, (t) => {
    let id = ids.get(t);
    if (id === undefined) {
      id = ids.size;
      ids.set(t, id);
    }
    return id;
  });
  return lcsDP(Int32Array.from(a, (t) => ids.get(t) ?? -1), bIds);
}

/** ROUGE-L: LCS-based precision, recall and F1; all zero when either side has no tokens. */
export function rougeL(refTokens: readonly string[], predTokens: readonly string[]): PRF {
  if (refTokens.length === 0 || predTokens.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(refTokens, predTokens);
  const precision = lcs / predTokens.length;
  const recall = lcs / refTokens.length;
  return { precision, recall, fmeasure: fmeasure(precision, recall) };
}

export interface RougeSample {
  rouge1: PRF;
  rougeL: PRF;
}

/** ROUGE-1 and ROUGE-L of one prediction against one reference. */
export function rougeScore(reference: string, prediction: string, opts: RougeOptions = {}): RougeSample {
  const ref = rougeTokenize(reference, opts);
  const pred = rougeTokenize(prediction, opts);
  return { rouge1: rougeN(ref, pred, 1), rougeL: rougeL(ref, pred) };
}
