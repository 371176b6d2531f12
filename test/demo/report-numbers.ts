// Reads the numbers back out of a report.md's tables and compares them with the metrics.json written beside it: every
// printed value must be the stored one, rounded as printed. A parser of its own (markdown tables by heading), not the
// renderer's formatting code, so a report that shows numbers from elsewhere fails.
import type { EvalResult } from "../../src/eval/report.ts";
import { METRIC_LABELS, METRICS } from "../../src/eval/score.ts";

export interface NumberCheck {
  /** Cells compared. */
  checked: number;
  problems: string[];
}

/** The rows (cells, markup removed) of the first table after the line `heading` (and after `after`, if given). */
function tableAfter(report: string, heading: string, after?: string): string[][] {
  const lines = report.split("\n");
  let i = lines.findIndex((l) => l.trim() === heading);
  if (i < 0) return [];
  if (after !== undefined) {
    const j = lines.slice(i).findIndex((l) => l.startsWith(after));
    if (j < 0) return [];
    i += j;
  }
  while (i < lines.length && !lines[i]!.startsWith("|")) i++;
  const rows: string[][] = [];
  for (let k = i + 2; k < lines.length && lines[k]!.startsWith("|"); k++) {
    const cells = lines[k]!
      .slice(1, -1)
      .split(/(?<!\\)\|/)
      .map((c) => c.trim().replace(/\*\*/g, "").replace(/\\\|/g, "|").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&"));
    rows.push(cells);
  }
  return rows;
}

/** A printed number (with "+", "%", "<0.001") as the value it stands for and its rounding step. */
function parse(text: string): { value: number; step: number; below?: boolean } | undefined {
  const t = text.replace(/%$/, "").replace(/^\+/, "");
  if (t.startsWith("<")) return { value: Number(t.slice(1)), step: 0, below: true };
  if (!/^-?\d+(\.\d+)?$/.test(t)) return undefined;
  const dot = t.indexOf(".");
  return { value: Number(t), step: dot < 0 ? 1 : 10 ** -(t.length - dot - 1) };
}

export function reportNumberMismatches(report: string, metrics: EvalResult): NumberCheck {
  const out: NumberCheck = { checked: 0, problems: [] };
  const expect = (where: string, text: string | undefined, value: number, scale = 1) => {
    out.checked++;
    const p = text === undefined ? undefined : parse(text);
    if (!p) return void out.problems.push(`${where}: "${text}" is not a number (metrics.json: ${value})`);
    const v = value * scale;
    const ok = p.below ? v < p.value : Math.abs(p.value - v) <= p.step / 2 + 1e-9 * Math.max(1, Math.abs(v));
    if (!ok) out.problems.push(`${where}: report shows ${text}, metrics.json holds ${value}`);
  };
  const row = (rows: string[][], name: string, where: string) => {
    const r = rows.find((x) => x[0] === name);
    if (!r) out.problems.push(`${where}: no row for ${name}`);
    return r;
  };

  const scores = tableAfter(report, "## Scores");
  const cis = tableAfter(report, "## Scores", "95% bootstrap");
  const against = tableAfter(report, `## Against ${metrics.methods[0]!.name}`);
  for (const [i, m] of metrics.methods.entries()) {
    const s = row(scores, m.name, "Scores");
    if (s) {
      expect(`Scores ${m.name} n`, s[1], m.n);
      METRICS.forEach((k, j) => expect(`Scores ${m.name} ${k}`, s[2 + j], m.metrics[k]));
      if (m.impr !== null) expect(`Scores ${m.name} Impr.`, s[7], m.impr);
    }
    const c = row(cis, m.name, "intervals");
    if (c) {
      METRICS.forEach((k, j) => {
        const [lo, hi] = (c[1 + j] ?? "").replace(/[[\]]/g, "").split(", ");
        expect(`interval ${m.name} ${k} low`, lo, m.ci[k].low);
        expect(`interval ${m.name} ${k} high`, hi, m.ci[k].high);
      });
    }
    if (i > 0 && m.vsFirst) {
      const a = row(against, m.name, "Against");
      if (a) {
        expect(`Against ${m.name} paired n`, a[1], m.vsFirst.rouge1.nPaired);
        METRICS.forEach((k, j) => {
          const cmp = m.vsFirst![k];
          if (cmp.relative !== null) expect(`Against ${m.name} ${k} rel.`, a[2 + 2 * j], cmp.relative, 100);
          expect(`Against ${m.name} ${k} p`, a[3 + 2 * j], cmp.pValue);
        });
      }
    }
    for (const k of METRICS) {
      const seg = tableAfter(report, "## Position-sensitive scores", `**${METRIC_LABELS[k]}**`);
      const r = row(seg, m.name, `segments ${k}`);
      m.segments.forEach((sg, j) => {
        const match = /^(\S+) \(n=(\d+)\)$/.exec(r?.[1 + j] ?? "");
        expect(`segment ${m.name} ${k} ${sg.label}`, match?.[1], sg.metrics[k]);
        expect(`segment ${m.name} ${k} ${sg.label} n`, match?.[2], sg.n);
      });
    }
  }
  if (metrics.heldOut) {
    const h = tableAfter(report, "## Held-out likelihood");
    for (const m of metrics.heldOut.methods) {
      const r = row(h, m.name, "Held-out");
      if (!r) continue;
      expect(`held-out ${m.name} records`, r[1], m.n);
      expect(`held-out ${m.name} tokens`, r[2], m.tokens);
      expect(`held-out ${m.name} NLL`, r[3], m.meanNll);
      if (m.vsBaseline) {
        expect(`held-out ${m.name} delta`, r[4], m.vsBaseline.delta);
        const [lo, hi] = (r[5] ?? "").replace(/[[\]]/g, "").split(", ");
        expect(`held-out ${m.name} interval low`, lo, m.vsBaseline.ci.low);
        expect(`held-out ${m.name} interval high`, hi, m.vsBaseline.ci.high);
        expect(`held-out ${m.name} p`, r[6], m.vsBaseline.pValue);
      }
    }
  }
  return out;
}
