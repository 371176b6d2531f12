// Helpers shared by op definitions: lifting numbers to constants, checking dtypes, normalising axes.
import { Tensor, ShapeError, type Scalarish } from "../graph.ts";

export function lift(a: Scalarish, like: Tensor): Tensor {
  return a instanceof Tensor ? a : like.graph.scalar(a, like.dtype);
}

export function pair(a: Scalarish, b: Scalarish, what: string): [Tensor, Tensor] {
  if (a instanceof Tensor) return [a, lift(b, a)];
  if (b instanceof Tensor) return [lift(a, b), b];
  throw new ShapeError(`${what}: at least one operand must be a tensor`);
}

export function sameDType(what: string, ...ts: Tensor[]): void {
  const d = ts[0]!.dtype;
  for (const t of ts) {
    if (t.dtype !== d) throw new ShapeError(`${what}: dtypes differ: ${ts.map(String).join(" vs ")}`);
  }
}

export function requireFloat(what: string, t: Tensor): void {
  if (!t.isFloat) throw new ShapeError(`${what}: expected a float tensor, got ${t}`);
}

export function normAxes(axes: number | number[] | undefined, rank: number, what: string): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : Array.isArray(axes) ? axes : [axes];
  const out = list.map((a) => {
    const n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) throw new ShapeError(`${what}: axis ${a} out of range for rank ${rank}`);
    return n;
  });
  return [...new Set(out)].sort((x, y) => x - y);
}
