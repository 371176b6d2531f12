// Baseline rescaling of BERTScore: X' = (X - b) / (1 - b) for P, R and F separately, with b the row of the requested
// layer in a baseline file. The package's files (rescale_baseline/{lang}/{model}.tsv) are comma-separated with a
// header LAYER,P,R,F and one row per layer; tab-separated files are read too.
import { UserError } from "../../util/errors.ts";
import { readUtf8 } from "../io.ts";
import type { PRF3 } from "./match.ts";

export interface BaselineRow extends PRF3 {
  layer: number;
}

/** Parses a baseline file's text (`file` names it in messages). */
export function parseBaseline(text: string, file: string): BaselineRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines.length === 0) throw new UserError(`${file}: empty baseline file (expected a header LAYER,P,R,F)`);
  const split = (l: string) => l.split(/[,\t]/).map((c) => c.trim());
  const header = split(lines[0]!);
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new UserError(`${file}:1: the header must name the columns LAYER, P, R and F, got "${lines[0]}"`);
    return i;
  };
  const [li, pi, ri, fi] = [col("LAYER"), col("P"), col("R"), col("F")];
  return lines.slice(1).map((l, k) => {
    const cells = split(l);
    const num = (i: number, what: string) => {
      const v = Number(cells[i]);
      if (cells[i] === undefined || cells[i] === "" || !Number.isFinite(v)) {
        throw new UserError(`${file}:${k + 2}: column ${what} must be a number, got ${JSON.stringify(cells[i] ?? "")}`);
      }
      return v;
    };
    const layer = num(li, "LAYER");
    if (!Number.isInteger(layer) || layer < 0) throw new UserError(`${file}:${k + 2}: LAYER must be an integer >= 0, got ${cells[li]}`);
    return { layer, P: num(pi, "P"), R: num(ri, "R"), F: num(fi, "F") };
  });
}

/** The baseline of one layer from a file; a missing layer is an error naming the layers the file has. */
export function readBaseline(file: string, layer: number): BaselineRow {
  const rows = parseBaseline(readUtf8(file), file);
  const row = rows.find((r) => r.layer === layer);
  if (!row) {
    throw new UserError(`${file}: no baseline for layer ${layer} (the file has layers ${rows.map((r) => r.layer).join(", ") || "none"})`);
  }
  return row;
}

/** (X - b) / (1 - b) for P, R and F. */
export function rescale(score: PRF3, baseline: PRF3): PRF3 {
  return {
    P: (score.P - baseline.P) / (1 - baseline.P),
    R: (score.R - baseline.R) / (1 - baseline.R),
    F: (score.F - baseline.F) / (1 - baseline.F),
  };
}

/** A baseline file's text: header LAYER,P,R,F and one row per layer (the package's format). */
export function formatBaseline(rows: readonly BaselineRow[]): string {
  return ["LAYER,P,R,F", ...rows.map((r) => `${r.layer},${r.P},${r.R},${r.F}`)].join("\n") + "\n";
}
