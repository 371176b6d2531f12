// What the demo shows at the end: the results table, sample texts side by side, and the header of OUT/report.md.
import type { RunInput, EvalResult } from "../eval/report.ts";
import { sampleIds } from "../eval/report.ts";
import { METRIC_LABELS, METRICS, type MetricName } from "../eval/score.ts";
import type { DemoOptions } from "./options.ts";

/** "1 item", "2 items". */
function count(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const DECIMALS: Record<MetricName, number> = { rouge1: 4, rougeL: 4, bleu: 2, meteor: 4 };

function fmt(m: MetricName, v: number): string {
  return Number.isFinite(v) ? v.toFixed(DECIMALS[m]) : "n/a";
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, j) => Math.max(...cells.map((row) => row[j]!.length)));
  return cells.map((row) => row.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join("  ")).join("\n");
}

/** The results as an aligned text table, with each method's change against the first (and its p-value). */
export function resultsTable(result: EvalResult, split: string, records: number, users: number): string {
  const first = result.methods[0]!.name;
  const head = ["Method", "n", ...METRICS.map((m) => METRIC_LABELS[m]), `ROUGE-1 vs ${first}`, `METEOR vs ${first}`];
  const rows = result.methods.map((x) => {
    const vs = (m: MetricName) => {
      const c = x.vsFirst?.[m];
      if (!c) return "-";
      const sign = c.delta >= 0 ? "+" : "";
      return `${sign}${c.delta.toFixed(4)} (p ${c.pValue < 0.001 ? "<0.001" : c.pValue.toFixed(3)})`;
    };
    return [x.name, String(x.n), ...METRICS.map((m) => fmt(m, x.metrics[m])), vs("rouge1"), vs("meteor")];
  });
  return (
    `Results on ${records} ${split} records of ${users} ${split} users (ROUGE/METEOR 0..1, BLEU 0..100; ` +
    `p: paired bootstrap, two-sided):\n\n` +
    pad([head, ...rows])
  );
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.replace(/\s+/g, " ").trim().split(" ");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line.length > 0 && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else {
      line = line ? `${line} ${w}` : w;
    }
  }
  if (line) lines.push(line);
  return lines.map((l) => indent + l).join("\n");
}

function clip(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, " ").trim());
  return chars.length <= max ? chars.join("") : chars.slice(0, max).join("") + " …";
}

/** `count` samples: the reference, then every method's prediction, each cut to `maxChars`. */
export function sampleTexts(runs: readonly RunInput[], count: number, maxChars = 360): string {
  const out: string[] = [];
  for (const id of sampleIds(runs, count)) {
    const ref = runs[0]!.records.find((r) => r.id === id)!;
    out.push(`Sample ${id}${ref.user ? ` (user ${ref.user})` : ""}`);
    out.push(`  Reference:`, wrap(clip(ref.reference, maxChars), 100, "    "));
    for (const run of runs) {
      const p = run.records.find((r) => r.id === id)!;
      out.push(`  ${run.name}:`, wrap(clip(p.prediction, maxChars) || "(empty)", 100, "    "));
    }
    out.push("");
  }
  return out.join("\n").trimEnd();
}

export interface DemoInfo {
  options: DemoOptions;
  split: string;
  records: number;
  users: number;
  stages: { name: string; cached: boolean; seconds: number }[];
  seconds: number;
  models: { generator: string; reasoner: string };
  valLoss: { sft: number | null; flythinker: number | null };
}

/** The top of OUT/report.md: what was run, with which settings, and how long each stage took. */
export function demoHeader(info: DemoInfo): string {
  const o = info.options;
  const steps = (s: { epochs: number; steps?: number }) => (s.steps !== undefined ? count(s.steps, "step") : count(s.epochs, "epoch"));
  const lines = [
    `# FlyThinker demo${o.quick ? " (quick)" : ""}`,
    ``,
    `The mail task (real 2002 mailing-list mail, users split into train / val / test). Every model was trained here ` +
      `from scratch on the train users' text only, then each method wrote for ${info.records} records of ${info.users} ` +
      `${info.split} users.`,
    ``,
    `- Tokenizer: byte-level BPE, ${o.vocabSize} tokens, trained on the train users' text.`,
    `- Generator base: ${info.models.generator}; pretrained for ${steps(o.pretrain)} on the train users' mails ` +
      `(chunks of ${o.pretrain.seqLen} tokens, lr ${o.pretrain.lr}).`,
    `- Reasoner base: ${info.models.reasoner}; pretrained the same way (${steps(o.reasonerPretrain)}).`,
    `- SFT and FlyThinker: from the same Generator base, the same data and schedule (${steps(o.finetune)}, lr ` +
      `${o.finetune.lr}, AdamW); FlyThinker with lambda ${o.fusion.lambda}, ${o.fusion.fuse} fusion, ${o.fusion.enhance} ` +
      `enhancement. Validation loss: SFT ${info.valLoss.sft?.toFixed(4) ?? "n/a"}, FlyThinker ${info.valLoss.flythinker?.toFixed(4) ?? "n/a"}.`,
    `- Prompts: ${count(o.prompt.historyK, "history item")} chosen by ${o.prompt.retrieval}; token budgets history ` +
      `${o.prompt.budgets.profile}, query ${o.prompt.budgets.input}, target ${o.prompt.budgets.target}. Non-pers: the ` +
      `base model with the query only; RAG: the base model with the retrieved history.`,
    `- Generation: at most ${o.maxNewTokens} new tokens, temperature ${o.temperature}, top-p ${o.topP}, seed ${o.seed}; ` +
      `FlyThinker decodes in parallel mode.`,
    ``,
    `Stages (seconds; "reused" = finished by an earlier run): ` +
      info.stages.map((s) => `${s.name} ${s.seconds.toFixed(0)}${s.cached ? " (reused)" : ""}`).join(", ") +
      `. This run: ${info.seconds.toFixed(0)} s.`,
    ``,
    `Training loss: [base](base/loss.svg), [reasoner-base](reasoner-base/loss.svg), [SFT](sft/loss.svg), ` +
      `[FlyThinker](flythinker/loss.svg).`,
    ``,
  ];
  return lines.join("\n") + "\n";
}
