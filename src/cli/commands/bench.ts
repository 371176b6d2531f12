// `flythinker bench ...`: benchmarks. Each bench is registered once (here or from its own module with
// `registerBench`) and becomes `bench <name> [--json]`; `bench all` runs every registered bench in turn.
//   bench engine [--json] [--threads N] [--steps N] [--preset P --batch B --seq S]
//       sgemm rate, the reference model's training step (median), MFU, RSS after step 50 and after the last step
import type { Command } from "commander";
import { UserError } from "../../util/errors.ts";
import { runAllBenches } from "../../bench/report.ts";
import { runEngineBench, engineTable, DEFAULT_ENGINE_STEPS, type EngineBenchResult } from "../../bench/engine.ts";

export interface BenchOption {
  /** Commander flags, e.g. "--steps <n>". */
  flags: string;
  description: string;
  default?: string;
}

/** A benchmark: `run` gets the parsed options (strings as given) and returns a JSON-able result. */
export interface Bench<R = unknown> {
  name: string;
  description: string;
  options?: BenchOption[];
  run(options: Record<string, unknown>, log: (line: string) => void): Promise<R>;
  /** Human-readable rendering of a result (the output without --json). */
  table(result: R): string;
}

const benches = new Map<string, Bench>();
let group: Command | undefined;

/** Add a bench; modules may call this at import time or from their own `register(program)`. */
export function registerBench<R>(bench: Bench<R>): void {
  if (benches.has(bench.name) || bench.name === "all") throw new Error(`bench "${bench.name}" is registered twice`);
  benches.set(bench.name, bench as Bench);
  if (group) attach(group, bench as Bench);
}

export function registeredBenches(): Bench[] {
  return [...benches.values()];
}

/** A positive integer option value. */
export function positiveInt(value: unknown, flag: string, min = 1): number {
  const s = String(value).trim();
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UserError(`${flag} must be an integer >= ${min}, got "${String(value)}"`);
  return Number(s);
}

const stderrLog = (line: string) => console.error(line);

function attach(parent: Command, bench: Bench): void {
  const cmd = parent.command(bench.name).description(bench.description).option("--json", "print one JSON object");
  for (const o of bench.options ?? []) cmd.option(o.flags, o.description, o.default);
  cmd.action(async (opts: Record<string, unknown>) => {
    const result = await bench.run(opts, opts.json ? () => {} : stderrLog);
    const peak = { peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024) };
    console.log(opts.json ? JSON.stringify({ ...(result as object), ...peak }) : `${bench.table(result)}\npeak RSS ${peak.peak_rss_mb} MB`);
  });
}

export const engineBench: Bench<EngineBenchResult> = {
  name: "engine",
  description: "Engine speed: sgemm 1024^3, the reference model's training step (median), MFU, RSS over the steps",
  options: [
    { flags: "--threads <n>", description: "intra-op threads (default: all cores)" },
    { flags: "--steps <n>", description: "training steps to run; RSS is read after step 50 and after the last (e.g. 1000)", default: String(DEFAULT_ENGINE_STEPS) },
    { flags: "--preset <name>", description: "model preset of the training step", default: "reference" },
    { flags: "--batch <n>", description: "sequences per training step", default: "4" },
    { flags: "--seq <n>", description: "tokens per sequence", default: "256" },
  ],
  run: (o, log) =>
    runEngineBench({
      threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"),
      steps: positiveInt(o.steps, "--steps", 7),
      preset: String(o.preset),
      batch: positiveInt(o.batch, "--batch"),
      seq: positiveInt(o.seq, "--seq"),
      log,
    }),
  table: engineTable,
};

registerBench(engineBench);

export function register(program: Command): void {
  group = program.command("bench").description("Benchmarks (medians of several runs; ratios measured in the same run)");
  for (const b of benches.values()) attach(group, b);
  group
    .command("all")
    .description("Run every registered bench (each in its own process) and write OUT/results.json and OUT/results.md")
    .option("--out <dir>", "where to write the results", "bench")
    .action(async (opts: { out: string }) => {
      const md = await runAllBenches([...benches.keys()], opts.out, stderrLog);
      console.log(md);
      console.log(`wrote ${opts.out}/results.json and ${opts.out}/results.md`);
    });
}
