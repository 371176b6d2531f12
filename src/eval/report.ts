// Comparing methods: every metric per method (whole texts and position segments), bootstrap confidence intervals,
// paired bootstrap p-values against the first method, and a report folder (metrics.json, report.md, SVG plots).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { writeDirAtomic } from "../data/io.ts";
import { UserError } from "../util/errors.ts";
import { bootstrapInterval, pairedBootstrap, type BootstrapOptions, type Interval } from "./bootstrap.ts";
import type { BleuResult } from "./bleu.ts";
import type { PredictionRecord } from "./io.ts";
import { checkRunIds, type Coverage } from "./pairing.ts";
import {
  aggregate,
  DEFAULT_SEGMENTS,
  METRIC_LABELS,
  METRICS,
  scoreSample,
  scoreSegments,
  segmentLabel,
  type MetricName,
  type MetricValues,
  type ReportMetric,
  type SampleScores,
  type ScoreOptions,
  type Segment,
  type SegmentOptions,
  type SegmentRef,
  WORD_SEGMENTER,
} from "./score.ts";
import { barChart, lineChart } from "../util/svg.ts";
import type { BertScorer, BertScoreResult } from "./bertscore/scorer.ts";
import { averageRelativeImprovement } from "./improvement.ts";
import { difficultyLevels, LEVEL_LABELS, LEVEL_METRICS, levelValues, type LevelMetric, type Normalization } from "./difficulty.ts";
import { pairedBootstrapMeans } from "./bootstrap.ts";
import { heldOutMarkdown, type HeldOutSummary } from "./heldout.ts";

export interface RunInput {
  name: string;
  records: readonly PredictionRecord[];
}

/** BERTScore of every run, computed before the (synchronous) evaluation: per run, per record in its order. */
export interface BertScoreRuns {
  /** The package-style description of model, layer, idf and rescaling. */
  hash: string;
  byRun: ReadonlyMap<string, BertScoreResult>;
}

export interface EvaluateOptions extends ScoreOptions {
  bootstrap?: BootstrapOptions;
  segments?: readonly Segment[];
  /**
   * Accept runs whose ids differ from the first run's (or whose references disagree): counted in each method's
   * coverage, and paired comparisons use the common ids with agreeing references. Otherwise such runs are refused.
   */
  allowPartial?: boolean;
  bertscore?: BertScoreRuns;
  /** The method the "Impr." column compares with (default: the one named Non-pers, else the first). */
  relativeTo?: string;
  /** Position units (default whitespace tokens) and which reference text a segment is scored against. */
  segmentation?: SegmentOptions;
  /** Adds the difficulty-level table, levels from this method's per-sample scores. */
  difficultyFrom?: string;
  difficultyNormalize?: Normalization;
  /** The held-out likelihood table (computed beforehand: src/eval/heldout.ts), shown beside the text metrics. */
  heldOut?: HeldOutSummary;
}

export interface DifficultyResult {
  source: string;
  normalize: Normalization;
  /** The metrics the levels were ranked by. */
  rankedBy: LevelMetric[];
  levels: { label: string; n: number }[];
  /** Per method and level: n, means of the per-sample metrics, paired bootstrap vs the first method. */
  methods: {
    name: string;
    levels: { n: number; means: Partial<Record<LevelMetric, number>>; vsFirst?: Partial<Record<LevelMetric, { delta: number; pValue: number }>> }[];
  }[];
}

/** BERTScore of one method: means over samples of P, R and F, the F interval and the F comparison. */
export interface BertScoreSummary {
  P: number;
  R: number;
  F: number;
  ci: Interval;
  vsFirst?: Comparison;
}

export interface Comparison {
  /** metric(method) - metric(first method), on the samples both scored. */
  delta: number;
  /** delta / metric(first), or null when the first method scored 0. */
  relative: number | null;
  pValue: number;
  /** Number of samples (ids) both methods have. */
  nPaired: number;
}

