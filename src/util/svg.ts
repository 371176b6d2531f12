// Small, dependency-free SVG charts: a line chart (one polyline per series, numeric or labelled x axis) and a grouped
// bar chart (categories x series, optional error bars). Output is a standalone, well-formed SVG document. Each series
// is a <g class="series" data-series="NAME"> element so that tools and tests can find it; text is XML-escaped.

export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  width?: number;
  height?: number;
  /** Fixed tick labels on the x axis (for categorical x such as position segments); default: numeric ticks. */
  xTicks?: readonly { value: number; label: string }[];
  /** Force the y range; by default it spans the data (including 0 when all values are positive and near it). */
  yMin?: number;
  yMax?: number;
  /** Draw point markers (default: when a series has at most 50 points). */
  markers?: boolean;
}

export interface BarSeries {
  name: string;
  values: readonly number[];
  /** Optional [low, high] per category, drawn as error bars. */
  errors?: readonly (readonly [number, number])[];
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  categories: readonly string[];
  series: readonly BarSeries[];
  width?: number;
  height?: number;
  yMin?: number;
  yMax?: number;
  /** Print each bar's value above it with this many decimals (default: no labels). */
  valueDecimals?: number;
}

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

export function escapeXml(s: string): string {
  // Characters that XML 1.0 forbids are dropped; markup characters are escaped.
  return s
    .replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

function fmt(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 100) / 100) : "0";
}

