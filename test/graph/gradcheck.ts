// Finite-difference gradient checks for graphs built with the engine.
//
// The checked function is f(inputs) = sum(out * w) with a fixed random projection w of the output's shape, so every
// output element takes part. The analytic gradient is the engine's `grad` (either of that scalar, or of `out` with
// seed w), compiled and run by ONNX Runtime. The numeric gradient perturbs each input element in turn and evaluates
// the forward graph with a five-point central stencil:
//   df/dx ~ (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / (12 h)
// whose truncation error is O(h^4), so with h = 1e-4 (float64) it is far below the rounding noise (~1e-12 relative).
//
// Error measure, per differentiated input (documented here, used by every check):
//   err = max_i |a_i - n_i| / max(1e-8, max_i |a_i| + max_i |n_i|)
// i.e. the worst element's difference relative to the size of the whole gradient tensor. An elementwise
// |a_i - n_i| / (|a_i| + |n_i|) blows up on elements whose true gradient is ~0 (pure rounding noise); scaling by the
// tensor's largest entries keeps the measure robust while still catching any single wrong entry that matters.
import { Graph, Tensor, grad, neededTensors, type DType, type Shape } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { allocate, type AnyTypedArray } from "../../src/graph/dtype.ts";
import { Rng } from "../../src/util/random.ts";

export interface GcInput {
  /** Default float64. */
  dtype?: DType;
  /** Declared shape; may contain symbolic dims (then `dims` gives the runtime sizes). */
  shape: Shape;
  /** Runtime dims; default: `shape` (must then be static). */
  dims?: readonly number[];
  /** Values; default: standard normal (floats). Required for integer/bool inputs. */
  value?: ArrayLike<number>;
  /** Differentiate with respect to this input; default: true for float inputs. */
  wrt?: boolean;
}

export interface GradCheckOptions {
  seed?: number;
  /** Finite-difference step; default 1e-4 (float64) or 1e-2 (float32). */
  h?: number;
  /** Differentiate `out` with seed w instead of the scalar sum(out * w). */
  useSeed?: boolean;
  threads?: number;
}

export interface GradCheckResult {
  /** Error (see the header) per differentiated input. */
  errors: Record<string, number>;
  maxError: number;
  analytic: Record<string, Float64Array>;
  numeric: Record<string, Float64Array>;
  /** Op types on the differentiated path (tensors that depend on a checked input). */
  opTypes: Set<string>;
  /** Op types of the compiled gradient graph (forward tensors it reuses included). */
  gradOpTypes: Set<string>;
}

function toTyped(dtype: DType, values: ArrayLike<number>): AnyTypedArray {
  const a = allocate(dtype, values.length);
  for (let i = 0; i < values.length; i++) {
    if (a instanceof BigInt64Array) a[i] = BigInt(values[i]!);
    else (a as Float64Array)[i] = values[i]!;
  }
  return a;
}

export function gradError(a: ArrayLike<number>, n: ArrayLike<number>): number {
  let diff = 0;
  let ma = 0;
  let mn = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - n[i]!);
    if (!(d <= diff)) diff = d; // NaN wins
    ma = Math.max(ma, Math.abs(a[i]!));
    mn = Math.max(mn, Math.abs(n[i]!));
  }
  return diff / Math.max(1e-8, ma + mn);
}

