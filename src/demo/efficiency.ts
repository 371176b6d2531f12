// The demo report's efficiency section: `bench methods` run on the demo's data and bases (the paper's Figure 3 and
// Table 8 on this machine), as two tables, the figure, the four checks and what the figures mean at this model size.
import type { MethodsBenchResult } from "../bench/methods.ts";

/** Settings of the demo's efficiency stage (see bench/methods.ts). */
export interface EfficiencySettings {
  steps: number;
  records: number;
  answerTokens: number;
  rounds: number;
  /** Train on this many training records instead of all (quick runs). */
  trainRecords?: number;
}

const f = (v: number, d: number) => v.toFixed(d);

export function efficiencySection(r: MethodsBenchResult, figure: string): string {
  const n1 = r.inference.sft.answer_tokens;
  const lines = [
    "## Efficiency (the paper's Figure 3 and Table 8)",
    "",
    `\`flythinker bench methods\` on this run's data and base models, ${r.threads} thread(s), every method timed in the same run. ` +
      `Training: steps per epoch x the median of ${r.training.sft.steps_timed} timed steps (after 3 untimed) of each method's own training step on the same ` +
      `batch budget (Coconut at its last stage); compile time apart. Inference: batch 1, the same ${r.inference.sft.samples} samples per method ` +
      `(test records x rounds), the stop id suppressed until N1 = ${n1} answer tokens (CoT: N1 + N2, N2 its training set's mean rationale length; ` +
      `Coconut: its latent passes first). "Table 8" is the ratio to SFT that Table 8's cost model gives with C = forward FLOPs per token ` +
      `(C_G ${f(r.c_g / 1e6, 2)}M, C_R ${f(r.c_r / 1e6, 2)}M).`,
    "",
    "| Training | epoch (s) | step (ms) | steps | tokens/s | compile (s) | x SFT | Table 8 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...Object.entries(r.training).map(
      ([m, t]) => `| ${m} | ${f(t.epoch_s, 1)} | ${f(t.step_ms, 1)} | ${t.steps_per_epoch} | ${t.tokens_per_s} | ${f(t.compile_s, 1)} | ${f(t.ratio_to_sft, 2)} | ${f(t.expected_ratio, 2)} |`,
    ),
    "",
    "| Inference | ms / sample | ms / answer token | N2 | x SFT | Table 8 |",
    "|---|---:|---:|---:|---:|---:|",
    ...Object.entries(r.inference).map(
      ([m, i]) => `| ${m} | ${f(i.ms_per_sample, 1)} | ${f(i.ms_per_answer_token, 2)} | ${i.reasoning_tokens} | ${f(i.ratio_to_sft, 2)} | ${f(i.expected_ratio, 2)} |`,
    ),
    "",
    `![training and inference as ratios to SFT, measured and by Table 8](${figure})`,
    "",
    ...r.checks.map((c) => `- ${c.ok ? "holds" : "does not hold"}: ${c.what} (${f(c.value, 2)} against ${f(c.limit, 2)})`),
    "",
    ...(() => {
      const over = Object.entries(r.training).filter(([, t]) => t.ratio_to_sft > t.expected_ratio + 0.1).map(([m]) => m);
      const failed = r.checks.filter((c) => !c.ok).length;
      return [
        (over.length > 0
          ? `Measured training ratios above Table 8's (${over.join(", ")}) are costs that forward FLOPs do not count: ` +
            "backward passes and optimiser updates of the larger graphs, a second row, the latent chain's sequential passes. "
          : "") +
          (failed > 0
            ? `${failed} of the ${r.checks.length} checks do not hold on this run; the README's Benchmarks section says why on 2 vCPUs. `
            : `All ${r.checks.length} checks hold on this run. `) +
          "Models of this size make fixed per-call costs a large share of every step; `npm run bench` runs the same comparison alone.",
      ];
    })(),
    "",
  ];
  return lines.join("\n");
}
