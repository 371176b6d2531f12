// Difficulty levels (the paper's App. Q / Table 11): the test samples ranked by how well the base model did on them,
// split into four equal groups, H0 (very hard) .. H3 (easy), the same groups for every method.
//  - Per sample of the difficulty source (by default Non-pers): ROUGE-1 F, ROUGE-L F, sentence BLEU (sacreBLEU's
//    sentence_bleu), METEOR and BERTScore F when present.
//  - Each metric normalised over the samples (min-max, or z-score), the normalised values averaged (unweighted),
//    samples ranked ascending (ties keep the input order).
//  - n = 4q + r samples: the r hardest groups get q + 1 samples each (the remainder goes to the hardest first).
//  - Reported per method and level: the mean of each per-sample metric, BLEU as the mean sentence BLEU.
import { sentenceBleu } from "./bleu.ts";
import type { SampleScores } from "./score.ts";

export const LEVEL_LABELS = ["H0 very hard", "H1 hard", "H2 medium", "H3 easy"] as const;
export type Normalization = "minmax" | "zscore";

export const LEVEL_METRICS = ["rouge1", "rougeL", "bleu", "meteor", "bertscore"] as const;
export type LevelMetric = (typeof LEVEL_METRICS)[number];

/** The per-sample values the levels use (BLEU as sentence BLEU; BERTScore absent without an encoder). */
export function levelValues(s: SampleScores): Partial<Record<LevelMetric, number>> {
  const out: Partial<Record<LevelMetric, number>> = {
    rouge1: s.rouge1.fmeasure,
    rougeL: s.rougeL.fmeasure,
    bleu: sentenceBleu(s.bleuStats),
    meteor: s.meteor,
  };
  if (s.bertscore !== undefined) out.bertscore = s.bertscore;
  return out;
}

function normalized(values: readonly number[], how: Normalization): number[] {
  const n = values.length;
  if (how === "minmax") {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    return values.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0));
  }
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  return values.map((v) => (sd > 0 ? (v - mean) / sd : 0));
}

/** The sizes of `levels` groups of n samples, hardest first (the remainder to the hardest groups). */
export function levelSizes(n: number, levels = LEVEL_LABELS.length): number[] {
  const q = Math.floor(n / levels);
  const r = n % levels;
  return Array.from({ length: levels }, (_, i) => q + (i < r ? 1 : 0));
}

/** The level (0 = hardest) of each sample, from per-sample metric values of the difficulty source. */
export function difficultyLevels(samples: readonly Partial<Record<LevelMetric, number>>[], how: Normalization = "minmax"): number[] {
  const n = samples.length;
  if (n === 0) return [];
  const metrics = LEVEL_METRICS.filter((m) => samples.every((s) => s[m] !== undefined));
  const columns = metrics.map((m) => normalized(samples.map((s) => s[m]!), how));
  const aggregate = samples.map((_, i) => columns.reduce((a, c) => a + c[i]!, 0) / Math.max(1, columns.length));
  const order = samples.map((_, i) => i).sort((a, b) => aggregate[a]! - aggregate[b]! || a - b);
  const levels = new Array<number>(n);
  let k = 0;
  levelSizes(n).forEach((size, level) => {
    for (let j = 0; j < size; j++) levels[order[k++]!] = level;
  });
  return levels;
}
