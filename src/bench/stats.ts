// Small helpers shared by the benchmarks: medians, timing, resident memory, thread counts.
import { collectGarbage } from "../util/memory.ts";

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of no values");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** q in [0, 1], linear interpolation between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("quantile of no values");
  const s = [...values].sort((a, b) => a - b);
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/** Milliseconds taken by `f` (awaited). */
export async function timeMs(f: () => unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Run `f` `warmup` times untimed, then `runs` times timed; returns the times in ms. */
export async function timeRuns(f: () => unknown, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push(await timeMs(f));
  return times;
}

/** Resident set size in MiB, after a full garbage collection. */
export function rssMb(): number {
  collectGarbage();
  return process.memoryUsage.rss() / (1024 * 1024);
}

/** Round to `digits` decimals (for printed and JSON results). */
export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
