// Strict parsing of numeric and enumerated flags, shared by every command: decimal notation only (no hex, no
// "Infinity", no empty string), range-checked, and a UserError that names the flag, the range and the value given.
import { UserError } from "../util/errors.ts";

export interface Range {
  min?: number;
  max?: number;
}

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function rangeText(kind: string, r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return `${kind} in [${r.min}, ${r.max}]`;
  if (r.min !== undefined) return `${kind} >= ${r.min}`;
  if (r.max !== undefined) return `${kind} <= ${r.max}`;
  return kind;
}

function inRange(v: number, r: Range): boolean {
  return (r.min === undefined || v >= r.min) && (r.max === undefined || v <= r.max);
}

/** An integer written in decimal digits, within `range`. */
export function intFlag(value: string, flag: string, range: Range = {}): number {
  const v = value.trim();
  const n = Number(v);
  if (!INTEGER.test(v) || !Number.isSafeInteger(n) || !inRange(n, range)) {
    throw new UserError(`${flag} must be ${rangeText("an integer", range)}, got "${value}"`);
  }
  return n;
}

/** A finite decimal number (an exponent such as 5e-6 is allowed), within `range`. */
export function numberFlag(value: string, flag: string, range: Range = {}): number {
  const v = value.trim();
  const n = Number(v);
  if (!DECIMAL.test(v) || !Number.isFinite(n) || !inRange(n, range)) {
    throw new UserError(`${flag} must be ${rangeText("a number", range)}, got "${value}"`);
  }
  return n;
}

/** --epochs: a positive number (0.5 = half an epoch's steps). */
export function positiveEpochs(value: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!DECIMAL.test(v) || !Number.isFinite(n) || n <= 0) throw new UserError(`--epochs must be a positive number (0.5 = half an epoch), got "${value}"`);
  return n;
}

/** `intFlag` / `numberFlag` for an optional flag: undefined stays undefined. */
export function optionalInt(value: string | undefined, flag: string, range: Range = {}): number | undefined {
  return value === undefined ? undefined : intFlag(value, flag, range);
}

export function optionalNumber(value: string | undefined, flag: string, range: Range = {}): number | undefined {
  return value === undefined ? undefined : numberFlag(value, flag, range);
}

/** One of a fixed list of words. */
export function oneOf<T extends string>(value: string, flag: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new UserError(`${flag} must be ${allowed.join(" | ")}, got "${value}"`);
  return value as T;
}

/** `--shard I/N`: the I-th of N shards, 0 <= I < N. */
export function shardFlag(value: string, flag = "--shard"): { index: number; count: number } {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(count) || count < 1 || index >= count) {
    throw new UserError(`${flag} must be I/N with N >= 1 and 0 <= I < N (e.g. 0/4), got "${value}"`);
  }
  return { index, count };
}
