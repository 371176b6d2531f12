// METEOR as nltk's `single_meteor_score(word_tokenize(ref), word_tokenize(pred))` computes it (what HF `evaluate`
// reports, averaged over samples): lower-cased nltk tokens; alignment in three stages, each over the words still
// unmatched: exact, Porter stem, WordNet synonym (a reference stem in the synonym set of a hypothesis stem: nltk
// passes the stemmed leftovers on). Within a
// stage, hypothesis words are visited from last to first and each takes the last still-unmatched reference word that
// fits, as nltk does. Then
//   P = m / |hyp|, R = m / |ref|, Fmean = P R / (alpha P + (1 - alpha) R),
//   penalty = gamma (chunks / m)^beta,  score = (1 - penalty) Fmean,
// where chunks is the number of runs of matches adjacent in both hypothesis and reference; 0 when nothing matches
// or either side is empty.
import { porterStem } from "./porter.ts";
import { getWordNet, type WordNet, type WordNetSource } from "./wordnet.ts";
import { wordTokenize } from "./word-tokenize.ts";

export interface MeteorOptions {
  alpha?: number;
  beta?: number;
  gamma?: number;
  /** WordNet used for the synonym stage (default WordNet 3.0, as nltk). */
  wordnet?: WordNetSource;
}

export interface MeteorDetail {
  score: number;
  matches: number;
  chunks: number;
  hypLength: number;
  refLength: number;
  /** Aligned (hypothesis index, reference index) pairs, sorted by hypothesis index. */
  alignment: [number, number][];
}

type Enum = [index: number, word: string][];

/**
 * One matching stage: for each hypothesis entry from last to first, the last remaining reference entry whose key is
 * in the hypothesis entry's candidate set. Implemented with per-key stacks of reference positions, which gives the
 * same pairs as nltk's quadratic scan.
 */
function matchStage(
  hyp: Enum,
  ref: Enum,
  refKey: (word: string) => string,
  candidates: (word: string) => Iterable<string>,
): { matches: [number, number][]; hyp: Enum; ref: Enum } {
  const stacks = new Map<string, number[]>(); // key -> positions in `ref`, ascending
  ref.forEach(([, w], j) => {
    const k = refKey(w);
    const s = stacks.get(k);
    if (s) s.push(j);
    else stacks.set(k, [j]);
  });
  const refTaken = new Uint8Array(ref.length);
  const hypTaken = new Uint8Array(hyp.length);
  const matches: [number, number][] = [];
  for (let i = hyp.length - 1; i >= 0; i--) {
    let best = -1;
    let bestStack: number[] | undefined;
    for (const key of candidates(hyp[i]![1])) {
      const s = stacks.get(key);
      if (s && s.length > 0 && s[s.length - 1]! > best) {
        best = s[s.length - 1]!;
        bestStack = s;
      }
    }
    if (best >= 0) {
      bestStack!.pop();
      refTaken[best] = 1;
      hypTaken[i] = 1;
      matches.push([hyp[i]![0], ref[best]![0]]);
    }
  }
  return {
    matches,
    hyp: hyp.filter((_, i) => !hypTaken[i]),
    ref: ref.filter((_, j) => !refTaken[j]),
  };
}

function countChunks(matches: readonly [number, number][]): number {
  let chunks = 1;
  for (let i = 0; i < matches.length - 1; i++) {
    const a = matches[i]!;
    const b = matches[i + 1]!;
    if (!(b[0] === a[0] + 1 && b[1] === a[1] + 1)) chunks += 1;
  }
  return chunks;
}

/** METEOR of pre-tokenized hypothesis and reference (tokens are lower-cased here). */
export function meteorFromTokens(
  refTokens: readonly string[],
  hypTokens: readonly string[],
  opts: MeteorOptions = {},
  wordnet?: WordNet,
): MeteorDetail {
  const alpha = opts.alpha ?? 0.9;
  const beta = opts.beta ?? 3;
  const gamma = opts.gamma ?? 0.5;
  let hyp: Enum = hypTokens.map((w, i) => [i, w.toLowerCase()]);
  let ref: Enum = refTokens.map((w, i) => [i, w.toLowerCase()]);
  const hypLength = hyp.length;
  const refLength = ref.length;
  const all: [number, number][] = [];
  const exact = matchStage(hyp, ref, (w) => w, (w) => [w]);
  all.push(...exact.matches);
  hyp = exact.hyp;
  ref = exact.ref;
  // nltk stems both lists for this stage and hands the *stemmed* leftovers to the synonym stage.
  const stem = matchStage(
    hyp.map(([i, w]) => [i, porterStem(w)]),
    ref.map(([i, w]) => [i, porterStem(w)]),
    (w) => w,
    (w) => [w],
  );
  all.push(...stem.matches);
  hyp = stem.hyp;
  ref = stem.ref;
  if (hyp.length > 0 && ref.length > 0) {
    const wn = wordnet ?? getWordNet(opts.wordnet ?? "3.0");
    const syn = matchStage(hyp, ref, (w) => w, (w) => wn.synonyms(w));
    all.push(...syn.matches);
  }
  all.sort((a, b) => a[0] - b[0]);
  const m = all.length;
  const empty = { matches: m, hypLength, refLength, alignment: all };
  if (hypLength === 0 || refLength === 0 || m === 0) return { score: 0, chunks: 0, ...empty };
  const precision = m / hypLength;
  const recall = m / refLength;
  const fmean = (precision * recall) / (alpha * precision + (1 - alpha) * recall);
  const chunks = countChunks(all);
  const fragFrac = chunks / m;
  const penalty = gamma * fragFrac ** beta;
  return { score: (1 - penalty) * fmean, chunks, ...empty };
}

/** METEOR of one prediction against one reference, both raw text (tokenized with nltk's `word_tokenize`). */
export function meteorScore(reference: string, prediction: string, opts: MeteorOptions = {}): number {
  return meteorFromTokens(wordTokenize(reference), wordTokenize(prediction), opts).score;
}