export interface SegmentResult {
  label: string;
  start: number;
  end: number | null;
  n: number;
  metrics: MetricValues;
}

export interface MethodResult {
  name: string;
  n: number;
  metrics: MetricValues;
  ci: Record<MetricName, Interval>;
  /** Against the first method (absent for the first method itself). */
  vsFirst?: Record<MetricName, Comparison>;
  bleu: BleuResult;
  rouge1Precision: number;
  rouge1Recall: number;
  rougeLPrecision: number;
  rougeLRecall: number;
  segments: SegmentResult[];
  perSample: { id: string; rouge1: number; rougeL: number; meteor: number; bertscore?: number }[];
  /** Ids against the first method's, and empty predictions (pairing.ts). */
  coverage: Coverage;
  /** null when no encoder was given (the report says n/a). */
  bertscore: BertScoreSummary | null;
  /** Average relative improvement (percent) over settings.relativeTo on the metrics of settings.imprMetrics. */
  impr: number | null;
  /** CoT runs: outputs without the answer separator (scored on the whole output) of those that say; null otherwise. */
  parseFailures: { failed: number; of: number } | null;
}

export interface EvalResult {
  methods: MethodResult[];
  settings: {
    rougeStemmer: boolean;
    wordnet: string;
    bootstrapResamples: number;
    bootstrapSeed: number;
    confidence: number;
    segmentUnit: string;
    segmentRef: SegmentRef;
    /** The BERTScore hash, or null without an encoder. */
    bertscore: string | null;
    relativeTo: string;
    /** The metrics the Impr. mean is over. */
    imprMetrics: ReportMetric[];
  };
  /** Present with difficultyFrom. */
  difficulty?: DifficultyResult;
  /** Present with heldOut. */
  heldOut?: HeldOutSummary;
}

function mean(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return xs.length > 0 ? s / xs.length : 0;
}

function pick(m: { rouge1: number; rougeL: number; bleu: number; meteor: number }): MetricValues {
  return { rouge1: m.rouge1, rougeL: m.rougeL, bleu: m.bleu, meteor: m.meteor };
}

