// A tiny plain-TypeScript n-d array, used as the independent reference for the engine's forward values.
// Everything is float64 (integers are stored as whole numbers); row-major layout; numpy semantics.
import type { BlockQuantized } from "../../src/graph/quant.ts";

export class ND {
  readonly size: number;
  constructor(
    readonly shape: readonly number[],
    readonly data: Float64Array,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== this.size) throw new Error(`ND: ${data.length} values for shape [${shape}]`);
  }

  static of(shape: readonly number[], values: ArrayLike<number | bigint>): ND {
    return new ND(shape, Float64Array.from(Array.from(values, Number)));
  }

  static fill(shape: readonly number[], f: (i: number) => number): ND {
    const n = shape.reduce((a, b) => a * b, 1);
    return new ND(shape, Float64Array.from({ length: n }, (_, i) => f(i)));
  }

  get rank(): number {
    return this.shape.length;
  }

  strides(): number[] {
    return stridesOf(this.shape);
  }

  /** Value at a multi-index. */
  at(idx: readonly number[]): number {
    const s = this.strides();
    let off = 0;
    for (let i = 0; i < idx.length; i++) off += idx[i]! * s[i]!;
    return this.data[off]!;
  }
}

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Calls f with every multi-index of `shape` in row-major order. */
export function forEachIndex(shape: readonly number[], f: (idx: number[], flat: number) => void): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    f(idx, flat);
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i]! < shape[i]!) break;
      idx[i] = 0;
    }
  }
}

export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const v = i < rank - s.length ? 1 : s[i - (rank - s.length)]!;
      if (v !== 1) {
        if (d !== 1 && d !== v) throw new Error(`shapes do not broadcast: ${shapes.map((x) => `[${x}]`).join(" ")}`);
        d = v;
      }
    }
    out.push(d);
  }
  return out;
}

/** Element of `a` that broadcasts to position `idx` of a result of rank idx.length. */
function bcastAt(a: ND, idx: readonly number[]): number {
  const lead = idx.length - a.rank;
  const s = a.strides();
  let off = 0;
  for (let i = 0; i < a.rank; i++) off += (a.shape[i] === 1 ? 0 : idx[i + lead]!) * s[i]!;
  return a.data[off]!;
}

export function elementwise(f: (...v: number[]) => number, ...xs: ND[]): ND {
  const shape = broadcastShape(...xs.map((x) => x.shape));
  const out = new Float64Array(shape.reduce((a, b) => a * b, 1));
  forEachIndex(shape, (idx, flat) => {
    out[flat] = f(...xs.map((x) => bcastAt(x, idx)));
  });
  return new ND(shape, out);
}

export const map = (x: ND, f: (v: number) => number): ND => elementwise(f, x);

export function expand(x: ND, shape: readonly number[]): ND {
  const target = broadcastShape(x.shape, shape);
  return elementwise((v) => v, x, new ND(target, new Float64Array(target.reduce((a, b) => a * b, 1))));
}

/** Batched matrix product with broadcast batch axes (both operands rank >= 2). */
export function matmul(a: ND, b: ND): ND {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const [k2, n] = b.shape.slice(-2) as [number, number];
  if (k !== k2) throw new Error("matmul: inner dims differ");
  const batch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, m, n];
  const out = new Float64Array(shape.reduce((p, q) => p * q, 1));
  forEachIndex(shape, (idx, flat) => {
    const bi = idx.slice(0, -2);
    const [i, j] = idx.slice(-2) as [number, number];
    let s = 0;
    for (let t = 0; t < k; t++) s += bcastAt(a, [...bi, i, t]) * bcastAt(b, [...bi, t, j]);
    out[flat] = s;
  });
  return new ND(shape, out);
}

export type ReduceKind = "sum" | "mean" | "max";

export function reduce(x: ND, kind: ReduceKind, axes?: number[], keepdims = false): ND {
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => (a < 0 ? a + x.rank : a));
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const acc = new Float64Array(kept.reduce((a, b) => a * b, 1)).fill(kind === "max" ? -Infinity : 0);
  const ks = stridesOf(kept);
  forEachIndex(x.shape, (idx, flat) => {
    let off = 0;
    idx.forEach((v, i) => (off += (ax.includes(i) ? 0 : v) * ks[i]!));
    const v = x.data[flat]!;
    acc[off] = kind === "max" ? Math.max(acc[off]!, v) : acc[off]! + v;
  });
  if (kind === "mean") {
    const n = ax.reduce((p, a) => p * x.shape[a]!, 1);
    for (let i = 0; i < acc.length; i++) acc[i]! /= n;
  }
  const shape = keepdims ? kept : x.shape.filter((_, i) => !ax.includes(i));
  return new ND(shape, acc);
}

