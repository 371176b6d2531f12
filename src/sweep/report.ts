// The sweep's report: the evaluation report of every run (OUT/report/), and OUT/sweep.md + sweep.json with a row per
// point, each point's scores relative to its SFT reference, the check that the lambda = 0 points equal SFT, mean +- sd
// over seeds when seed is a grid key, and per grid key a plot of the metrics normalised by SFT (= 1), as the paper's
// Figures 5 and 6 plot them.
import { join } from "node:path";
import { writeEvalReport, type EvalResult } from "../eval/report.ts";
import { METRIC_LABELS, METRICS, type MetricName } from "../eval/score.ts";
import type { BootstrapOptions } from "../eval/bootstrap.ts";
import { heldOutTable } from "../eval/heldout.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { lineChart } from "../util/svg.ts";
import { valueAt, type GridAxis, type GridKey } from "./grid.ts";
import type { SweepRun } from "./run.ts";

export interface PointRow {
  name: string;
  values: Partial<Record<GridKey, string>>;
  reference: string;
  metrics: Record<MetricName, number>;
  /** metric / the SFT reference's metric. */
  normalized: Record<MetricName, number>;
}

export interface SeedGroup {
  /** The point without its seed, e.g. "lambda=0.5". */
  name: string;
  values: Partial<Record<GridKey, string>>;
  seeds: string[];
  mean: Record<MetricName, number>;
  /** Sample standard deviation over the seeds (0 for one seed). */
  sd: Record<MetricName, number>;
}

export interface LambdaZeroCheck {
  point: string;
  reference: string;
  /** Texts identical to the reference run's, of all. */
  identical: number;
  total: number;
  scoresEqual: boolean;
}

export interface SweepSummary {
  grid: { key: GridKey; values: string[] }[];
  points: PointRow[];
  references: { name: string; metrics: Record<MetricName, number> }[];
  seedGroups: SeedGroup[] | null;
  lambdaZero: LambdaZeroCheck[];
}

const pickMetrics = (m: EvalResult["methods"][number]) => Object.fromEntries(METRICS.map((k) => [k, m.metrics[k]])) as Record<MetricName, number>;

function meanSd(xs: readonly number[]): [number, number] {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return [mean, sd];
}