/** Scores every run and compares each with the first. */
export function evaluateRuns(runs: readonly RunInput[], opts: EvaluateOptions = {}): EvalResult {
  if (runs.length === 0) throw new UserError("no runs to evaluate");
  const names = new Set<string>();
  for (const r of runs) {
    if (names.has(r.name)) throw new UserError(`method name "${r.name}" is given twice`);
    names.add(r.name);
  }
  const coverage = checkRunIds(runs, opts.allowPartial);
  const segments = opts.segments ?? DEFAULT_SEGMENTS;
  const bs: BootstrapOptions = { resamples: 1000, seed: 12345, confidence: 0.95, ...opts.bootstrap };
  const bert = opts.bertscore;
  const scored = runs.map((run) => {
    const bs = bert?.byRun.get(run.name);
    if (bert && (!bs || bs.F.length !== run.records.length)) throw new Error(`evaluateRuns: no BERTScore for every record of "${run.name}"`);
    const samples = run.records.map((r, i) => {
      const s = scoreSample(r.prediction, r.reference, opts);
      return bs ? { ...s, bertscore: bs.F[i]! } : s;
    });
    return { run, samples, byId: new Map(run.records.map((r, i) => [r.id, samples[i]!] as const)) };
  });
  const first = scored[0]!;
  const methods = scored.map(({ run, samples, byId }, k): MethodResult => {
    const agg = aggregate(samples);
    const ci = Object.fromEntries(METRICS.map((m) => [m, bootstrapInterval(samples, m, bs)])) as Record<MetricName, Interval>;
    let vsFirst: Record<MetricName, Comparison> | undefined;
    let bertVsFirst: Comparison | undefined;
    if (k > 0) {
      const disagreeing = new Set(coverage[k]!.disagreeing);
      const ids = run.records.map((r) => r.id).filter((id) => first.byId.has(id) && !disagreeing.has(id));
      const a: SampleScores[] = ids.map((id) => first.byId.get(id)!);
      const b: SampleScores[] = ids.map((id) => byId.get(id)!);
      const base = aggregate(a);
      vsFirst = Object.fromEntries(
        METRICS.map((m) => {
          const test = pairedBootstrap(a, b, m, bs);
          const relative = base[m] !== 0 ? test.delta / base[m] : null;
          return [m, { delta: test.delta, relative, pValue: test.pValue, nPaired: ids.length }];
        }),
      ) as Record<MetricName, Comparison>;
      if (bert) {
        const test = pairedBootstrap(a, b, "bertscore", bs);
        const baseF = mean(a.map((s) => s.bertscore!));
        bertVsFirst = { delta: test.delta, relative: baseF !== 0 ? test.delta / baseF : null, pValue: test.pValue, nPaired: ids.length };
      }
    }
    const segs = scoreSegments(
      run.records.map((r) => r.prediction),
      run.records.map((r) => r.reference),
      segments,
      opts,
      opts.segmentation,
    ).map((s): SegmentResult => ({
      label: segmentLabel(s.segment),
      start: s.segment.start,
      end: s.segment.end,
      n: s.samples.length,
      metrics: pick(aggregate(s.samples)),
    }));
    const bsRun = bert?.byRun.get(run.name);
    return {
      name: run.name,
      n: samples.length,
      metrics: pick(agg),
      bertscore: bsRun
        ? { P: mean(bsRun.P), R: mean(bsRun.R), F: mean(bsRun.F), ci: bootstrapInterval(samples, "bertscore", bs), vsFirst: bertVsFirst }
        : null,
      impr: null,
      ci,
      vsFirst,
      bleu: agg.bleuDetail,
      rouge1Precision: agg.rouge1Precision,
      rouge1Recall: agg.rouge1Recall,
      rougeLPrecision: agg.rougeLPrecision,
      rougeLRecall: agg.rougeLRecall,
      segments: segs,
      perSample: run.records.map((r, i) => ({
        id: r.id,
        rouge1: agg.perSample.rouge1[i]!,
        rougeL: agg.perSample.rougeL[i]!,
        meteor: agg.perSample.meteor[i]!,
        ...(bsRun ? { bertscore: bsRun.F[i]! } : {}),
      })),
      coverage: coverage[k]!,
      parseFailures: parseFailuresOf(run.records),
    };
  });
  const imprMetrics: ReportMetric[] = bert ? [...METRICS, "bertscore"] : [...METRICS];
  const relativeTo = opts.relativeTo ?? (methods.find((m) => m.name === "Non-pers") ?? methods[0]!).name;
  const ref = methods.find((m) => m.name === relativeTo);
  if (!ref) throw new UserError(`--relative-to ${relativeTo}: no such method (methods: ${methods.map((m) => m.name).join(", ")})`);
  const values = (m: MethodResult) => ({ ...m.metrics, bertscore: m.bertscore?.F });
  for (const m of methods) m.impr = averageRelativeImprovement(values(m), values(ref), imprMetrics).value;
  const wn = opts.meteor?.wordnet ?? "3.0";
  const difficulty = opts.difficultyFrom === undefined ? undefined : difficultyTable(scored, opts.difficultyFrom, opts.difficultyNormalize ?? "minmax", bs);
  return {
    ...(difficulty ? { difficulty } : {}),
    ...(opts.heldOut ? { heldOut: opts.heldOut } : {}),
    methods,
    settings: {
      rougeStemmer: opts.rougeStemmer ?? false,
      wordnet: typeof wn === "string" ? wn : wn.dir,
      bootstrapResamples: bs.resamples!,
      bootstrapSeed: bs.seed!,
      confidence: bs.confidence!,
      segmentUnit: (opts.segmentation?.unit ?? WORD_SEGMENTER).label,
      segmentRef: opts.segmentation?.ref ?? "same-range",
      bertscore: bert?.hash ?? null,
      relativeTo,
      imprMetrics,
    },
  };
}

