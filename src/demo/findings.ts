// "What the numbers show": the report's closing section, written from the run's own results (never from fixed text):
// FlyThinker against SFT on every metric and on held-out likelihood, by position and on the hardest records, where it
// ranks, and what a run of this size cannot show.
import type { EvalResult, MethodResult } from "../eval/report.ts";
import { METRIC_LABELS, METRICS, type MetricName } from "../eval/score.ts";

/** The significance level the section reads p-values against. */
export const ALPHA = 0.05;

export interface FindingsContext {
  /** Row labels of the two methods compared (the report's first row is SFT). */
  flythinker: string;
  sft: string;
  /** Model sizes in words, e.g. "d128 x 4 layers, 0.9M parameters". */
  generator: string;
  /** Seeds the numbers come from. */
  seeds: number;
  /** `demo --full`: FlyThinker's ROUGE-1 over SFT's of the same training seed, per seed of the seed sweep. */
  seedRatios?: { seed: string; rouge1: number }[];
}

/** The seed sweep: FlyThinker / SFT ROUGE-1 per training seed, and how many seeds put FlyThinker ahead. */
function seedSentence(ratios: readonly { seed: string; rouge1: number }[]): string | undefined {
  if (ratios.length < 2) return undefined;
  const ahead = ratios.filter((r) => r.rouge1 > 1).length;
  const mean = ratios.reduce((a, r) => a + r.rouge1, 0) / ratios.length;
  return (
    `over ${ratios.length} training seeds (the seed sweep), FlyThinker's ROUGE-1 over SFT's of the same seed was ` +
    `${ratios.map((r) => `${r.rouge1.toFixed(3)} (seed ${r.seed})`).join(", ")}, mean ${mean.toFixed(3)}: ahead with ${ahead} of ${ratios.length} seeds`
  );
}

const p = (x: number) => (x < 0.001 ? "p < 0.001" : `p = ${x.toFixed(3)}`);
const signed = (x: number, d = 4) => `${x >= 0 ? "+" : ""}${x.toFixed(d)}`;

function byName(result: EvalResult, name: string): MethodResult | undefined {
  return result.methods.find((m) => m.name === name);
}

/** FlyThinker against SFT on the four text metrics: the deltas with their p-values, and how many are significant. */
function metricSentence(fly: MethodResult, sft: string): string {
  const parts = METRICS.map((m) => {
    const c = fly.vsFirst?.[m];
    return c ? `${METRIC_LABELS[m]} ${signed(c.delta, m === "bleu" ? 2 : 4)} (${p(c.pValue)})` : `${METRIC_LABELS[m]} n/a`;
  });
  const sig = METRICS.filter((m) => (fly.vsFirst?.[m]?.pValue ?? 1) < ALPHA);
  const up = sig.filter((m) => fly.vsFirst![m].delta > 0);
  const down = sig.filter((m) => fly.vsFirst![m].delta < 0);
  const verdict =
    sig.length === 0
      ? `none of these differences is significant at ${ALPHA}`
      : [
          up.length ? `FlyThinker is significantly better on ${up.map((m) => METRIC_LABELS[m]).join(", ")}` : "",
          down.length ? `significantly worse on ${down.map((m) => METRIC_LABELS[m]).join(", ")}` : "",
        ]
          .filter(Boolean)
          .join(" and ");
  return `Against ${sft} on the same ${fly.n} records, FlyThinker scores ${parts.join(", ")}: ${verdict}.`;
}

function heldOutSentence(result: EvalResult, fly: string): string | undefined {
  const h = result.heldOut;
  const m = h?.methods.find((x) => x.name === fly);
  if (!h || !m?.vsBaseline) return undefined;
  const v = m.vsBaseline;
  const verdict = v.pValue < ALPHA ? (v.delta < 0 ? "lower (better), significantly" : "higher (worse), significantly") : "not significantly different";
  return (
    `On held-out likelihood of the test references, FlyThinker's mean NLL is ${m.meanNll.toFixed(4)} nats per token against ` +
    `${h.baseline}'s ${(m.meanNll - v.delta).toFixed(4)} (${signed(v.delta)}, ${p(v.pValue)}): ${verdict}.`
  );
}

