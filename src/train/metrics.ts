// The training log: one JSON line per optimiser step in metrics.jsonl, and the loss curve as an SVG line chart.
import { appendFileSync } from "node:fs";
import { atomicWriteBytes } from "../util/files.ts";
import { type LineSeries, lineChart } from "../util/svg.ts";

export interface MetricRow {
  step: number;
  /** Epochs done, fractional (1.5 = half-way through the second epoch). */
  epoch: number;
  /** Token-weighted mean training loss of the step. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  /** Real (non-padding) tokens in the step. */
  tokens: number;
  tokens_per_s: number;
  /** Wall time of the optimiser step (forward, backward, update), ms (absent in logs written before it was recorded). */
  step_ms?: number;
  /** Resident set size of the process after the step, MiB (absent in logs written before it was recorded). */
  rss_mb?: number;
  /** Largest resident set size of the process so far, MiB. */
  peak_rss_mb?: number;
  /** Validation loss, on steps where it was computed. */
  val_loss?: number;
}

export function metricLine(row: MetricRow): string {
  return JSON.stringify(row) + "\n";
}

/** Parses metrics.jsonl text; a cut-off last line (a run killed mid-write) is ignored. */
export function parseMetrics(text: string): MetricRow[] {
  const rows: MetricRow[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      rows.push(JSON.parse(line) as MetricRow);
    } catch {
      break;
    }
  }
  return rows;
}

export class MetricsLog {
  readonly rows: MetricRow[] = [];

  constructor(private readonly file?: string) {}

  /** Starts from `rows` (a resumed run), rewriting the file atomically. */
  reset(rows: MetricRow[]): void {
    this.rows.length = 0;
    this.rows.push(...rows);
    if (this.file) atomicWriteBytes(this.file, this.text());
  }

  add(row: MetricRow): void {
    this.rows.push(row);
    if (this.file) appendFileSync(this.file, metricLine(row));
  }

  text(): string {
    return this.rows.map(metricLine).join("");
  }

  /** The loss curve (training loss per step, validation loss where measured); NaN/Inf points are left out. */
  svg(title = "Training loss"): string {
    const finite = (p: [number, number]) => Number.isFinite(p[0]) && Number.isFinite(p[1]);
    const series: LineSeries[] = [{ name: "train loss", points: this.rows.map((r): [number, number] => [r.step, r.loss]).filter(finite) }];
    const val = this.rows.filter((r) => r.val_loss !== undefined).map((r): [number, number] => [r.step, r.val_loss!]).filter(finite);
    if (val.length > 0) series.push({ name: "validation loss", points: val });
    return lineChart({ title, xLabel: "step", yLabel: "loss (cross-entropy per target token)", series, markers: this.rows.length <= 60 });
  }
}