/** Runs a finite-difference check of `build`'s output with respect to the float inputs. */
export async function gradCheck(
  inputs: Record<string, GcInput>,
  build: (x: Record<string, Tensor>, g: Graph) => Tensor,
  options: GradCheckOptions = {},
): Promise<GradCheckResult> {
  const rng = new Rng(options.seed ?? 1234);
  const g = new Graph();
  const x: Record<string, Tensor> = {};
  const values: Record<string, AnyTypedArray> = {};
  const dims: Record<string, number[]> = {};
  for (const [name, spec] of Object.entries(inputs)) {
    const dtype = spec.dtype ?? "float64";
    x[name] = g.input(name, dtype, spec.shape);
    const d = spec.dims ?? spec.shape;
    if (!d.every((v) => typeof v === "number")) throw new Error(`gradCheck: input ${name} needs runtime dims`);
    dims[name] = d as number[];
    const n = (d as number[]).reduce((a, b) => a * b, 1);
    if (spec.value) values[name] = toTyped(dtype, spec.value);
    else if (dtype === "float64" || dtype === "float32") {
      const v = dtype === "float64" ? new Float64Array(n) : new Float32Array(n);
      rng.fillNormal(v);
      values[name] = v;
    } else throw new Error(`gradCheck: integer input ${name} needs values`);
  }
  const wrtNames = Object.keys(inputs).filter((k) => inputs[k]!.wrt ?? x[k]!.isFloat);
  const out = build(x, g);
  const dtype = out.dtype;
  const feeds = (vals: Record<string, AnyTypedArray>) =>
    Object.fromEntries(Object.keys(vals).map((k) => [k, { data: vals[k]!, dims: dims[k]! }]));
  const opts = { threads: options.threads ?? 1 };

  // Forward graph (for the output's runtime shape and for the finite differences).
  const fwd = await compile(g, { out }, opts);
  const used = new Set(fwd.inputs.map((t) => t.inputName!));
  const usedFeeds = (vals: Record<string, AnyTypedArray>) =>
    feeds(Object.fromEntries(Object.entries(vals).filter(([k]) => used.has(k))));
  const first = await fwd.run(usedFeeds(values));
  const outDims = first.out.dims;
  const nOut = outDims.reduce((a, b) => a * b, 1);
  const w = new Float64Array(nOut);
  rng.fillNormal(w);

  // Analytic gradients.
  const wIn = g.input("gc.w", dtype, out.shape);
  const wrt = wrtNames.map((k) => x[k]!);
  const grads = options.useSeed ? grad(out, wrt, wIn) : grad(out.mul(wIn).sum(), wrt);
  const gradGraph = await compile(g, Object.fromEntries(grads.map((t, i) => [`d.${wrtNames[i]}`, t])), opts);
  const wTyped = toTyped(dtype, w);
  const gradFeeds: Record<string, { data: AnyTypedArray; dims: readonly number[] }> = {
    ...feeds(values),
    "gc.w": { data: wTyped, dims: outDims },
  };
  const gUsed = new Set(gradGraph.inputs.map((t) => t.inputName!));
  const gres = await gradGraph.run(Object.fromEntries(Object.entries(gradFeeds).filter(([k]) => gUsed.has(k))));

  const f = async (vals: Record<string, AnyTypedArray>): Promise<number> => {
    const r = (await fwd.run(usedFeeds(vals))).out.data as Float32Array | Float64Array;
    let s = 0;
    for (let i = 0; i < r.length; i++) s += r[i]! * w[i]!;
    return s;
  };

  const gradOpTypes = new Set(neededTensors(grads).map((t) => t.op.type));
  const result: GradCheckResult = { errors: {}, maxError: 0, analytic: {}, numeric: {}, opTypes: new Set(), gradOpTypes };
  for (const name of wrtNames) {
    const base = values[name] as Float32Array | Float64Array;
    const h = options.h ?? (base instanceof Float64Array ? 1e-4 : 1e-2);
    const num = new Float64Array(base.length);
    for (let i = 0; i < base.length; i++) {
      const orig = base[i]!;
      const at = async (delta: number) => {
        const copy = base.slice();
        copy[i] = orig + delta;
        return f({ ...values, [name]: copy });
      };
      const [p2, p1, m1, m2] = [await at(2 * h), await at(h), await at(-h), await at(-2 * h)];
      num[i] = (-p2 + 8 * p1 - 8 * m1 + m2) / (12 * h);
    }
    const ana = Float64Array.from(gres[`d.${name}`]!.data as Float64Array);
    if (ana.length !== num.length) throw new Error(`gradCheck: gradient of ${name} has ${ana.length} values, expected ${num.length}`);
    result.analytic[name] = ana;
    result.numeric[name] = num;
    result.errors[name] = gradError(ana, num);
    result.maxError = Math.max(result.maxError, result.errors[name]!);
  }

  // Op types on the differentiated path.
  const depends = new Set(wrt.map((t) => t.id));
  for (const t of neededTensors([out])) {
    if (t.inputs.some((i) => depends.has(i.id))) {
      depends.add(t.id);
      result.opTypes.add(t.op.type);
    }
  }
  return result;
}

/** Throws with the details when a check's error reaches `tol` or a gradient is all zeros (vacuous check). */
export function assertGradClose(r: GradCheckResult, tol: number, label = ""): void {
  for (const [name, err] of Object.entries(r.errors)) {
    const num = r.numeric[name]!;
    const scale = num.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    if (!(scale > 1e-6)) throw new Error(`${label}: numeric gradient of "${name}" is all ~0; the check proves nothing`);
    if (!(err < tol)) {
      throw new Error(
        `${label}: gradient of "${name}" differs from finite differences: error ${err.toExponential(2)} >= ${tol}\n` +
          `  analytic ${Array.from(r.analytic[name]!.slice(0, 8), (v) => v.toPrecision(6)).join(", ")}\n` +
          `  numeric  ${Array.from(num.slice(0, 8), (v) => v.toPrecision(6)).join(", ")}`,
      );
    }
  }
}
