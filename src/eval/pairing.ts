// Pairing by id: predictions are matched to references, and one method's records to another's, through their ids,
// never by line position. Ids one side lacks, ids only one side has, and ids whose references disagree are errors
// that name the ids; with `allowPartial` they become warnings with counts, and only the agreeing common ids are paired.
import { UserError } from "../util/errors.ts";
import type { PredictionRecord } from "./io.ts";

/** At most `max` quoted ids, then "and N more". */
export function listIds(ids: readonly string[], max = 5): string {
  const shown = ids.slice(0, max).map((id) => JSON.stringify(id)).join(", ");
  return ids.length > max ? `${shown} and ${ids.length - max} more` : shown;
}

export interface KeyedText {
  id: string;
  line: number;
  text: string;
}

/** Predictions and references paired by id, in the references' order (so a reordered prediction file scores the same). */
export function pairTextsById(
  pred: readonly KeyedText[],
  ref: readonly KeyedText[],
  files: { pred: string; ref: string },
  allowPartial = false,
): { predictions: string[]; references: string[]; ids: string[]; warnings: string[] } {
  const refs = new Map<string, KeyedText>();
  for (const r of ref) {
    const dup = refs.get(r.id);
    if (dup) throw new UserError(`${files.ref}:${r.line}: id "${r.id}" already used on line ${dup.line}`);
    refs.set(r.id, r);
  }
  const seen = new Map<string, KeyedText>();
  for (const p of pred) {
    const dup = seen.get(p.id);
    if (dup !== undefined) throw new UserError(`${files.pred}:${p.line}: id "${p.id}" already used on line ${dup.line}`);
    seen.set(p.id, p);
  }
  const missing = ref.filter((r) => !seen.has(r.id)).map((r) => r.id);
  const extra = pred.filter((p) => !refs.has(p.id)).map((p) => p.id);
  const problems: string[] = [];
  if (missing.length) problems.push(`${missing.length} ids of ${files.ref} have no prediction in ${files.pred}: ${listIds(missing)}`);
  if (extra.length) problems.push(`${extra.length} ids of ${files.pred} have no reference in ${files.ref}: ${listIds(extra)}`);
  if (problems.length && !allowPartial) throw new UserError(`${problems.join("; ")} (pass --allow-partial to score the ids both have)`);
  const kept = ref.filter((r) => seen.has(r.id));
  if (kept.length === 0) throw new UserError(`${files.pred} and ${files.ref} have no id in common`);
  return {
    predictions: kept.map((r) => seen.get(r.id)!.text),
    references: kept.map((r) => r.text),
    ids: kept.map((r) => r.id),
    warnings: problems.map((p) => `warning: ${p}; scoring the ${kept.length} ids both have`),
  };
}

/** How a method's ids compare with the first method's. */
export interface Coverage {
  /** Ids of the first method this one lacks. */
  missing: string[];
  /** Ids this one has and the first lacks. */
  extra: string[];
  /** Common ids whose references differ from the first method's. */
  disagreeing: string[];
  /** Predictions that are empty (or only whitespace). */
  empty: number;
}

function emptyCount(records: readonly PredictionRecord[]): number {
  return records.filter((r) => r.prediction.trim() === "").length;
}

/**
 * Coverage of every run against the first; throws a UserError naming the ids unless every run has exactly the first
 * run's ids with the same references (or `allowPartial`).
 */
export function checkRunIds(runs: readonly { name: string; records: readonly PredictionRecord[] }[], allowPartial = false): Coverage[] {
  const first = runs[0]!;
  const refOf = new Map(first.records.map((r) => [r.id, r] as const));
  const out: Coverage[] = [{ missing: [], extra: [], disagreeing: [], empty: emptyCount(first.records) }];
  const problems: string[] = [];
  for (const run of runs.slice(1)) {
    const ids = new Set(run.records.map((r) => r.id));
    const c: Coverage = {
      missing: first.records.filter((r) => !ids.has(r.id)).map((r) => r.id),
      extra: run.records.filter((r) => !refOf.has(r.id)).map((r) => r.id),
      disagreeing: run.records.filter((r) => refOf.has(r.id) && refOf.get(r.id)!.reference !== r.reference).map((r) => r.id),
      empty: emptyCount(run.records),
    };
    out.push(c);
    if (c.missing.length) problems.push(`${run.name} lacks ${c.missing.length} ids of ${first.name}: ${listIds(c.missing)}`);
    if (c.extra.length) problems.push(`${run.name} has ${c.extra.length} ids ${first.name} lacks: ${listIds(c.extra)}`);
    if (c.disagreeing.length) {
      const at = (id: string) => `"${id}" (lines ${refOf.get(id)!.line} and ${run.records.find((r) => r.id === id)!.line})`;
      problems.push(
        `${run.name} and ${first.name} give different references for ${c.disagreeing.length} ids: ` +
          `${c.disagreeing.slice(0, 5).map(at).join(", ")}${c.disagreeing.length > 5 ? ` and ${c.disagreeing.length - 5} more` : ""}`,
      );
    }
  }
  if (problems.length && !allowPartial) {
    throw new UserError(`the prediction files do not cover the same records:\n  ${problems.join("\n  ")}\n(pass --allow-partial to compare on the ids they share)`);
  }
  for (const [k, c] of out.entries()) {
    if (k === 0) continue;
    const run = runs[k]!;
    const paired = run.records.length - c.extra.length - c.disagreeing.length;
    if (paired === 0) {
      throw new UserError(`${run.name} and ${first.name} have no id in common${c.disagreeing.length ? " with the same reference" : ""}: nothing to compare (are they predictions for the same split?)`);
    }
  }
  return out;
}
