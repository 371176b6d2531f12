// The held-out likelihood table of a report: each trained folder's per-record NLL of the reference responses
// (src/train/heldout.ts), its mean over records, and against a baseline method (SFT by default) the mean per-record
// difference with a bootstrap interval and the paired bootstrap p-value, on the records both scored. Lower is better.
import { heldOutNllOf, type HeldOutResult } from "../train/heldout.ts";
import { UserError } from "../util/errors.ts";
import { bootstrapMeanInterval, pairedBootstrapMeans, type BootstrapOptions, type Interval } from "./bootstrap.ts";

export interface HeldOutMethod {
  name: string;
  dir: string;
  n: number;
  tokens: number;
  /** Mean over records of the per-record mean NLL (nats per token). */
  meanNll: number;
  /** Against the baseline (absent for the baseline itself). */
  vsBaseline?: { delta: number; ci: Interval; pValue: number; nPaired: number };
  perRecord: { id: string; nll: number; tokens: number }[];
}

export interface HeldOutSummary {
  data: string;
  split: string;
  baseline: string;
  methods: HeldOutMethod[];
}

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** The table from per-method results (already scored). */
export function summarizeHeldOut(
  results: readonly { name: string; dir: string; result: HeldOutResult }[],
  baseline: string | undefined,
  where: { data: string; split: string },
  bs: BootstrapOptions = {},
): HeldOutSummary {
  if (results.length === 0) throw new UserError("--nll needs at least one NAME=RUN_DIR");
  const base = baseline ?? (results.find((r) => r.name === "SFT") ?? results[0]!).name;
  const ref = results.find((r) => r.name === base);
  if (!ref) throw new UserError(`--nll-baseline ${base}: no --nll of that name (given: ${results.map((r) => r.name).join(", ")})`);
  const refById = new Map(ref.result.ids.map((id, i) => [id, ref.result.nll[i]!]));
  const methods = results.map(({ name, dir, result }): HeldOutMethod => {
    const m: HeldOutMethod = {
      name,
      dir,
      n: result.ids.length,
      tokens: result.tokens.reduce((a, b) => a + b, 0),
      meanNll: mean(result.nll),
      perRecord: result.ids.map((id, i) => ({ id, nll: result.nll[i]!, tokens: result.tokens[i]! })),
    };
    if (name !== base) {
      const shared = result.ids.map((id, i) => [id, i] as const).filter(([id]) => refById.has(id));
      const a = shared.map(([id]) => refById.get(id)!);
      const b = shared.map(([, i]) => result.nll[i]!);
      const test = pairedBootstrapMeans(a, b, bs);
      m.vsBaseline = { delta: test.delta, ci: bootstrapMeanInterval(b.map((v, k) => v - a[k]!), bs), pValue: test.pValue, nPaired: shared.length };
    }
    return m;
  });
  return { ...where, baseline: base, methods };
}

/** Scores every trained folder on `data` and summarises. */
export async function heldOutTable(
  runs: readonly { name: string; dir: string }[],
  data: string,
  opts: { split?: string; baseline?: string; bootstrap?: BootstrapOptions; onProgress?: (name: string, done: number, total: number) => void } = {},
): Promise<HeldOutSummary> {
  const split = opts.split ?? "test";
  const results = [];
  for (const r of runs) {
    const result = await heldOutNllOf(r.dir, data, { split, onProgress: (d, t) => opts.onProgress?.(r.name, d, t) });
    results.push({ ...r, result });
  }
  return summarizeHeldOut(results, opts.baseline, { data, split }, opts.bootstrap);
}

/** The report section. */
export function heldOutMarkdown(h: HeldOutSummary, fmtP: (p: number) => string, cell: (s: string) => string): string[] {
  const out = [`## Held-out likelihood`, ``];
  out.push(
    `Mean negative log-likelihood (nats per token, averaged over records) of the reference responses of ${cell(h.data)} (split ${cell(h.split)}) ` +
      `under each trained model with its own training prompt (FlyThinker with its thoughts), teacher-forced; lower is better. ` +
      `Against ${cell(h.baseline)}: the mean per-record difference, its 95% bootstrap interval and the paired bootstrap p-value.`,
    ``,
  );
  out.push(`| Method | records | tokens | NLL | Δ vs ${cell(h.baseline)} | 95% interval | p |`);
  out.push(`|---|---:|---:|---:|---:|---:|---:|`);
  for (const m of h.methods) {
    const v = m.vsBaseline;
    const d = v ? `${v.delta >= 0 ? "+" : ""}${v.delta.toFixed(4)}` : "";
    const ci = v ? `[${v.ci.low.toFixed(4)}, ${v.ci.high.toFixed(4)}]` : "";
    out.push(`| ${cell(m.name)} | ${m.n} | ${m.tokens} | ${m.meanNll.toFixed(4)} | ${d} | ${ci} | ${v ? fmtP(v.pValue) : ""} |`);
  }
  out.push(``);
  return out;
}
