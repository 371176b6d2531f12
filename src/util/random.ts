// A small deterministic pseudo-random generator: xoshiro128** (32-bit state words, period 2^128 - 1), seeded through
// splitmix32 so that nearby seeds give unrelated streams. Used for weight initialisation, sampling and shuffling.
// The whole state (four words plus the spare normal value of Box-Muller) is plain JSON, so a run can be resumed.

import { UserError } from "./errors.ts";

export interface RngState {
  /** The four 32-bit state words of xoshiro128**, as unsigned integers. */
  s: [number, number, number, number];
  /** Second value of the last Box-Muller pair, not yet handed out (null when none). */
  spare: number | null;
}

const TWO_PI = 2 * Math.PI;
const INV_2_32 = 1 / 4294967296;
const INV_2_53 = 1 / 9007199254740992;

function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  /** `seed`: any integer in [0, 2^53) (or negative; only the low 53 bits matter). */
  constructor(seed = 0) {
    if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
      throw new UserError(`random seed must be an integer, got ${seed}`);
    }
    // Fold the seed's high and low 32-bit halves into the splitmix state.
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 4294967296) >>> 0;
    const st = { x: lo ^ Math.imul(hi, 0x27d4eb2d) };
    this.s0 = splitmix32(st);
    this.s1 = splitmix32(st);
    this.s2 = splitmix32(st);
    this.s3 = splitmix32(st);
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  static fromState(state: RngState): Rng {
    const ok =
      state !== null &&
      typeof state === "object" &&
      Array.isArray(state.s) &&
      state.s.length === 4 &&
      state.s.every((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff) &&
      (state.spare === null || typeof state.spare === "number");
    if (!ok || state.s.every((v) => v === 0)) {
      throw new UserError(`invalid random generator state: ${JSON.stringify(state)}`);
    }
    const r = new Rng(0);
    [r.s0, r.s1, r.s2, r.s3] = state.s;
    r.spare = state.spare;
    return r;
  }

  state(): RngState {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare };
  }

  clone(): Rng {
    return Rng.fromState(this.state());
  }

  /** Next unsigned 32-bit integer. */
  nextU32(): number {
    const s1 = this.s1;
    const x = Math.imul(s1, 5);
    const result = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * 67108864 + b) * INV_2_53;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) throw new RangeError(`Rng.int: bad bound ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextU32();
      if (v < limit) return v % n;
    }
  }

  /** Standard normal variate (Box-Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    // u1 in (0, 1] so that log(u1) is finite.
    const u1 = (this.nextU32() + 1) * INV_2_32;
    const u2 = this.nextU32() * INV_2_32;
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(TWO_PI * u2);
    return r * Math.cos(TWO_PI * u2);
  }

  /** Fills `out` with normal(mean, std) values. */
  fillNormal(out: Float32Array | Float64Array, std = 1, mean = 0): void {
    // Same values as calling normal() out.length times; pairs are drawn inline for speed.
    let i = 0;
    const n = out.length;
    if (n > 0 && this.spare !== null) out[i++] = mean + std * this.normal();
    for (; i + 1 < n; i += 2) {
      const u1 = (this.nextU32() + 1) * INV_2_32;
      const u2 = this.nextU32() * INV_2_32;
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * (r * Math.cos(TWO_PI * u2));
      out[i + 1] = mean + std * (r * Math.sin(TWO_PI * u2));
    }
    if (i < n) out[i] = mean + std * this.normal();
  }

  /** In-place Fisher-Yates shuffle; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i]!;
      items[i] = items[j]!;
      items[j] = tmp;
    }
    return items;
  }
}