/** "Nice" tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  const clean = (v: number): number => Number(v.toPrecision(12));
  for (let v = first; v <= hi + step * 1e-6; v += step) ticks.push(clean(Math.round(v / step) * step));
  if (ticks[ticks.length - 1]! < hi - 1e-12) ticks.push(clean(ticks[ticks.length - 1]! + step));
  return ticks;
}

function tickLabel(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function frame(width: number, height: number, legendRows: number): Frame {
  return { width, height, left: 70, right: width - 20, top: 40, bottom: height - 62 - 18 * legendRows };
}

function header(f: Frame, title: string): string[] {
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text class="title" x="${f.width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function yAxis(f: Frame, ticks: number[], y: (v: number) => number, label: string): string[] {
  const out = [`<g class="y-axis">`];
  for (const t of ticks) {
    const py = fmt(y(t));
    out.push(`<line x1="${f.left}" y1="${py}" x2="${f.right}" y2="${py}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${f.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  const cy = (f.top + f.bottom) / 2;
  out.push(`<text x="16" y="${fmt(cy)}" text-anchor="middle" transform="rotate(-90 16 ${fmt(cy)})">${escapeXml(label)}</text>`);
  out.push(`<line x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${f.bottom}" stroke="#333"/>`);
  out.push(`</g>`);
  return out;
}

function legend(f: Frame, names: readonly string[]): string[] {
  const out = [`<g class="legend">`];
  const perRow = Math.max(1, Math.floor((f.right - f.left) / 160));
  names.forEach((name, i) => {
    const x = f.left + (i % perRow) * 160;
    const y = f.bottom + 56 + Math.floor(i / perRow) * 18;
    out.push(`<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 17}" y="${y}" dominant-baseline="middle">${escapeXml(name)}</text>`);
  });
  out.push(`</g>`);
  return out;
}

function yRange(values: number[], yMin?: number, yMax?: number): [number, number] {
  const finite = values.filter(Number.isFinite);
  let lo = yMin ?? (finite.length ? Math.min(...finite) : 0);
  let hi = yMax ?? (finite.length ? Math.max(...finite) : 1);
  if (yMin === undefined && lo > 0 && lo < hi * 0.5) lo = 0;
  if (hi === lo) hi = lo + 1;
  const ticks = niceTicks(lo, hi);
  if (yMin === undefined) lo = Math.min(lo, ticks[0]!);
  if (yMax === undefined) hi = Math.max(hi, ticks[ticks.length - 1]!);
  return [lo, hi];
}

/** A line chart as a standalone SVG document. */
export function lineChart(o: LineChartOptions): string {
  const legendRows = Math.ceil(o.series.length / Math.max(1, Math.floor(((o.width ?? 720) - 90) / 160)));
  const f = frame(o.width ?? 720, o.height ?? 420, legendRows);
  const xs = o.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = o.series.flatMap((s) => s.points.map((p) => p[1]));
  let xLo = o.xTicks?.length ? Math.min(...o.xTicks.map((t) => t.value)) : xs.length ? Math.min(...xs) : 0;
  let xHi = o.xTicks?.length ? Math.max(...o.xTicks.map((t) => t.value)) : xs.length ? Math.max(...xs) : 1;
  if (xHi === xLo) {
    xLo -= 0.5;
    xHi += 0.5;
  }
  const xPad = o.xTicks?.length ? (xHi - xLo) * 0.05 : 0;
  const [yLo, yHi] = yRange(ys, o.yMin, o.yMax);
  const x = (v: number): number => f.left + ((v - xLo + xPad) / (xHi - xLo + 2 * xPad)) * (f.right - f.left);
  const y = (v: number): number => f.bottom - ((v - yLo) / (yHi - yLo)) * (f.bottom - f.top);
  const out = header(f, o.title);
  out.push(...yAxis(f, niceTicks(yLo, yHi).filter((t) => t >= yLo - 1e-12 && t <= yHi + 1e-12), y, o.yLabel));
  const xt = o.xTicks ?? niceTicks(xLo, xHi, 6).filter((t) => t >= xLo && t <= xHi).map((t) => ({ value: t, label: tickLabel(t) }));
  out.push(`<g class="x-axis">`);
  out.push(`<line x1="${f.left}" y1="${f.bottom}" x2="${f.right}" y2="${f.bottom}" stroke="#333"/>`);
  for (const t of xt) {
    const px = fmt(x(t.value));
    out.push(`<line x1="${px}" y1="${f.bottom}" x2="${px}" y2="${f.bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${px}" y="${f.bottom + 18}" text-anchor="middle">${escapeXml(t.label)}</text>`);
  }
  out.push(`<text x="${fmt((f.left + f.right) / 2)}" y="${f.bottom + 36}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`</g>`);
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]));
    out.push(`<g class="series" data-series="${escapeXml(s.name)}" fill="none" stroke="${color}">`);
    if (pts.length > 0) {
      out.push(`<polyline stroke-width="2" points="${pts.map((p) => `${fmt(x(p[0]))},${fmt(y(p[1]))}`).join(" ")}"/>`);
    }
    if (o.markers ?? pts.length <= 50) {
      for (const p of pts) out.push(`<circle cx="${fmt(x(p[0]))}" cy="${fmt(y(p[1]))}" r="3.5" fill="${color}"/>`);
    }
    out.push(`</g>`);
  });
  out.push(...legend(f, o.series.map((s) => s.name)));
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** A grouped bar chart (one group per category, one bar per series) as a standalone SVG document. */
export function barChart(o: BarChartOptions): string {
  const legendRows = Math.ceil(o.series.length / Math.max(1, Math.floor(((o.width ?? 720) - 90) / 160)));
  const f = frame(o.width ?? 720, o.height ?? 420, legendRows);
  const values = o.series.flatMap((s) => [...s.values, ...(s.errors ?? []).flat()]);
  const [yLo, yHi] = yRange([0, ...values], o.yMin ?? 0, o.yMax);
  const y = (v: number): number => f.bottom - ((v - yLo) / (yHi - yLo)) * (f.bottom - f.top);
  const out = header(f, o.title);
  out.push(...yAxis(f, niceTicks(yLo, yHi).filter((t) => t >= yLo - 1e-12 && t <= yHi + 1e-12), y, o.yLabel));
  const groupW = (f.right - f.left) / Math.max(1, o.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, o.series.length);
  out.push(`<g class="x-axis">`);
  out.push(`<line x1="${f.left}" y1="${f.bottom}" x2="${f.right}" y2="${f.bottom}" stroke="#333"/>`);
  o.categories.forEach((c, k) => {
    out.push(`<text x="${fmt(f.left + groupW * (k + 0.5))}" y="${f.bottom + 18}" text-anchor="middle">${escapeXml(c)}</text>`);
  });
  out.push(`</g>`);
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    out.push(`<g class="series" data-series="${escapeXml(s.name)}" fill="${color}">`);
    o.categories.forEach((_, k) => {
      const v = s.values[k] ?? NaN;
      if (!Number.isFinite(v)) return;
      const x0 = f.left + groupW * k + groupW * 0.1 + barW * i;
      const top = y(Math.max(v, yLo));
      const base = y(Math.max(yLo, Math.min(0, yHi)));
      out.push(
        `<rect x="${fmt(x0)}" y="${fmt(Math.min(top, base))}" width="${fmt(barW * 0.92)}" height="${fmt(Math.abs(base - top))}"><title>${escapeXml(`${s.name}: ${v}`)}</title></rect>`,
      );
      const e = s.errors?.[k];
      if (e && Number.isFinite(e[0]) && Number.isFinite(e[1])) {
        const cx = fmt(x0 + barW * 0.46);
        out.push(`<line class="error" x1="${cx}" y1="${fmt(y(e[0]))}" x2="${cx}" y2="${fmt(y(e[1]))}" stroke="#222"/>`);
      }
      if (o.valueDecimals !== undefined) {
        const above = Math.min(top, base, e && Number.isFinite(e[1]) ? y(Math.max(e[0], e[1])) : Infinity);
        out.push(
          `<text x="${fmt(x0 + barW * 0.46)}" y="${fmt(above - 4)}" text-anchor="middle" font-size="10" fill="#222">${v.toFixed(o.valueDecimals)}</text>`,
        );
      }
    });
    out.push(`</g>`);
  });
  out.push(...legend(f, o.series.map((s) => s.name)));
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
