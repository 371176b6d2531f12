// Summary statistics of a set of records: counts, users, history sizes and length percentiles (in words).

import type { PersonalRecord } from "./record.ts";

/** Percentile with linear interpolation between closest ranks (numpy's default); NaN for no values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface Distribution {
  n: number;
  min: number;
  p10: number;
  p25: number;
  p50: number;
  p75: number;
  p90: number;
  max: number;
  mean: number;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return {
    n: s.length,
    min: s.length ? s[0]! : NaN,
    p10: round2(percentile(s, 10)),
    p25: round2(percentile(s, 25)),
    p50: round2(percentile(s, 50)),
    p75: round2(percentile(s, 75)),
    p90: round2(percentile(s, 90)),
    max: s.length ? s[s.length - 1]! : NaN,
    mean: round2(mean),
  };
}

export function words(text: string): number {
  const t = text.trim();
  return t === "" ? 0 : t.split(/\s+/).length;
}

export interface RecordStats {
  records: number;
  users: number;
  /** Records whose profile is empty (allowed: their prompts carry no history). */
  emptyProfiles: number;
  tasks: Record<string, number>;
  profileSize: Distribution;
  recordsPerUser: Distribution;
  inputWords: Distribution;
  outputWords: Distribution;
  profileOutputWords: Distribution;
}

export function recordStats(records: readonly PersonalRecord[]): RecordStats {
  const perUser = new Map<string, number>();
  const tasks: Record<string, number> = {};
  const profileOutputs: number[] = [];
  for (const r of records) {
    perUser.set(r.user, (perUser.get(r.user) ?? 0) + 1);
    tasks[r.task] = (tasks[r.task] ?? 0) + 1;
    for (const p of r.profile) profileOutputs.push(words(p.output));
  }
  return {
    records: records.length,
    users: perUser.size,
    emptyProfiles: records.filter((r) => r.profile.length === 0).length,
    tasks,
    profileSize: distribution(records.map((r) => r.profile.length)),
    recordsPerUser: distribution([...perUser.values()]),
    inputWords: distribution(records.map((r) => words(r.input))),
    outputWords: distribution(records.map((r) => words(r.output))),
    profileOutputWords: distribution(profileOutputs),
  };
}

/** One line such as "p10 12 · p50 103 · p90 400 (min 30, max 2,100, mean 150.2)". */
export function formatDistribution(d: Distribution): string {
  if (d.n === 0) return "(none)";
  const f = (x: number): string => x.toLocaleString("en-US", { maximumFractionDigits: 1 });
  return `p10 ${f(d.p10)} · p50 ${f(d.p50)} · p90 ${f(d.p90)} (min ${f(d.min)}, max ${f(d.max)}, mean ${f(d.mean)})`;
}