/** The summary of a finished sweep from its runs and their evaluation. */
export function summarizeSweep(grid: readonly GridAxis[], runs: readonly SweepRun[], result: EvalResult): SweepSummary {
  const byName = new Map(result.methods.map((m) => [m.name, m]));
  const points = runs.filter((r) => r.method === "flythinker").map((r): PointRow => {
    const metrics = pickMetrics(byName.get(r.name)!);
    const ref = pickMetrics(byName.get(r.reference!)!);
    return {
      name: r.name,
      values: Object.fromEntries(r.point),
      reference: r.reference!,
      metrics,
      normalized: Object.fromEntries(METRICS.map((k) => [k, ref[k] !== 0 ? metrics[k] / ref[k] : NaN])) as Record<MetricName, number>,
    };
  });
  const references = runs.filter((r) => r.method === "sft").map((r) => ({ name: r.name, metrics: pickMetrics(byName.get(r.name)!) }));
  let seedGroups: SeedGroup[] | null = null;
  if (grid.some((a) => a.key === "seed")) {
    const groups = new Map<string, PointRow[]>();
    for (const p of points) {
      const key = Object.entries(p.values).filter(([k]) => k !== "seed").map(([k, v]) => `${k}=${v}`).join(",") || "all";
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    seedGroups = [...groups].map(([name, rows]) => {
      const stats = METRICS.map((k) => meanSd(rows.map((r) => r.metrics[k])));
      const values = { ...rows[0]!.values };
      delete values.seed;
      return {
        name,
        values,
        seeds: rows.map((r) => r.values.seed!),
        mean: Object.fromEntries(METRICS.map((k, i) => [k, stats[i]![0]])) as Record<MetricName, number>,
        sd: Object.fromEntries(METRICS.map((k, i) => [k, stats[i]![1]])) as Record<MetricName, number>,
      };
    });
  }
  const runByName = new Map(runs.map((r) => [r.name, r]));
  const lambdaZero = runs
    .filter((r) => r.method === "flythinker" && valueAt(r.point, "lambda") === "0")
    .map((r): LambdaZeroCheck => {
      const ref = runByName.get(r.reference!)!;
      const refText = new Map(ref.predictions.map((p) => [p.id, p.prediction]));
      const identical = r.predictions.filter((p) => refText.get(p.id) === p.prediction).length;
      const a = pickMetrics(byName.get(r.name)!);
      const b = pickMetrics(byName.get(ref.name)!);
      return { point: r.name, reference: ref.name, identical, total: r.predictions.length, scoresEqual: METRICS.every((k) => a[k] === b[k]) };
    });
  return { grid: grid.map((a) => ({ key: a.key, values: [...a.values] })), points, references, seedGroups, lambdaZero };
}

const fmt = (k: MetricName, v: number) => (Number.isFinite(v) ? v.toFixed(k === "bleu" ? 2 : 4) : "n/a");

export function renderSweepMarkdown(s: SweepSummary, plots: readonly string[]): string {
  const out = [`# Sweep`, ``];
  out.push(`Grid: ${s.grid.map((a) => `${a.key} = ${a.values.join(", ")}`).join("; ")}. Every point is one FlyThinker training; its SFT reference has the same seed and history size. ` +
    `"x SFT" columns divide a point's score by its reference's. The full evaluation (intervals, p-values, segments) is in report/report.md.`, ``);
  out.push(`| Point | ${METRICS.map((k) => METRIC_LABELS[k]).join(" | ")} | ${METRICS.map((k) => `${METRIC_LABELS[k]} x SFT`).join(" | ")} |`);
  out.push(`|---|${METRICS.map(() => "---:").join("|")}|${METRICS.map(() => "---:").join("|")}|`);
  for (const r of s.references) out.push(`| ${r.name} | ${METRICS.map((k) => fmt(k, r.metrics[k])).join(" | ")} | ${METRICS.map(() => "1").join(" | ")} |`);
  for (const p of s.points) {
    out.push(`| ${p.name} | ${METRICS.map((k) => fmt(k, p.metrics[k])).join(" | ")} | ${METRICS.map((k) => (Number.isFinite(p.normalized[k]) ? p.normalized[k].toFixed(3) : "n/a")).join(" | ")} |`);
  }
  out.push(``);
  if (s.lambdaZero.length > 0) {
    out.push(`## lambda = 0 is SFT`, ``);
    out.push(`With lambda = 0 the thoughts are multiplied by 0 and the Reasoner gets no gradient, so with the same seed and data order the Generator is trained exactly as SFT's.`, ``);
    for (const c of s.lambdaZero) {
      out.push(`- ${c.point} vs ${c.reference}: ${c.identical} of ${c.total} generated texts identical; scores ${c.scoresEqual ? "equal" : "differ"}.`);
    }
    out.push(``);
  }
  if (s.seedGroups) {
    out.push(`## Mean +- sd over seeds`, ``);
    out.push(`| Point | seeds | ${METRICS.map((k) => METRIC_LABELS[k]).join(" | ")} |`);
    out.push(`|---|---|${METRICS.map(() => "---:").join("|")}|`);
    for (const g of s.seedGroups) out.push(`| ${g.name} | ${g.seeds.join(", ")} | ${METRICS.map((k) => `${fmt(k, g.mean[k])} +- ${fmt(k, g.sd[k])}`).join(" | ")} |`);
    out.push(``);
  }
  for (const p of plots) out.push(`![${p}](${p})`, ``);
  return out.join("\n");
}

/** Per non-seed grid key: the metrics normalised by SFT along the key's values (means over the other keys). */
export function renderSweepPlots(s: SweepSummary): Map<string, string> {
  const files = new Map<string, string>();
  for (const axis of s.grid.filter((a) => a.key !== "seed")) {
    const series = METRICS.map((k) => ({
      name: METRIC_LABELS[k],
      points: axis.values.flatMap((v, i): [number, number][] => {
        const rows = s.points.filter((p) => p.values[axis.key] === v && Number.isFinite(p.normalized[k]));
        return rows.length ? [[i, rows.reduce((a, r) => a + r.normalized[k], 0) / rows.length]] : [];
      }),
    }));
    files.set(`sweep-${axis.key}.svg`, lineChart({
      title: `Metrics by ${axis.key}, normalised by SFT`,
      xLabel: axis.key,
      yLabel: "score / SFT score",
      xTicks: axis.values.map((v, i) => ({ value: i, label: v.split(/[\\/]/).pop()! })),
      series,
      markers: true,
    }));
  }
  return files;
}

/**
 * Writes OUT/report/ (the evaluation of every run; with `nll`, the held-out likelihood of `nll.data`'s split under
 * every run against the first SFT reference), OUT/sweep.md, OUT/sweep.json and the plots.
 */
export async function writeSweepReport(
  out: string,
  grid: readonly GridAxis[],
  runs: readonly SweepRun[],
  bootstrap?: BootstrapOptions,
  nll?: { data: string; split: string },
): Promise<SweepSummary> {
  const firstRef = runs.find((r) => r.method === "sft")!.name;
  const heldOut = nll
    ? await heldOutTable(runs.map((r) => ({ name: r.name, dir: join(r.dir, "model") })), nll.data, { split: nll.split, baseline: firstRef, bootstrap })
    : undefined;
  const result = await writeEvalReport(join(out, "report"), runs.map((r) => ({ name: r.name, records: r.predictions })), {
    overwrite: true,
    relativeTo: firstRef,
    bootstrap,
    samples: 2,
    heldOut,
  });
  const summary = summarizeSweep(grid, runs, result);
  const plots = renderSweepPlots(summary);
  for (const [name, svg] of plots) atomicWriteBytes(join(out, name), svg);
  atomicWriteBytes(join(out, "sweep.json"), JSON.stringify(summary, null, 2) + "\n");
  atomicWriteBytes(join(out, "sweep.md"), renderSweepMarkdown(summary, [...plots.keys()]) + "\n");
  return summary;
}
