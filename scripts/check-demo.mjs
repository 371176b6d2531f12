// CI check of a demo run: the report exists and every method has finite scores on the same number of records.
// Rows of methods with options carry them in their label ("NextQuill (alpha 0.1, ...)"), so a method is found by its
// name alone or its name followed by " (".
// Usage: node scripts/check-demo.mjs [OUT]   (OUT defaults to demo-output)
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const out = process.argv[2] ?? "demo-output";
const METHODS = ["SFT", "FlyThinker", "Non-pers", "RAG", "CoS", "NextQuill", "LLM-TRSR", "CoT", "Coconut"];
const METRICS = ["rouge1", "rougeL", "bleu", "meteor"];
const problems = [];

for (const f of ["report.md", "metrics.json", "methods.svg"]) {
  if (!existsSync(join(out, f))) problems.push(`${join(out, f)} is missing`);
}
let methods = [];
if (existsSync(join(out, "metrics.json"))) {
  try {
    methods = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")).methods ?? [];
  } catch (e) {
    problems.push(`${join(out, "metrics.json")}: not valid JSON (${e.message})`);
  }
}
const counts = new Set();
const found = [];
for (const name of METHODS) {
  const m = methods.find((x) => x.name === name || (typeof x.name === "string" && x.name.startsWith(`${name} (`)));
  if (!m) {
    problems.push(`metrics.json has no method "${name}"`);
    continue;
  }
  found.push(m.name);
  if (!(m.n > 0)) problems.push(`${name}: no scored records (n = ${m.n})`);
  counts.add(m.n);
  for (const k of METRICS) {
    const v = m.metrics?.[k];
    if (typeof v !== "number" || !Number.isFinite(v)) problems.push(`${name}: ${k} is ${JSON.stringify(v)}, expected a number`);
  }
}
if (counts.size > 1) problems.push(`methods scored different numbers of records: ${[...counts].join(", ")}`);
if (existsSync(join(out, "report.md"))) {
  const report = readFileSync(join(out, "report.md"), "utf8");
  for (const name of found) if (!report.includes(`| ${name} |`)) problems.push(`report.md has no row for ${name}`);
}

if (problems.length > 0) {
  console.error(`demo check failed (${out}):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(
  `demo check passed (${out}): ${methods.map((m) => `${m.name} ROUGE-1 ${m.metrics.rouge1.toFixed(4)} METEOR ${m.metrics.meteor.toFixed(4)}`).join("; ")}`,
);