export function softmax(x: ND, axis = -1): ND {
  const a = axis < 0 ? axis + x.rank : axis;
  const shifted = elementwise((v, m) => v - m, x, reduce(x, "max", [a], true));
  const e = map(shifted, Math.exp);
  return elementwise((v, s) => v / s, e, reduce(e, "sum", [a], true));
}

export function logSoftmax(x: ND, axis = -1): ND {
  const a = axis < 0 ? axis + x.rank : axis;
  const shifted = elementwise((v, m) => v - m, x, reduce(x, "max", [a], true));
  const lse = map(reduce(map(shifted, Math.exp), "sum", [a], true), Math.log);
  return elementwise((v, l) => v - l, shifted, lse);
}

export function transpose(x: ND, perm?: number[]): ND {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const shape = p.map((i) => x.shape[i]!);
  const out = new Float64Array(x.size);
  forEachIndex(shape, (idx, flat) => {
    const src = new Array<number>(x.rank);
    p.forEach((from, to) => (src[from] = idx[to]!));
    out[flat] = x.at(src);
  });
  return new ND(shape, out);
}

export function reshape(x: ND, shape: readonly number[]): ND {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  return new ND(shape.map((d) => (d === -1 ? x.size / known : d)), x.data.slice());
}

/** numpy x[..., start:end, ...] along one axis (negative bounds count from the end; clamped). */
export function slice(x: ND, axis: number, start: number, end?: number): ND {
  const a = axis < 0 ? axis + x.rank : axis;
  const d = x.shape[a]!;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
  const s = clamp(start);
  const e = end === undefined ? d : clamp(end);
  const shape = x.shape.slice();
  shape[a] = Math.max(e - s, 0);
  const out = new Float64Array(shape.reduce((p, q) => p * q, 1));
  forEachIndex(shape, (idx, flat) => {
    const src = idx.slice();
    src[a] = idx[a]! + s;
    out[flat] = x.at(src);
  });
  return new ND(shape, out);
}

/** Zero padding along one axis. */
export function pad(x: ND, axis: number, before: number, after: number): ND {
  const a = axis < 0 ? axis + x.rank : axis;
  const shape = x.shape.slice();
  shape[a] = shape[a]! + before + after;
  const out = new Float64Array(shape.reduce((p, q) => p * q, 1));
  forEachIndex(shape, (idx, flat) => {
    const k = idx[a]! - before;
    if (k < 0 || k >= x.shape[a]!) return;
    const src = idx.slice();
    src[a] = k;
    out[flat] = x.at(src);
  });
  return new ND(shape, out);
}

export function concat(xs: ND[], axis: number): ND {
  const a = axis < 0 ? axis + xs[0]!.rank : axis;
  const shape = xs[0]!.shape.slice();
  shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0);
  const out = new Float64Array(shape.reduce((p, q) => p * q, 1));
  forEachIndex(shape, (idx, flat) => {
    let k = idx[a]!;
    for (const x of xs) {
      if (k < x.shape[a]!) {
        const src = idx.slice();
        src[a] = k;
        out[flat] = x.at(src);
        return;
      }
      k -= x.shape[a]!;
    }
  });
  return new ND(shape, out);
}

/** table[ids] along axis 0. */
export function gather(table: ND, ids: ND): ND {
  const rest = table.shape.slice(1);
  const row = rest.reduce((a, b) => a * b, 1);
  const out = new Float64Array(ids.size * row);
  for (let i = 0; i < ids.size; i++) {
    let id = ids.data[i]!;
    if (id < 0) id += table.shape[0]!;
    out.set(table.data.subarray(id * row, (id + 1) * row), i * row);
  }
  return new ND([...ids.shape, ...rest], out);
}

export function gatherElements(x: ND, index: ND, axis: number): ND {
  const a = axis < 0 ? axis + x.rank : axis;
  const out = new Float64Array(index.size);
  forEachIndex(index.shape, (idx, flat) => {
    const src = idx.slice();
    let k = index.data[flat]!;
    if (k < 0) k += x.shape[a]!;
    src[a] = k;
    out[flat] = x.at(src);
  });
  return new ND(index.shape, out);
}

export function where(c: ND, a: ND, b: ND): ND {
  return elementwise((cv, av, bv) => (cv ? av : bv), c, a, b);
}

/** Keep the upper (j - i >= k) or lower (j - i <= k) triangle of the last two axes. */
export function trilu(x: ND, upper: boolean, k = 0): ND {
  const out = new Float64Array(x.size);
  forEachIndex(x.shape, (idx, flat) => {
    const [i, j] = idx.slice(-2) as [number, number];
    const keep = upper ? j - i >= k : j - i <= k;
    out[flat] = keep ? x.data[flat]! : 0;
  });
  return new ND(x.shape, out);
}

