// The grid of an ablation sweep: `--grid KEY=V1,V2,...` per key, every combination one point, each point named by
// its values (`lambda=0.5,seed=2`) so that its folder is found again when a sweep is resumed.
import { UserError } from "../util/errors.ts";

export const GRID_KEYS = ["lambda", "enhance", "fuse", "reasoner", "history-k", "seed"] as const;
export type GridKey = (typeof GRID_KEYS)[number];

export interface GridAxis {
  key: GridKey;
  values: string[];
}

/** One point: a value per grid key, in the grid's key order. */
export type GridPoint = ReadonlyArray<readonly [GridKey, string]>;

function checkValue(key: GridKey, v: string, spec: string): string {
  const bad = (what: string) => new UserError(`--grid ${spec}: ${key} values must be ${what}, got "${v}"`);
  switch (key) {
    case "lambda":
      if (v.trim() === "" || !Number.isFinite(Number(v)) || Number(v) < 0) throw bad("numbers >= 0");
      return String(Number(v));
    case "history-k":
    case "seed":
      if (!/^\d+$/.test(v)) throw bad("integers >= 0");
      return String(Number(v));
    case "enhance":
      if (!["global", "input", "output"].includes(v)) throw bad("global, input or output");
      return v;
    case "fuse":
      if (!["prefix", "projection"].includes(v)) throw bad("prefix or projection");
      return v;
    case "reasoner":
      if (v.trim() === "") throw bad("a model preset name or a folder");
      return v;
  }
}

/** Parses the repeated --grid flags; an unknown key lists the valid keys, a key given twice is refused. */
export function parseGrid(specs: readonly string[]): GridAxis[] {
  const axes: GridAxis[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf("=");
    if (eq <= 0 || eq === spec.length - 1) throw new UserError(`--grid expects KEY=V1,V2,..., got "${spec}"`);
    const key = spec.slice(0, eq);
    if (!(GRID_KEYS as readonly string[]).includes(key)) {
      throw new UserError(`--grid ${spec}: unknown key "${key}" (valid keys: ${GRID_KEYS.join(", ")})`);
    }
    if (axes.some((a) => a.key === key)) throw new UserError(`--grid ${key} is given twice`);
    const values = spec.slice(eq + 1).split(",").map((v) => checkValue(key as GridKey, v.trim(), spec));
    if (new Set(values).size !== values.length) throw new UserError(`--grid ${spec}: a value is listed twice`);
    axes.push({ key: key as GridKey, values });
  }
  if (axes.length === 0) throw new UserError("sweep needs at least one --grid KEY=V1,V2,...");
  return axes;
}

/** Every combination, the first key varying slowest. */
export function gridPoints(axes: readonly GridAxis[]): GridPoint[] {
  let points: [GridKey, string][][] = [[]];
  for (const a of axes) points = points.flatMap((p) => a.values.map((v) => [...p, [a.key, v] as [GridKey, string]]));
  return points;
}

/** A point's folder name: `key=value` joined by commas (folder values by their last path part). */
export function pointName(point: GridPoint): string {
  return point
    .map(([k, v]) => `${k}=${k === "reasoner" ? v.replace(/[\\/]+$/, "").split(/[\\/]/).pop()! : v}`)
    .join(",")
    .replace(/[^A-Za-z0-9=,._+-]/g, "_");
}

/** The value of a key at a point, or undefined when the key is not in the grid. */
export function valueAt(point: GridPoint, key: GridKey): string | undefined {
  return point.find(([k]) => k === key)?.[1];
}
