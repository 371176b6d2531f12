// `demo --full`: the paper's three ablations (lambda; enhancement x fusion; history size) and three seeds, each a
// sweep (src/sweep) over the demo's data and bases with the demo's training and sampling settings, and the report
// section that shows their tables and plots.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { SweepSummary } from "../sweep/report.ts";

/** One sweep of `demo --full`: its stage name, heading and grid (as `sweep --grid` takes it). */
export interface AblationSpec {
  name: string;
  title: string;
  grid: string[];
}

export const FULL_ABLATIONS: readonly AblationSpec[] = [
  { name: "ablation-lambda", title: "Thought strength lambda (the paper's Figure 5)", grid: ["lambda=0,0.25,0.5,1"] },
  { name: "ablation-fusion", title: "Enhancement and fusion (the paper's Table 4)", grid: ["enhance=global,input,output", "fuse=prefix,projection"] },
  { name: "ablation-history", title: "History items in the prompt (the paper's Figure 6)", grid: ["history-k=1,2,4"] },
  { name: "seeds", title: "Three training seeds (the same sampling seed)", grid: ["seed=0,1,2"] },
];

/** The sweep folder inside an ablation stage's folder. */
export const SWEEP_DIR = "sweep";

export interface AblationResult {
  spec: AblationSpec;
  /** The stage folder, relative to the demo's output folder. */
  folder: string;
  summary: SweepSummary;
}

/** The report's section: each sweep's table (its sweep.md, headings one level down, links into its folder). */
export function ablationsSection(results: readonly AblationResult[], outDir: string): string {
  const lines = ["## Ablations and seeds (`demo --full`)", ""];
  lines.push(
    "Each point is one FlyThinker training from the same bases with the demo's data, schedule and sampling, scored on every " +
      "test record; each has an SFT reference with the same seed and history size, and the \"x SFT\" columns divide by it. " +
      "Full evaluations (intervals, p-values, segments) are in each sweep's report/.",
    "",
  );
  for (const r of results) {
    const base = `${r.folder}/${SWEEP_DIR}`;
    const md = readFileSync(join(outDir, r.folder, SWEEP_DIR, "sweep.md"), "utf8")
      .replace(/^# Sweep\n+/, "")
      .replace(/^## /gm, "#### ")
      .replace(/report\/report\.md/g, `${base}/report/report.md`)
      .replace(/!\[([^\]]*)\]\(([^)]+)\)/g, (_m, alt: string, file: string) => `![${alt}](${base}/${file})`);
    lines.push(`### ${r.spec.title}`, "", md.trim(), "");
  }
  return lines.join("\n");
}
