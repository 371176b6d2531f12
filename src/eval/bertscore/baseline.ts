// A rescale baseline by the bert_score package's recipe (get_rescale_baseline.py): texts of 1..31 space-separated
// words, paired at random without replacement (two disjoint halves of a shuffled list), scored without idf at every
// layer (0 = embeddings .. L), in chunks of 1000 pairs; the baseline of a layer is the mean P, R and F over the pairs.
import { Rng } from "../../util/random.ts";
import { UserError } from "../../util/errors.ts";
import type { EncoderModel, EncodeProgress } from "../../model/encoder/model.ts";
import { BertScorer } from "./scorer.ts";
import type { BaselineRow } from "./rescale.ts";

const PAIR_CHUNK = 1000;

export interface BaselineOptions {
  /** Seed of the pairing (default 0). */
  seed?: number;
  /** Use at most this many pairs (default: all). */
  maxPairs?: number;
  onProgress?: (p: EncodeProgress & { layer: number }) => void;
}

/** The lines the recipe keeps: stripped, with fewer than 32 space-separated words, not empty. */
export function baselineTexts(lines: readonly string[]): string[] {
  return lines.map((l) => l.trim()).filter((l) => l !== "" && l.split(" ").length < 32);
}

/** Random disjoint pairs of the kept texts. */
export function baselinePairs(texts: readonly string[], seed = 0, maxPairs = Infinity): { hyp: string[]; ref: string[] } {
  const order = new Rng(seed).shuffle(texts.map((_, i) => i));
  const half = Math.min(Math.floor(order.length / 2), maxPairs);
  return { hyp: order.slice(0, half).map((i) => texts[i]!), ref: order.slice(half, 2 * half).map((i) => texts[i]!) };
}

/** Baseline rows for layers 0..numLayers of `model` (named `name` in the scorer). */
export async function computeBaseline(model: EncoderModel, name: string, lines: readonly string[], opts: BaselineOptions = {}): Promise<BaselineRow[]> {
  const texts = baselineTexts(lines);
  const { hyp, ref } = baselinePairs(texts, opts.seed ?? 0, opts.maxPairs);
  if (hyp.length === 0) throw new UserError(`a baseline needs at least two texts of 1 to 31 words, got ${texts.length}`);
  const rows: BaselineRow[] = [];
  for (let layer = 0; layer <= model.config.numLayers; layer++) {
    const scorer = new BertScorer(model, name, { layer });
    const sum = { P: 0, R: 0, F: 0 };
    for (let start = 0; start < hyp.length; start += PAIR_CHUNK) {
      const s = await scorer.score(hyp.slice(start, start + PAIR_CHUNK), ref.slice(start, start + PAIR_CHUNK), (p) =>
        opts.onProgress?.({ layer, done: start + p.done, total: hyp.length }),
      );
      for (const k of ["P", "R", "F"] as const) for (const v of s[k]) sum[k] += v;
    }
    rows.push({ layer, P: sum.P / hyp.length, R: sum.R / hyp.length, F: sum.F / hyp.length });
  }
  return rows;
}