/** The difficulty-level table: levels from the source method's samples, applied by id to every method. */
function difficultyTable(
  scored: readonly { run: RunInput; samples: SampleScores[]; byId: Map<string, SampleScores> }[],
  source: string,
  normalize: Normalization,
  bs: BootstrapOptions,
): DifficultyResult {
  const src = scored.find((x) => x.run.name === source);
  if (!src) throw new UserError(`--difficulty-from ${source}: no such method (methods: ${scored.map((x) => x.run.name).join(", ")})`);
  const values = src.samples.map(levelValues);
  const levels = difficultyLevels(values, normalize);
  const idsOf = LEVEL_LABELS.map((_, l) => src.run.records.filter((_, i) => levels[i] === l).map((r) => r.id));
  const rankedBy = LEVEL_METRICS.filter((m) => values.every((v) => v[m] !== undefined));
  const metricsOf = (byId: Map<string, SampleScores>, ids: string[]) => ids.map((id) => levelValues(byId.get(id)!));
  const first = scored[0]!;
  const methods = scored.map(({ run, byId }, k) => ({
    name: run.name,
    levels: idsOf.map((ids) => {
      const own = ids.filter((id) => byId.has(id));
      const vals = metricsOf(byId, own);
      const present = LEVEL_METRICS.filter((m) => vals.length > 0 && vals.every((v) => v[m] !== undefined));
      const means = Object.fromEntries(present.map((m) => [m, mean(vals.map((v) => v[m]!))]));
      if (k === 0) return { n: own.length, means };
      const paired = own.filter((id) => first.byId.has(id));
      const a = metricsOf(first.byId, paired);
      const b = metricsOf(byId, paired);
      const vsFirst = Object.fromEntries(
        present.filter((m) => a.every((v) => v[m] !== undefined)).map((m) => {
          const t = pairedBootstrapMeans(a.map((v) => v[m]!), b.map((v) => v[m]!), bs);
          return [m, { delta: t.delta, pValue: t.pValue }];
        }),
      );
      return { n: own.length, means, vsFirst };
    }),
  }));
  return { source, normalize, rankedBy, levels: LEVEL_LABELS.map((label, l) => ({ label, n: idsOf[l]!.length })), methods };
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------------------

const REPORT_LABELS: Record<ReportMetric, string> = { ...METRIC_LABELS, bertscore: "BERTScore" };

/** Decimals used to print each metric (ROUGE/METEOR in 0..1, BLEU in 0..100). */
const DECIMALS: Record<MetricName, number> = { rouge1: 4, rougeL: 4, bleu: 2, meteor: 4 };

function fmtMetric(m: MetricName, v: number): string {
  return Number.isFinite(v) ? v.toFixed(DECIMALS[m]) : "n/a";
}

function fmtP(p: number): string {
  if (!Number.isFinite(p)) return "n/a";
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

function fmtRel(r: number | null): string {
  if (r === null || !Number.isFinite(r)) return "n/a";
  return `${r >= 0 ? "+" : ""}${(r * 100).toFixed(1)}%`;
}

/** Escapes text for a Markdown table cell (also neutralising HTML). */
function cell(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/\|/g, "\\|")
    .replace(/\r?\n/g, "<br>");
}

function truncate(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, max).join("") + " …";
}

function bestIndex(values: number[]): number {
  let best = -1;
  values.forEach((v, i) => {
    if (Number.isFinite(v) && (best < 0 || v > values[best]!)) best = i;
  });
  return best;
}

function historyText(h: unknown, maxItems = 3, maxChars = 300): string {
  if (h === undefined || h === null) return "";
  if (typeof h === "string") return truncate(h, maxChars * maxItems);
  if (Array.isArray(h)) {
    const items = h.slice(0, maxItems).map((item) => {
      if (typeof item === "string") return truncate(item, maxChars);
      if (item && typeof item === "object") {
        const parts = Object.values(item as Record<string, unknown>).filter((v) => typeof v === "string" && v.length > 0);
        return truncate((parts as string[]).join(" / "), maxChars);
      }
      return truncate(String(item), maxChars);
    });
    const more = h.length > maxItems ? `\n(+${h.length - maxItems} more)` : "";
    return items.map((t, i) => `[${i + 1}] ${t}`).join("\n") + more;
  }
  return truncate(JSON.stringify(h), maxChars);
}

