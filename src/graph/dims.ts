// Tensor dimensions: a number (static) or a string naming a symbolic size ("batch", "seq", "batch*seq", "past+1").
// Symbolic products are kept in a canonical form (sorted factors) so equal sizes compare equal as strings.
export type Dim = number | string;
export type Shape = readonly Dim[];

export function shapeToString(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

export function dimsEqual(a: Dim, b: Dim): boolean {
  return a === b;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

export function staticSize(shape: Shape): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

/** A dim as coefficient * product of symbolic factors. Sums are kept as atomic factors in parentheses. */
interface Monomial {
  coeff: number;
  factors: string[];
}

function factorsOf(d: Dim): Monomial {
  if (typeof d === "number") return { coeff: d, factors: [] };
  const m: Monomial = { coeff: 1, factors: [] };
  for (const part of splitTopLevel(d, "*")) {
    if (/^\d+$/.test(part)) m.coeff *= Number(part);
    else m.factors.push(part);
  }
  return m;
}

function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === sep && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function fromMonomial(m: Monomial): Dim {
  if (m.factors.length === 0) return m.coeff;
  const f = [...m.factors].sort();
  return (m.coeff === 1 ? [] : [String(m.coeff)]).concat(f).join("*");
}

export function mulDims(a: Dim, b: Dim): Dim {
  const x = factorsOf(a);
  const y = factorsOf(b);
  return fromMonomial({ coeff: x.coeff * y.coeff, factors: [...x.factors, ...y.factors] });
}

export function productOfDims(dims: Shape): Dim {
  return dims.reduce<Dim>((acc, d) => mulDims(acc, d), 1);
}

/** a / b when b divides a exactly (numerically and factor-wise); undefined otherwise. */
export function divDims(a: Dim, b: Dim): Dim | undefined {
  const x = factorsOf(a);
  const y = factorsOf(b);
  if (y.coeff === 0 || x.coeff % y.coeff !== 0) return undefined;
  const rest = [...x.factors];
  for (const f of y.factors) {
    const i = rest.indexOf(f);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return fromMonomial({ coeff: x.coeff / y.coeff, factors: rest });
}

export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  const wrap = (d: Dim) => (typeof d === "string" && d.includes("*") ? `(${d})` : String(d));
  const terms = [...splitTopLevel(wrap(a), "+"), ...splitTopLevel(wrap(b), "+")];
  let num = 0;
  const sym: string[] = [];
  for (const t of terms) {
    if (/^\d+$/.test(t)) num += Number(t);
    else sym.push(t);
  }
  sym.sort();
  if (num !== 0) sym.push(String(num));
  return sym.length === 1 ? sym[0]! : `(${sym.join("+")})`;
}

/** Numpy-style broadcast of two shapes; undefined when incompatible. */
export function broadcastShapes(a: Shape, b: Shape): Dim[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)]!;
    const db = i < n - b.length ? 1 : b[i - (n - b.length)]!;
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else return undefined;
  }
  return out;
}

/** Resolve a possibly negative axis against a rank. */
export function normAxis(axis: number, rank: number, what = "axis"): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new RangeError(`${what} ${axis} is out of range for rank ${rank}`);
  return a;
}
