// Bootstrap statistics over samples, seeded and deterministic.
// - Confidence interval of a metric: resample the samples with replacement B times, recompute the metric (mean of
//   per-sample values; corpus BLEU from the resampled statistics), take the 2.5% and 97.5% percentiles (linear
//   interpolation between order statistics, as numpy's default).
// - Paired bootstrap test between two methods on the same samples: resample sample indices once per round and apply
//   them to both methods; delta_b = metric_B - metric_A. The two-sided p-value is the share of rounds where
//   |delta_b - mean(delta)| >= |delta_observed| (the bootstrap distribution shifted to the null of no difference),
//   with the usual +1 correction: (count + 1) / (B + 1).
import { Rng } from "../util/random.ts";
import { bleuFromStats, MAX_ORDER, type BleuStats } from "./bleu.ts";
import type { ReportMetric, SampleScores } from "./score.ts";

export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Seed of the resampling (default 12345). */
  seed?: number;
  /** Confidence level of the interval (default 0.95). */
  confidence?: number;
}

/** Per-sample data of one metric in a form that is cheap to aggregate over index lists. */
interface MetricColumn {
  value(indices: ArrayLike<number>): number;
}

function meanColumn(values: Float64Array): MetricColumn {
  return {
    value(indices) {
      if (indices.length === 0) return 0;
      let s = 0;
      for (let k = 0; k < indices.length; k++) s += values[indices[k]!]!;
      return s / indices.length;
    },
  };
}

function bleuColumn(stats: readonly BleuStats[]): MetricColumn {
  // Row i: sysLen, refLen, correct[0..3], total[0..3].
  const width = 2 + 2 * MAX_ORDER;
  const flat = new Float64Array(stats.length * width);
  stats.forEach((s, i) => {
    flat[i * width] = s.sysLen;
    flat[i * width + 1] = s.refLen;
    for (let n = 0; n < MAX_ORDER; n++) {
      flat[i * width + 2 + n] = s.correct[n]!;
      flat[i * width + 2 + MAX_ORDER + n] = s.total[n]!;
    }
  });
  return {
    value(indices) {
      const acc = new Float64Array(width);
      for (let k = 0; k < indices.length; k++) {
        const base = indices[k]! * width;
        for (let c = 0; c < width; c++) acc[c]! += flat[base + c]!;
      }
      return bleuFromStats({
        sysLen: acc[0]!,
        refLen: acc[1]!,
        correct: Array.from(acc.subarray(2, 2 + MAX_ORDER)),
        total: Array.from(acc.subarray(2 + MAX_ORDER)),
      }).score;
    },
  };
}

export function metricColumn(samples: readonly SampleScores[], metric: ReportMetric): MetricColumn {
  switch (metric) {
    case "rouge1":
      return meanColumn(Float64Array.from(samples, (s) => s.rouge1.fmeasure));
    case "rougeL":
      return meanColumn(Float64Array.from(samples, (s) => s.rougeL.fmeasure));
    case "meteor":
      return meanColumn(Float64Array.from(samples, (s) => s.meteor));
    case "bleu":
      return bleuColumn(samples.map((s) => s.bleuStats));
    case "bertscore":
      return meanColumn(Float64Array.from(samples, (s) => s.bertscore ?? NaN));
  }
}

/** Percentile with linear interpolation between closest ranks (numpy's default), q in [0, 1]. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function resampleIndices(rng: Rng, n: number, out: Int32Array): Int32Array {
  for (let k = 0; k < n; k++) out[k] = rng.int(n);
  return out;
}

export interface Interval {
  low: number;
  high: number;
}

/** Bootstrap percentile interval of a metric over samples. */
export function bootstrapInterval(samples: readonly SampleScores[], metric: ReportMetric, opts: BootstrapOptions = {}): Interval {
  const n = samples.length;
  const B = opts.resamples ?? 1000;
  if (n === 0 || B <= 0) return { low: NaN, high: NaN };
  const column = metricColumn(samples, metric);
  const rng = new Rng(opts.seed ?? 12345);
  const idx = new Int32Array(n);
  const values = new Float64Array(B);
  for (let b = 0; b < B; b++) values[b] = column.value(resampleIndices(rng, n, idx));
  values.sort();
  const alpha = (1 - (opts.confidence ?? 0.95)) / 2;
  return { low: percentile(values, alpha), high: percentile(values, 1 - alpha) };
}

/** Bootstrap percentile interval of the mean of per-sample values. */
export function bootstrapMeanInterval(values: ArrayLike<number>, opts: BootstrapOptions = {}): Interval {
  const n = values.length;
  const B = opts.resamples ?? 1000;
  if (n === 0 || B <= 0) return { low: NaN, high: NaN };
  const column = meanColumn(Float64Array.from(values));
  const rng = new Rng(opts.seed ?? 12345);
  const idx = new Int32Array(n);
  const means = new Float64Array(B);
  for (let b = 0; b < B; b++) means[b] = column.value(resampleIndices(rng, n, idx));
  means.sort();
  const alpha = (1 - (opts.confidence ?? 0.95)) / 2;
  return { low: percentile(means, alpha), high: percentile(means, 1 - alpha) };
}

export interface PairedResult {
  /** Observed difference metric(B) - metric(A). */
  delta: number;
  pValue: number;
}

/** Paired bootstrap test of metric(B) - metric(A); `a[i]` and `b[i]` must score the same sample. */
export function pairedBootstrap(
  a: readonly SampleScores[],
  b: readonly SampleScores[],
  metric: ReportMetric,
  opts: BootstrapOptions = {},
): PairedResult {
  if (a.length !== b.length) throw new Error(`pairedBootstrap: ${a.length} vs ${b.length} samples`);
  return pairedColumns(metricColumn(a, metric), metricColumn(b, metric), a.length, opts);
}

/** Paired bootstrap test of mean(b) - mean(a) for per-sample values (`a[i]` and `b[i]` of the same sample). */
export function pairedBootstrapMeans(a: ArrayLike<number>, b: ArrayLike<number>, opts: BootstrapOptions = {}): PairedResult {
  if (a.length !== b.length) throw new Error(`pairedBootstrapMeans: ${a.length} vs ${b.length} samples`);
  return pairedColumns(meanColumn(Float64Array.from(a)), meanColumn(Float64Array.from(b)), a.length, opts);
}

function pairedColumns(colA: MetricColumn, colB: MetricColumn, n: number, opts: BootstrapOptions): PairedResult {
  const B = opts.resamples ?? 1000;
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const delta = colB.value(all) - colA.value(all);
  if (n === 0 || B <= 0) return { delta, pValue: NaN };
  const rng = new Rng(opts.seed ?? 12345);
  const idx = new Int32Array(n);
  const deltas = new Float64Array(B);
  for (let k = 0; k < B; k++) {
    resampleIndices(rng, n, idx);
    deltas[k] = colB.value(idx) - colA.value(idx);
  }
  let meanDelta = 0;
  for (const d of deltas) meanDelta += d;
  meanDelta /= B;
  let count = 0;
  for (const d of deltas) if (Math.abs(d - meanDelta) >= Math.abs(delta)) count++;
  return { delta, pValue: (count + 1) / (B + 1) };
}
