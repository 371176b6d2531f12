// Scoring a set of predictions with every metric, per sample and per corpus, and the position-sensitive variant.
//
// Scales follow the Python references: ROUGE and METEOR in 0..1 (averages of per-sample values), BLEU in 0..100
// (one corpus-level value from summed statistics, not an average of sentence BLEU).
//
// Position segments: the unit is the whitespace-separated token of the text (Python's `str.split()`); segment
// [a, b) of a text is its tokens a..b-1 joined by single spaces, and each metric scores the prediction's segment
// against the reference's segment of the same range. A sample takes part in a segment when its prediction or its
// reference has at least one token there (a prediction that stops early scores 0 in the later segments of a longer
// reference; one that runs on scores 0 where the reference has ended).
import { bleuFromStats, bleuSegmentStats, sumStats, type BleuResult, type BleuStats } from "./bleu.ts";
import { meteorFromTokens, type MeteorOptions } from "./meteor.ts";
import { pySplit } from "./pytext.ts";
import { rougeL, rougeN, rougeTokenize, type PRF } from "./rouge.ts";
import { getWordNet } from "./wordnet.ts";
import { wordTokenize } from "./word-tokenize.ts";

export const METRICS = ["rouge1", "rougeL", "bleu", "meteor"] as const;
export type MetricName = (typeof METRICS)[number];

export const METRIC_LABELS: Record<MetricName, string> = {
  rouge1: "ROUGE-1",
  rougeL: "ROUGE-L",
  bleu: "BLEU",
  meteor: "METEOR",
};

/** The report's metrics: the four lexical ones and BERTScore F (present only when an encoder was given). */
export type ReportMetric = MetricName | "bertscore";

export interface ScoreOptions {
  /** Porter-stem ROUGE tokens (rouge_score `use_stemmer=True`); default false as in HF `evaluate`. */
  rougeStemmer?: boolean;
  meteor?: MeteorOptions;
}

export interface SampleScores {
  rouge1: PRF;
  rougeL: PRF;
  meteor: number;
  bleuStats: BleuStats;
  /** BERTScore F of the sample, when the report computes it. */
  bertscore?: number;
}

export interface MetricValues {
  rouge1: number;
  rougeL: number;
  bleu: number;
  meteor: number;
}

export interface ScoreAllResult extends MetricValues {
  n: number;
  /** sacreBLEU details: n-gram precisions, brevity penalty, lengths, counts. */
  bleuDetail: BleuResult;
  /** Mean precision and recall next to the F1 values above. */
  rouge1Precision: number;
  rouge1Recall: number;
  rougeLPrecision: number;
  rougeLRecall: number;
  /** Per-sample values, in input order (F1 for ROUGE). */
  perSample: { rouge1: number[]; rougeL: number[]; meteor: number[]; bleuStats: BleuStats[] };
}

/** Every metric of one prediction against its reference. */
export function scoreSample(prediction: string, reference: string, opts: ScoreOptions = {}): SampleScores {
  const rt = rougeTokenize(reference, { stemmer: opts.rougeStemmer });
  const pt = rougeTokenize(prediction, { stemmer: opts.rougeStemmer });
  const refWords = wordTokenize(reference);
  const predWords = wordTokenize(prediction);
  const wn = refWords.length > 0 && predWords.length > 0 ? getWordNet(opts.meteor?.wordnet ?? "3.0") : undefined;
  return {
    rouge1: rougeN(rt, pt, 1),
    rougeL: rougeL(rt, pt),
    meteor: meteorFromTokens(refWords, predWords, opts.meteor, wn).score,
    bleuStats: bleuSegmentStats(prediction, reference),
  };
}

