// `npm run bench`: every registered bench in its own process (so each peak RSS is its own), then one JSON file and a
// Markdown table of the figures the README quotes, all from this one run.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bin", "flythinker.js");

/** Runs `flythinker bench <name> --json [args]` in a child process; its result plus wall time. */
export function runBenchProcess(name: string, args: string[] = []): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [BIN, "bench", name, "--json", ...args], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`bench ${name} exited with code ${code}`));
      const line = out.trim().split("\n").pop() ?? "";
      try {
        resolve({ ...(JSON.parse(line) as Record<string, unknown>), wall_s: (performance.now() - t0) / 1000 });
      } catch {
        reject(new Error(`bench ${name} printed no JSON result: ${line.slice(0, 200)}`));
      }
    });
  });
}

type Results = Record<string, Record<string, unknown>>;

const fmt = (v: unknown, digits = 1): string => (typeof v === "number" ? v.toFixed(digits) : String(v ?? "-"));

/** The README's table: one row per figure, with its target where the design sets one. */
export function benchMarkdown(results: Results, meta: { date: string; machine: string }): string {
  const e = results.engine ?? {};
  const t = results.train ?? {};
  const d = results.decode ?? {};
  const f = results["flythinker-decode"] ?? {};
  const c = results["cos-decode"] ?? {};
  const sv = results.serve ?? {};
  const level = (n: number) => ((sv.levels as { clients: number; tokens_per_s: number }[] | undefined) ?? []).find((l) => l.clients === n);
  const rows: [string, string, string][] = [
    ["sgemm 1024³ through the engine: one product per run / chain of 8 (kernel rate)", `${fmt(e.sgemm_gflops)} / ${fmt(e.sgemm_chain_gflops)} GFLOP/s`, ""],
    ["reference training step (5.0M params, 4 × 256 tokens, fwd + bwd + AdamW)", `${fmt(e.step_ms)} ms`, "≤ 250 ms"],
    ["model-FLOPs utilisation of that step (vs the kernel rate)", `${fmt(Number(e.mfu_vs_chain) * 100, 0)}%`, "≥ 50%"],
    ["RSS after step 50 → last step", `${fmt(e.rss_mb_step50, 0)} → ${fmt(e.rss_mb_end, 0)} MB`, "flat"],
    ["SFT training step", `${fmt(t.sft_step_ms)} ms`, ""],
    ["FlyThinker training step (+ half-width Reasoner)", `${fmt(t.flythinker_step_ms)} ms`, ""],
    ["FlyThinker / SFT step ratio (median of per-step ratios; ratio of the medians)", `${fmt(t.ratio, 2)} (${fmt(t.ratio_of_medians, 2)})`, `≤ ${fmt(t.allowed_ratio, 2)} (1 + C_R/C_G + 0.10)`],
    ["decode, SFT (1 thread)", `${fmt(f.sft_ms_per_token, 2)} ms/token`, ""],
    ["decode, FlyThinker sequential (1 thread)", `${fmt(f.sequential_ms_per_token, 2)} ms/token`, ""],
    ["decode, FlyThinker parallel (1 + 1 threads)", `${fmt(f.parallel_ms_per_token, 2)} ms/token = ${fmt(f.parallel_over_sft, 2)}× SFT`, "≤ 1.10× SFT"],
    ["decode, median single token: SFT / FlyThinker parallel", `${fmt(f.sft_p50_ms, 2)} / ${fmt(f.parallel_p50_ms, 2)} ms = ${fmt(f.parallel_over_sft_p50, 2)}×`, ""],
    [
      "decode, FlyThinker's Generator step: alone / with the Reasoner running on the other core (parallel)",
      `${fmt(f.generator_alone_ms, 2)} / ${fmt(f.parallel_generator_ms, 2)} ms (${fmt(f.generator_slowdown_in_parallel, 2)}×); then ${fmt(f.parallel_reasoner_wait_ms, 2)} ms waiting for the Reasoner`,
      "",
    ],
    [
      "decode, the Generator's step while the other core runs: " + ((f.interference as { load: string }[] | undefined) ?? []).map((x) => x.load).join(" / "),
      ((f.interference as { ratio: number }[] | undefined) ?? []).map((x) => `${fmt(x.ratio, 2)}×`).join(" / "),
      "",
    ],
    [`decode, SFT on all ${fmt(f.cores, 0)} cores (same hardware as parallel)`, `${fmt(f.sft_all_cores_ms_per_token, 2)} ms/token; parallel = ${fmt(f.parallel_over_sft_all_cores, 2)}×`, ""],
    [
      `decode, CoS (2 tied rows) / RAG (1 row), ${fmt(c.threads, 0)} threads, median ms/token`,
      `${fmt(c.cos_ms_per_token, 2)} / ${fmt(c.rag_ms_per_token, 2)} ms = ${fmt(c.ratio, 2)}×`,
      "≤ 1.5×",
    ],
    ["Qwen2.5-0.5B-shape prefill", `${fmt(d.prefill_tokens_per_s, 0)} tokens/s`, ""],
    ["Qwen2.5-0.5B-shape decode", `${fmt(d.decode_ms_per_token)} ms/token (bound ${fmt(d.bound_ms_per_token)} ms = weights / ${fmt(d.memory_gb_per_s)} GB/s)`, "≤ 2× bound"],
  ];
  if (results.serve) {
    rows.push([
      "serving a demo-size FlyThinker pair: aggregate tokens/s with 1 / 8 concurrent streams",
      `${fmt(level(1)?.tokens_per_s)} / ${fmt(level(8)?.tokens_per_s)} tokens/s = ${fmt(sv.ratio, 2)}×`,
      "≥ 3×",
    ]);
  }
  const rss = Object.entries(results).map(([k, r]) => `${k} ${fmt(r.peak_rss_mb, 0)} MB`).join(", ");
  return [
    `Measured ${meta.date} on ${meta.machine} by \`npm run bench\` (medians; ratios from the same run).`,
    "",
    "| figure | measured | target |",
    "|---|---|---|",
    ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
    "",
    `Peak RSS per bench process: ${rss}.`,
    "",
  ].join("\n");
}

/** Runs every bench, writes OUT/results.json and OUT/results.md, returns the Markdown. */
export async function runAllBenches(names: readonly string[], outDir: string, log: (s: string) => void): Promise<string> {
  const results: Results = {};
  for (const name of names) {
    log(`== bench ${name}`);
    results[name] = await runBenchProcess(name);
  }
  const meta = {
    date: new Date().toISOString().slice(0, 10),
    machine: `${cpus().length} vCPU (${cpus()[0]?.model.trim() ?? "unknown CPU"}), Node ${process.version}`,
  };
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "results.json"), JSON.stringify({ ...meta, results }, null, 2) + "\n");
  const md = benchMarkdown(results, meta);
  writeFileSync(join(outDir, "results.md"), md);
  return md;
}