/** One line per method whose ids differ from the first method's or which has empty predictions. */
export function coverageNotes(methods: readonly MethodResult[]): string[] {
  const first = methods[0]?.name ?? "";
  const notes: string[] = [];
  for (const m of methods) {
    const c = m.coverage;
    const parts: string[] = [];
    if (c.missing.length) parts.push(`lacks ${c.missing.length} ids of ${first}`);
    if (c.extra.length) parts.push(`has ${c.extra.length} ids ${first} lacks`);
    if (c.disagreeing.length) parts.push(`${c.disagreeing.length} ids with references that differ from ${first}'s (left out of the paired comparison)`);
    if (c.empty) parts.push(`${c.empty} of ${m.n} predictions are empty (scored 0)`);
    if (parts.length) notes.push(`${m.name}: ${parts.join("; ")}`);
  }
  return notes;
}

/** Parse failures of a run's records (CoT files carry "parse_failed"), or null when none of them says. */
export function parseFailuresOf(records: readonly PredictionRecord[]): { failed: number; of: number } | null {
  const said = records.filter((r) => r.parseFailed !== undefined);
  return said.length === 0 ? null : { failed: said.filter((r) => r.parseFailed).length, of: said.length };
}

/** One line per CoT method: how many of its outputs had no answer separator. */
export function parseFailureNotes(methods: readonly MethodResult[]): string[] {
  return methods.flatMap((m) => (m.parseFailures ? [`${m.name}: ${m.parseFailures.failed} of ${m.parseFailures.of} outputs had no answer separator (scored on the whole output)`] : []));
}

export interface RenderOptions {
  /** Number of side-by-side sample texts (default 3). */
  samples?: number;
  /** Characters shown per text (default 700). */
  maxChars?: number;
}

/** Sample ids shown side by side: evenly spaced over the ids every method has, in the first method's order. */
export function sampleIds(runs: readonly RunInput[], count: number): string[] {
  const idSets = runs.map((run) => new Set(run.records.map((r) => r.id)));
  const common = runs[0]!.records.map((r) => r.id).filter((id) => idSets.every((s) => s.has(id)));
  if (common.length <= count) return common;
  const out: string[] = [];
  for (let k = 0; k < count; k++) out.push(common[Math.floor((k * common.length) / count)]!);
  return out;
}

export const PLOT_FILES = {
  bars: "methods.svg",
  segment: (m: MetricName): string => `segments-${m}.svg`,
};

