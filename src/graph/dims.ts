// Tensor dimensions: a number (static) or a string naming a symbolic size. Symbolic sizes are integer polynomials
// over the names of symbolic input dims ("batch", "seq", "batch*seq", "seq-1", "past+seq"), kept in a canonical
// form so that equal sizes compare equal as strings.
export type Dim = number | string;
export type Shape = readonly Dim[];

export function shapeToString(shape: Shape): string {
  return `[${shape.join(", ")}]`;
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

/** A polynomial: monomial key (sorted factor names joined by "*", "" for the constant) -> coefficient. */
export type Poly = Map<string, number>;

const TERM = /^(\d+)?\*?([A-Za-z_][\w*]*)?$/;

export function parseDim(d: Dim): Poly {
  const p: Poly = new Map();
  if (typeof d === "number") {
    if (d !== 0) p.set("", d);
    return p;
  }
  const s = d.replace(/\s+/g, "");
  const terms = s.match(/[+-]?[^+-]+/g) ?? [];
  for (const raw of terms) {
    const sign = raw.startsWith("-") ? -1 : 1;
    const body = raw.replace(/^[+-]/, "");
    const m = TERM.exec(body);
    if (!m || (!m[1] && !m[2])) throw new Error(`malformed symbolic dim "${d}"`);
    const coeff = m[1] ? Number(m[1]) : 1;
    const key = m[2] ? m[2].split("*").sort().join("*") : "";
    p.set(key, (p.get(key) ?? 0) + sign * coeff);
  }
  for (const [k, v] of p) if (v === 0) p.delete(k);
  return p;
}

export function formatPoly(p: Poly): Dim {
  const keys = [...p.keys()].filter((k) => p.get(k) !== 0).sort((a, b) => (a === "" ? 1 : b === "" ? -1 : a < b ? -1 : 1));
  if (keys.length === 0) return 0;
  if (keys.length === 1 && keys[0] === "") return p.get("")!;
  let out = "";
  for (const k of keys) {
    const c = p.get(k)!;
    const mag = Math.abs(c);
    const body = k === "" ? String(mag) : mag === 1 ? k : `${mag}*${k}`;
    out += c < 0 ? `-${body}` : out ? `+${body}` : body;
  }
  return out;
}

export function polyNames(d: Dim): string[] {
  const names = new Set<string>();
  for (const k of parseDim(d).keys()) for (const n of k.split("*")) if (n) names.add(n);
  return [...names];
}

export function addDims(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a + b;
  const p = parseDim(a);
  for (const [k, v] of parseDim(b)) p.set(k, (p.get(k) ?? 0) + v);
  return formatPoly(p);
}

export function subDims(a: Dim, b: Dim): Dim {
  return addDims(a, typeof b === "number" ? -b : formatNeg(b));
}

function formatNeg(b: string): Dim {
  const p = parseDim(b);
  for (const [k, v] of p) p.set(k, -v);
  return formatPoly(p);
}

export function mulDims(a: Dim, b: Dim): Dim {
  if (typeof a === "number" && typeof b === "number") return a * b;
  const out: Poly = new Map();
  for (const [ka, va] of parseDim(a)) {
    for (const [kb, vb] of parseDim(b)) {
      const key = [...ka.split("*"), ...kb.split("*")].filter(Boolean).sort().join("*");
      out.set(key, (out.get(key) ?? 0) + va * vb);
    }
  }
  return formatPoly(out);
}

export function productOfDims(dims: Shape): Dim {
  return dims.reduce<Dim>((acc, d) => mulDims(acc, d), 1);
}

/** a / b when b is a single monomial dividing every term of a; undefined otherwise. */
export function divDims(a: Dim, b: Dim): Dim | undefined {
  if (typeof a === "number" && typeof b === "number") return b !== 0 && a % b === 0 ? a / b : undefined;
  const pb = parseDim(b);
  if (pb.size !== 1) return undefined;
  const [[kb, vb]] = [...pb.entries()] as [[string, number]];
  const bf = kb.split("*").filter(Boolean);
  const out: Poly = new Map();
  for (const [ka, va] of parseDim(a)) {
    if (va % vb !== 0) return undefined;
    const rest = ka.split("*").filter(Boolean);
    for (const f of bf) {
      const i = rest.indexOf(f);
      if (i < 0) return undefined;
      rest.splice(i, 1);
    }
    const key = rest.sort().join("*");
    out.set(key, (out.get(key) ?? 0) + va / vb);
  }
  return formatPoly(out);
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
