// `flythinker bench ...`: benchmarks. Every bench of the list in src/bench/benches.ts becomes `bench <name> [--json]`;
// `bench all` runs each of them in turn, every one in its own process.
//   bench engine [--json] [--threads N] [--steps N] [--preset P --batch B --seq S]
//       sgemm rate, the reference model's training step (median), MFU, RSS after step 50 and after the last step
//   bench decode [--flythinker | --baseline cos] | bench flythinker-decode | bench cos-decode | bench train: see their
//       descriptions (--help)
import type { Command } from "commander";
import { runAllBenches } from "../../bench/report.ts";
import { BENCHES, type Bench } from "../../bench/benches.ts";

const benches = new Map<string, Bench>();
let group: Command | undefined;

/**
 * Adds a bench beyond the built-in list (the built-in ones come from BENCHES); called explicitly, e.g. by a test.
 * Names are unique, and "all" is taken.
 */
export function registerBench<R>(bench: Bench<R>): void {
  if (benches.has(bench.name) || bench.name === "all") throw new Error(`bench "${bench.name}" is registered twice`);
  benches.set(bench.name, bench as Bench);
  if (group) attach(group, bench as Bench);
}

for (const bench of BENCHES) registerBench(bench);

export function registeredBenches(): Bench[] {
  return [...benches.values()];
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

export function register(program: Command): void {
  group = program.command("bench").description("Benchmarks (medians of several runs; ratios measured in the same run)");
  for (const b of benches.values()) attach(group, b);
  group
    .command("all")
    .description("Run every registered bench (each in its own process) and write OUT/results.json and OUT/results.md")
    .option("--out <dir>", "where to write the results", "bench")
    .action(async (opts: { out: string }) => {
      const md = await runAllBenches([...benches.values()].filter((b) => !b.notInAll).map((b) => b.name), opts.out, stderrLog);
      console.log(md);
      console.log(`wrote ${opts.out}/results.json and ${opts.out}/results.md`);
    });
}