/** report.md for an evaluation. */
export function renderMarkdown(result: EvalResult, runs: readonly RunInput[], opts: RenderOptions = {}): string {
  const { methods, settings } = result;
  const out: string[] = [];
  out.push(`# Evaluation report`, ``);
  out.push(
    `${methods.length} method${methods.length > 1 ? "s" : ""}; ${methods.map((m) => `${m.name} (${m.n} samples)`).join(", ")}. ` +
      `ROUGE-1 / ROUGE-L: rouge_score F1 (default tokenizer${settings.rougeStemmer ? ", Porter stemmer" : ", no stemmer"}), mean over samples, 0..1. ` +
      `BLEU: sacreBLEU corpus BLEU (13a, exp smoothing), 0..100. METEOR: nltk METEOR (WordNet ${settings.wordnet}), mean over samples, 0..1. ` +
      (settings.bertscore
        ? `BERTScore: F, mean over samples (${settings.bertscore}). `
        : `BERTScore: n/a (no encoder given: \`--bertscore-model\`). `) +
      `Impr.: mean relative change over ${settings.imprMetrics.map((m) => REPORT_LABELS[m]).join(", ")} against ${settings.relativeTo}, in percent. ` +
      `Best value per column in bold.`,
    ``,
  );
  const imprHead = `Impr. vs ${cell(settings.relativeTo)} (${settings.imprMetrics.length} metrics)`;
  out.push(`## Scores`, ``);
  out.push(`| Method | n | ${METRICS.map((m) => METRIC_LABELS[m]).join(" | ")} | BERTScore | ${imprHead} |`);
  out.push(`|---|---:|${METRICS.map(() => "---:").join("|")}|---:|---:|`);
  const best = Object.fromEntries(METRICS.map((m) => [m, bestIndex(methods.map((x) => x.metrics[m]))])) as Record<MetricName, number>;
  const bestBert = bestIndex(methods.map((x) => x.bertscore?.F ?? NaN));
  methods.forEach((x, i) => {
    const cells = METRICS.map((m) => {
      const v = fmtMetric(m, x.metrics[m]);
      return best[m] === i && methods.length > 1 ? `**${v}**` : v;
    });
    const bertCell = x.bertscore ? (bestBert === i && methods.length > 1 ? `**${x.bertscore.F.toFixed(4)}**` : x.bertscore.F.toFixed(4)) : "n/a";
    const impr = x.impr === null ? "n/a" : `${x.impr >= 0 ? "+" : ""}${x.impr.toFixed(2)}%`;
    out.push(`| ${cell(x.name)} | ${x.n} | ${cells.join(" | ")} | ${bertCell} | ${impr} |`);
  });
  out.push(``);
  const notes = coverageNotes(methods);
  if (notes.length) out.push(`Coverage:`, ``, ...notes.map((n) => `- ${cell(n)}`), ``);
  const parseNotes = parseFailureNotes(methods);
  if (parseNotes.length) out.push(`CoT answer parsing (the answer is the text after the last separator):`, ``, ...parseNotes.map((n) => `- ${cell(n)}`), ``);
  out.push(
    `${Math.round(settings.confidence * 100)}% bootstrap confidence intervals (${settings.bootstrapResamples} resamples, seed ${settings.bootstrapSeed}):`,
    ``,
  );
  out.push(`| Method | ${METRICS.map((m) => METRIC_LABELS[m]).join(" | ")} | BERTScore |`);
  out.push(`|---|${METRICS.map(() => "---:").join("|")}|---:|`);
  for (const x of methods) {
    const b = x.bertscore ? `[${x.bertscore.ci.low.toFixed(4)}, ${x.bertscore.ci.high.toFixed(4)}]` : "n/a";
    out.push(`| ${cell(x.name)} | ${METRICS.map((m) => `[${fmtMetric(m, x.ci[m].low)}, ${fmtMetric(m, x.ci[m].high)}]`).join(" | ")} | ${b} |`);
  }
  out.push(``);
  if (methods.length > 1) {
    out.push(`## Against ${cell(methods[0]!.name)}`, ``);
    out.push(
      `Relative improvement over the first method and two-sided paired bootstrap p-value (same resamples applied to both methods, on the samples both have).`,
      ``,
    );
    const withBert = settings.bertscore !== null;
    out.push(`| Method | paired n | ${METRICS.map((m) => `${METRIC_LABELS[m]} rel. | p`).join(" | ")}${withBert ? " | BERTScore rel. | p" : ""} |`);
    out.push(`|---|---:|${METRICS.map(() => "---:|---:").join("|")}${withBert ? "|---:|---:" : ""}|`);
    for (const x of methods.slice(1)) {
      const c = x.vsFirst!;
      const b = x.bertscore?.vsFirst;
      const bert = withBert ? ` | ${fmtRel(b?.relative ?? null)} | ${fmtP(b?.pValue ?? NaN)}` : "";
      out.push(`| ${cell(x.name)} | ${c.rouge1.nPaired} | ${METRICS.map((m) => `${fmtRel(c[m].relative)} | ${fmtP(c[m].pValue)}`).join(" | ")}${bert} |`);
    }
    out.push(``);
  }
  if (result.heldOut) out.push(...heldOutMarkdown(result.heldOut, fmtP, cell));
  out.push(`![Scores of the methods](${PLOT_FILES.bars})`, ``);
  out.push(`## Position-sensitive scores`, ``);
  out.push(
    `Each text is cut into segments of ${cell(settings.segmentUnit)} ([0,100), [100,200), [200,300), [300,∞)); a segment of the prediction is scored against ${settings.segmentRef === "full" ? "the whole reference" : "the same segment of the reference"}. ` +
      `A sample counts in a segment when its prediction or its reference reaches it; n is that count.`,
    ``,
  );
  for (const m of METRICS) {
    const segs = methods[0]!.segments;
    out.push(`**${METRIC_LABELS[m]}**`, ``);
    out.push(`| Method | ${segs.map((s) => `${s.label}`).join(" | ")} |`);
    out.push(`|---|${segs.map(() => "---:").join("|")}|`);
    const bestSeg = segs.map((_, j) => bestIndex(methods.map((x) => x.segments[j]!.metrics[m])));
    methods.forEach((x, i) => {
      const cells = x.segments.map((s, j) => {
        const v = `${fmtMetric(m, s.metrics[m])} (n=${s.n})`;
        return bestSeg[j] === i && methods.length > 1 && s.n > 0 ? `**${v}**` : v;
      });
      out.push(`| ${cell(x.name)} | ${cells.join(" | ")} |`);
    });
    out.push(``, `![${METRIC_LABELS[m]} by segment](${PLOT_FILES.segment(m)})`, ``);
  }
  if (result.difficulty) out.push(...difficultyMarkdown(result.difficulty));
  const ids = sampleIds(runs, opts.samples ?? 3);
  if (ids.length > 0) {
    out.push(`## Samples`, ``);
    const maxChars = opts.maxChars ?? 700;
    for (const id of ids) {
      const firstRec = runs[0]!.records.find((r) => r.id === id)!;
      out.push(`### ${cell(id)}${firstRec.user ? ` (user ${cell(firstRec.user)})` : ""}`, ``);
      const withHistory = runs.map((r) => r.records.find((x) => x.id === id)).find((r) => r?.history !== undefined);
      const hist = historyText(withHistory?.history);
      if (hist) out.push(`User history:`, ``, ...hist.split("\n").map((l) => `> ${cell(l)}`), ``);
      const cols = ["Reference", ...runs.map((r) => r.name)];
      const texts = [firstRec.reference, ...runs.map((r) => r.records.find((x) => x.id === id)!.prediction)];
      out.push(`| ${cols.map(cell).join(" | ")} |`);
      out.push(`|${cols.map(() => "---").join("|")}|`);
      out.push(`| ${texts.map((t) => cell(truncate(t, maxChars))).join(" | ")} |`);
      out.push(``);
    }
  }
  return out.join("\n");
}