export function oneHot(ids: ND, depth: number): ND {
  const out = new Float64Array(ids.size * depth);
  for (let i = 0; i < ids.size; i++) {
    const v = ids.data[i]!;
    if (v >= 0 && v < depth) out[i * depth + v] = 1;
  }
  return new ND([...ids.shape, depth], out);
}

/** Mean NLL over positions whose label is not `ignoreIndex` (0 when none), plus the per-position NLL. */
export function crossEntropy(logits: ND, labels: ND, ignoreIndex = -100): { loss: number; nll: ND; count: number } {
  const lp = logSoftmax(logits, -1);
  const v = logits.shape[logits.rank - 1]!;
  const nll = new Float64Array(labels.size);
  let count = 0;
  let total = 0;
  for (let i = 0; i < labels.size; i++) {
    const y = labels.data[i]!;
    if (y === ignoreIndex) continue;
    nll[i] = -lp.data[i * v + y]!;
    total += nll[i]!;
    count++;
  }
  return { loss: total / Math.max(count, 1), nll: new ND(labels.shape, nll), count };
}

export function rmsNorm(x: ND, weight: ND, eps: number): ND {
  const ms = reduce(map(x, (v) => v * v), "mean", [-1], true);
  return elementwise((v, m, w) => (v / Math.sqrt(m + eps)) * w, x, ms, weight);
}

/**
 * erf(x): the alternating Maclaurin series for |x| < 1.5, else 1 - erfc(x) with erfc from its continued fraction
 * (a different expansion from the engine's float64 emission).
 */
export function erfScalar(x: number): number {
  const a = Math.abs(x);
  if (a < 1.5) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-18 * Math.abs(sum); n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * sum * (2 / Math.sqrt(Math.PI));
  }
  // erfc(a) = e^(-a^2)/sqrt(pi) * 1/(a + (1/2)/(a + 1/(a + (3/2)/(a + ...)))), evaluated from depth 500 upwards.
  let f = a;
  for (let k = 500; k >= 1; k--) f = a + k / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
}

export function gelu(x: ND): ND {
  return map(x, (v) => 0.5 * v * (1 + erfScalar(v / Math.SQRT2)));
}

/** LayerNorm over the last axis with the biased variance. */
export function layerNorm(x: ND, weight: ND, bias: ND, eps: number): ND {
  const mean = reduce(x, "mean", [-1], true);
  const centred = elementwise((v, m) => v - m, x, mean);
  const variance = reduce(map(centred, (v) => v * v), "mean", [-1], true);
  return elementwise((c, s, w, b) => (c / Math.sqrt(s + eps)) * w + b, centred, variance, weight, bias);
}

/** Largest |a - b| / max(floor, |a| + |b|) over elements (shapes must match). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-8): number {
  if (a.length !== b.length) throw new Error(`maxRelDiff: lengths ${a.length} and ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) / Math.max(floor, Math.abs(a[i]!) + Math.abs(b[i]!));
    if (!(d <= worst)) worst = d; // NaN propagates as worst
  }
  return worst;
}

// Block-quantized matrices (src/graph/quant.ts layout), read bit by bit from the definition.

/** The code at (r, j), read from the packed bytes by the layout's definition. */
export function blockCodeAt(q: BlockQuantized, r: number, j: number): number {
  const blocks = Math.ceil(q.cols / q.blockSize);
  const bytesPerBlock = (q.blockSize * q.bits) / 8;
  const b = Math.floor(j / q.blockSize);
  const i = j % q.blockSize; // position inside the block
  const bitOffset = i * q.bits;
  const byte = q.data[(r * blocks + b) * bytesPerBlock + Math.floor(bitOffset / 8)]!;
  return (byte >> (bitOffset % 8)) & (2 ** q.bits - 1);
}

export function blockZeroAt(q: BlockQuantized, r: number, b: number): number {
  if (!q.zeroPoints) return 2 ** (q.bits - 1);
  const blocks = Math.ceil(q.cols / q.blockSize);
  const perRow = Math.ceil((blocks * q.bits) / 8);
  const bitOffset = b * q.bits;
  return (q.zeroPoints[r * perRow + Math.floor(bitOffset / 8)]! >> (bitOffset % 8)) & (2 ** q.bits - 1);
}

/** Dequantized [rows, cols] in float64, from the reference readers. */
export function blockDequantize(q: BlockQuantized): Float64Array {
  const out = new Float64Array(q.rows * q.cols);
  const blocks = Math.ceil(q.cols / q.blockSize);
  for (let r = 0; r < q.rows; r++) {
    for (let j = 0; j < q.cols; j++) {
      const b = Math.floor(j / q.blockSize);
      out[r * q.cols + j] = (blockCodeAt(q, r, j) - blockZeroAt(q, r, b)) * q.scales[r * blocks + b]!;
    }
  }
  return out;
}