/** The paper's position claim: FlyThinker's lead over SFT in the first and the last scored segment. */
function positionSentence(fly: MethodResult, sft: MethodResult): string | undefined {
  const seg = fly.segments
    .map((s, i) => ({ s, o: sft.segments[i] }))
    .filter((x) => x.s.n > 0 && x.o !== undefined && x.o.n > 0);
  if (seg.length < 2) return undefined;
  const d = (x: (typeof seg)[number]) => x.s.metrics.rouge1 - x.o!.metrics.rouge1;
  const first = seg[0]!;
  const last = seg[seg.length - 1]!;
  const grows = d(last) > d(first) && d(last) > 0;
  return (
    `By position, FlyThinker's ROUGE-1 minus SFT's is ${signed(d(first))} in words ${first.s.label} and ${signed(d(last))} in ` +
    `words ${last.s.label} (${last.s.n} records reach it): the gap ${grows ? "widens" : "does not widen"} later in the text` +
    `${grows ? ", the direction the paper reports" : ", unlike the paper's finding"} (segment means carry no test here).`
  );
}

function difficultySentence(result: EvalResult, fly: string): string | undefined {
  const d = result.difficulty;
  const m = d?.methods.find((x) => x.name === fly);
  const hardest = m?.levels[0];
  const c = hardest?.vsFirst?.rouge1;
  if (!d || !hardest || !c) return undefined;
  return (
    `On the hardest quarter (${d.levels[0]!.label}, ${hardest.n} records ranked by ${d.source}'s scores) FlyThinker's ROUGE-1 ` +
    `differs from SFT's by ${signed(c.delta)} (${p(c.pValue)}).`
  );
}

function rankSentence(result: EvalResult, fly: string): string {
  const ranks = (["rougeL", "meteor"] as MetricName[]).map((m) => {
    const sorted = [...result.methods].sort((a, b) => b.metrics[m] - a.metrics[m]);
    return `${METRIC_LABELS[m]} ${sorted.findIndex((x) => x.name === fly) + 1} of ${sorted.length} (best: ${sorted[0]!.name}, ${sorted[0]!.metrics[m].toFixed(4)})`;
  });
  return `FlyThinker ranks ${ranks.join("; ")}.`;
}

/** The closing section of report.md. */
export function findingsSection(result: EvalResult, ctx: FindingsContext): string {
  const fly = byName(result, ctx.flythinker);
  const sft = byName(result, ctx.sft);
  if (!fly || !sft) return "";
  const shows = [metricSentence(fly, ctx.sft), heldOutSentence(result, ctx.flythinker), positionSentence(fly, sft), difficultySentence(result, ctx.flythinker), rankSentence(result, ctx.flythinker), ctx.seedRatios ? seedSentence(ctx.seedRatios) : undefined].filter(
    (s): s is string => s !== undefined,
  );
  const pairs = (result.methods.length - 1) * METRICS.length;
  const not = [
    `how the methods compare at the paper's scale: these Generators are ${ctx.generator}, fine-tuned for minutes on one ` +
      `task's mail, so absolute scores are far below the paper's and a method's rank here need not hold for a 7B model`,
    `robustness across runs: ${ctx.seeds === 1 ? "one seed" : `the main table is one seed (${ctx.seeds} in the seed sweep)`}, and the ${pairs} p-values above are ` +
      `not corrected for multiple comparisons (with no real difference, about ${(pairs * ALPHA).toFixed(1)} of them would fall under ${ALPHA} by chance)`,
    `CoT and Coconut with the paper's teacher-written rationales: theirs here are extractive style summaries of the history`,
  ];
  return [
    `## What the numbers show`,
    ``,
    ...shows.map((s) => `- ${s}`),
    ``,
    `What they do not show: ${not.join("; ")}.`,
    ``,
  ].join("\n");
}