function mean(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Aggregates per-sample scores into corpus values. */
export function aggregate(samples: readonly SampleScores[]): ScoreAllResult {
  const bleuDetail = bleuFromStats(sumStats(samples.map((s) => s.bleuStats)));
  const r1 = samples.map((s) => s.rouge1.fmeasure);
  const rl = samples.map((s) => s.rougeL.fmeasure);
  const met = samples.map((s) => s.meteor);
  return {
    n: samples.length,
    rouge1: mean(r1),
    rougeL: mean(rl),
    bleu: bleuDetail.score,
    meteor: mean(met),
    bleuDetail,
    rouge1Precision: mean(samples.map((s) => s.rouge1.precision)),
    rouge1Recall: mean(samples.map((s) => s.rouge1.recall)),
    rougeLPrecision: mean(samples.map((s) => s.rougeL.precision)),
    rougeLRecall: mean(samples.map((s) => s.rougeL.recall)),
    perSample: { rouge1: r1, rougeL: rl, meteor: met, bleuStats: samples.map((s) => s.bleuStats) },
  };
}

/**
 * ROUGE-1, ROUGE-L (F1, averaged), corpus BLEU and METEOR (averaged) of predictions against references, with the
 * per-sample values. Empty inputs give zeros.
 */
export function scoreAll(predictions: readonly string[], references: readonly string[], opts: ScoreOptions = {}): ScoreAllResult {
  if (predictions.length !== references.length) {
    throw new Error(`scoreAll: ${predictions.length} predictions but ${references.length} references`);
  }
  return aggregate(predictions.map((p, i) => scoreSample(p, references[i]!, opts)));
}

export interface Segment {
  start: number;
  /** Exclusive end; `null` for open-ended. */
  end: number | null;
}

export const DEFAULT_SEGMENTS: readonly Segment[] = [
  { start: 0, end: 100 },
  { start: 100, end: 200 },
  { start: 200, end: 300 },
  { start: 300, end: null },
];

export function segmentLabel(s: Segment): string {
  return s.end === null ? `${s.start}+` : `${s.start}-${s.end - 1}`;
}

/** Whitespace tokens [start, end) of a text, joined by single spaces. */
export function segmentText(text: string, seg: Segment): string {
  return pySplit(text).slice(seg.start, seg.end ?? undefined).join(" ");
}

/** How texts are cut into position units, and how a span of units becomes text again. */
export interface Segmenter {
  /** Named in the report, e.g. "whitespace-separated tokens of each text". */
  label: string;
  split(text: string): readonly unknown[];
  join(units: readonly unknown[]): string;
}

/** Whitespace tokens (Python's str.split()), joined by single spaces: the default unit. */
export const WORD_SEGMENTER: Segmenter = {
  label: "whitespace-separated tokens of each text",
  split: (text) => pySplit(text),
  join: (units) => units.join(" "),
};

/** The tokens of a model's tokenizer; each span is decoded back to text. */
export function tokenSegmenter(tokenizer: { encode(text: string, opts: { addSpecialTokens?: boolean }): number[]; decode(ids: readonly number[]): string; source: string }): Segmenter {
  return {
    label: `tokens of the tokenizer ${tokenizer.source}`,
    split: (text) => tokenizer.encode(text, { addSpecialTokens: false }),
    join: (units) => tokenizer.decode(units as number[]),
  };
}

/** Which reference text a prediction segment is scored against: the reference's same range, or all of it. */
export type SegmentRef = "same-range" | "full";

export interface SegmentOptions {
  unit?: Segmenter;
  ref?: SegmentRef;
}

export interface SegmentSamples {
  segment: Segment;
  /** Indices (into the input arrays) of the samples that take part in this segment. */
  indices: number[];
  samples: SampleScores[];
}

/**
 * Per-sample scores of each position segment (see the header for which samples take part). `segmentation.unit` cuts
 * the texts (default: whitespace tokens); with `segmentation.ref = "full"` each prediction segment is scored against
 * the whole reference (a sample still takes part when either text reaches the segment).
 */
export function scoreSegments(
  predictions: readonly string[],
  references: readonly string[],
  segments: readonly Segment[] = DEFAULT_SEGMENTS,
  opts: ScoreOptions = {},
  segmentation: SegmentOptions = {},
): SegmentSamples[] {
  const unit = segmentation.unit ?? WORD_SEGMENTER;
  const full = segmentation.ref === "full";
  const predTok = predictions.map((t) => unit.split(t));
  const refTok = references.map((t) => unit.split(t));
  return segments.map((segment) => {
    const indices: number[] = [];
    const samples: SampleScores[] = [];
    for (let i = 0; i < predictions.length; i++) {
      const p = predTok[i]!.slice(segment.start, segment.end ?? undefined);
      const r = refTok[i]!.slice(segment.start, segment.end ?? undefined);
      if (p.length === 0 && r.length === 0) continue;
      indices.push(i);
      samples.push(scoreSample(p.length ? unit.join(p) : "", full ? references[i]! : r.length ? unit.join(r) : "", opts));
    }
    return { segment, indices, samples };
  });
}