function difficultyMarkdown(d: DifficultyResult): string[] {
  const out: string[] = [`## Difficulty levels`, ``];
  out.push(
    `Samples ranked by ${cell(d.source)}'s per-sample ${d.rankedBy.map((m) => REPORT_LABELS[m]).join(", ")} (BLEU as sentence BLEU), ` +
      `each ${d.normalize === "minmax" ? "min-max" : "z-score"} normalised and averaged, then split into four equal groups from the hardest ` +
      `(${d.levels.map((l) => `${l.label}: ${l.n}`).join(", ")}); the same groups for every method. Cells: mean per-sample score ` +
      `(BLEU: mean sentence BLEU) and, against ${cell(d.methods[0]!.name)}, the paired bootstrap p-value.`,
    ``,
  );
  const shown = LEVEL_METRICS.filter((m) => d.methods[0]!.levels.some((l) => l.means[m] !== undefined));
  for (const m of shown) {
    out.push(`**${REPORT_LABELS[m]}**`, ``);
    out.push(`| Method | ${d.levels.map((l) => cell(l.label)).join(" | ")} |`);
    out.push(`|---|${d.levels.map(() => "---:").join("|")}|`);
    for (const x of d.methods) {
      const cells = x.levels.map((l) => {
        const v = l.means[m];
        if (v === undefined) return "n/a";
        const text = m === "bleu" ? v.toFixed(2) : v.toFixed(4);
        const p = l.vsFirst?.[m];
        return p ? `${text} (p ${fmtP(p.pValue)})` : text;
      });
      out.push(`| ${cell(x.name)} | ${cells.join(" | ")} |`);
    }
    out.push(``);
  }
  return out;
}

