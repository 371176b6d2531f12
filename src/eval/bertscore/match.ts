// BERTScore's arithmetic on token vectors, as the bert_score package computes it (greedy_cos_idf, get_idf_dict).
//
// Every token vector is L2-normalised (special tokens included) and sim_ij = <cand_i, ref_j>. Precision is the
// weighted mean over candidate tokens of their best similarity to any reference token, recall the same the other
// way round, F = 2PR / (P + R) (NaN -> 0). Special tokens take part in the max but are weighted 0 (without idf) or
// get idf 0 because every reference has them. A text that is only its two special tokens scores P = R = F = 0.
// The package pads the texts of a batch and zeroes the padded cells before the max: where a text's partner was
// padded in its batch, the max also sees a similarity of 0 (`partnerPadded`).

export interface PRF3 {
  P: number;
  R: number;
  F: number;
}

/** Token vectors of one text: ids [n] and vectors [n * dim], L2-normalised by `normalize`. */
export interface TokenVectors {
  ids: readonly number[];
  vectors: Float32Array | Float64Array;
  dim: number;
}

/** Each row of [n * dim] divided by its L2 norm (float64). */
export function normalize(vectors: ArrayLike<number>, dim: number): Float64Array {
  const out = Float64Array.from(vectors);
  for (let i = 0; i < out.length; i += dim) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += out[i + k]! * out[i + k]!;
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < dim; k++) out[i + k]! *= inv;
  }
  return out;
}

export interface MatchOptions {
  /** The reference was padded in its batch: precision's max also sees 0. */
  refPadded?: boolean;
  /** The candidate was padded in its batch: recall's max also sees 0. */
  candPadded?: boolean;
}

/**
 * Greedy cosine matching of a candidate against a reference. `vectors` must already be normalised; `weight(id)` is
 * the token weight (see `plainWeights` / `IdfWeights`).
 */
export function greedyMatch(cand: TokenVectors, ref: TokenVectors, weight: (id: number) => number, opts: MatchOptions = {}): PRF3 {
  const { dim } = cand;
  if (ref.dim !== dim) throw new Error(`greedyMatch: vector sizes ${dim} and ${ref.dim} differ`);
  const n = cand.ids.length;
  const m = ref.ids.length;
  if (n <= 2 || m <= 2) return { P: 0, R: 0, F: 0 };
  const bestCand = new Float64Array(n).fill(opts.refPadded ? 0 : -Infinity);
  const bestRef = new Float64Array(m).fill(opts.candPadded ? 0 : -Infinity);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) s += cand.vectors[i * dim + k]! * ref.vectors[j * dim + k]!;
      if (s > bestCand[i]!) bestCand[i] = s;
      if (s > bestRef[j]!) bestRef[j] = s;
    }
  }
  const weighted = (best: Float64Array, ids: readonly number[]) => {
    let num = 0;
    let den = 0;
    ids.forEach((id, i) => {
      const w = weight(id);
      num += w * best[i]!;
      den += w;
    });
    return num / den;
  };
  const P = weighted(bestCand, cand.ids);
  const R = weighted(bestRef, ref.ids);
  const F = (2 * P * R) / (P + R);
  return { P, R, F: Number.isNaN(F) ? 0 : F };
}

/** Weights without idf: 1, and 0 for the two special tokens. */
export function plainWeights(clsId: number, sepId: number): (id: number) => number {
  return (id) => (id === clsId || id === sepId ? 0 : 1);
}

/**
 * Idf weights from the references' token ids (special tokens included): with M references and c(w) the number of
 * references whose set of ids holds w, idf(w) = ln((M + 1) / (c(w) + 1)); an id no reference has gets ln(M + 1).
 */
export class IdfWeights {
  readonly documents: number;
  private readonly counts = new Map<number, number>();

  constructor(references: readonly (readonly number[])[]) {
    this.documents = references.length;
    for (const ids of references) for (const id of new Set(ids)) this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  weight(id: number): number {
    return Math.log((this.documents + 1) / ((this.counts.get(id) ?? 0) + 1));
  }
}

/** The element-wise max of P, R and F over a candidate's references (the package's multi-reference rule). */
export function maxOver(scores: readonly PRF3[]): PRF3 {
  if (scores.length === 0) throw new Error("maxOver: no scores");
  return {
    P: Math.max(...scores.map((s) => s.P)),
    R: Math.max(...scores.map((s) => s.R)),
    F: Math.max(...scores.map((s) => s.F)),
  };
}