/** The SVG plots of a report: file name -> SVG text. */
export function renderPlots(result: EvalResult): Map<string, string> {
  const files = new Map<string, string>();
  const { methods } = result;
  // One bar chart with all metrics on a common 0..100 scale (ROUGE and METEOR times 100).
  const scale = (m: MetricName): number => (m === "bleu" ? 1 : 100);
  files.set(
    PLOT_FILES.bars,
    barChart({
      title: "Scores by method",
      yLabel: "score (ROUGE and METEOR x 100)",
      categories: METRICS.map((m) => METRIC_LABELS[m]),
      series: methods.map((x) => ({
        name: x.name,
        values: METRICS.map((m) => x.metrics[m] * scale(m)),
        errors: METRICS.map((m) => [x.ci[m].low * scale(m), x.ci[m].high * scale(m)] as [number, number]),
      })),
      valueDecimals: 1,
    }),
  );
  const segs = methods[0]!.segments;
  for (const m of METRICS) {
    files.set(
      PLOT_FILES.segment(m),
      lineChart({
        title: `${METRIC_LABELS[m]} by token position`,
        xLabel: `segment (${result.settings.segmentUnit.startsWith("tokens of the tokenizer") ? "model token" : "whitespace token"} positions)`,
        yLabel: METRIC_LABELS[m],
        xTicks: segs.map((s, j) => ({ value: j, label: s.label })),
        series: methods.map((x) => ({
          name: x.name,
          points: x.segments.filter((s) => s.n > 0).map((s) => [x.segments.indexOf(s), s.metrics[m]] as [number, number]),
        })),
        markers: true,
      }),
    );
  }
  return files;
}

/** BERTScore of every run's predictions against its references. */
export async function bertScoreRuns(
  scorer: BertScorer,
  runs: readonly RunInput[],
  onProgress?: (run: string, done: number, total: number) => void,
): Promise<BertScoreRuns> {
  const byRun = new Map<string, BertScoreResult>();
  for (const run of runs) {
    const r = await scorer.score(
      run.records.map((x) => x.prediction),
      run.records.map((x) => x.reference),
      (p) => onProgress?.(run.name, p.done, p.total),
    );
    byRun.set(run.name, r);
  }
  return { hash: scorer.hash, byRun };
}

/** Evaluates runs and writes metrics.json, report.md and the SVG plots into `outDir` (atomically). */
export async function writeEvalReport(
  outDir: string,
  runs: readonly RunInput[],
  opts: EvaluateOptions & RenderOptions & { overwrite?: boolean; bertScorer?: BertScorer; onBertScoreProgress?: (run: string, done: number, total: number) => void } = {},
): Promise<EvalResult> {
  const bertscore = opts.bertScorer ? await bertScoreRuns(opts.bertScorer, runs, opts.onBertScoreProgress) : opts.bertscore;
  const result = evaluateRuns(runs, { ...opts, bertscore });
  await writeDirAtomic(
    outDir,
    async (tmp) => {
      await writeFile(join(tmp, "metrics.json"), JSON.stringify(result, null, 2) + "\n");
      await writeFile(join(tmp, "report.md"), renderMarkdown(result, runs, opts) + "\n");
      for (const [name, svg] of renderPlots(result)) await writeFile(join(tmp, name), svg);
    },
    { overwrite: opts.overwrite },
  );
  return result;
}
