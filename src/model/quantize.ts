// Weight-only quantization of a Qwen2-family model for decoding (docs/decoding.md, Quantized decoding): every
// projection weight, the embedding table and an untied LM head become 4- or 8-bit blocks (graph/quant.ts); norms and
// biases stay float32. A quantized tensor NAME [rows, cols] is held as three (or two) arrays:
//   NAME.qdata  uint8 [rows, blocks, blockSize * bits / 8]
//   NAME.scales float32 [rows, blocks]
//   NAME.zeros  uint8 [rows, ceil(blocks * bits / 8)]   (only with zero points)
// In a decoding graph the projections run through MatMulNBits and the embedding through GatherBlockQuantized; a tied
// head reads the embedding's quantized table.
import { type Graph, ops } from "../graph/index.ts";
import { type BlockQuantized, type QuantBits, DEFAULT_BLOCK_SIZE, blockSizeProblem, blocksOf, quantizeRows, zeroPointBytes } from "../graph/quant.ts";
import { UserError } from "../util/errors.ts";
import type { ModelConfig } from "./config.ts";
import { mapNamed } from "./hf-names.ts";
import { paramSpecs } from "./params.ts";
import type { Params } from "./qwen2.ts";

export interface QuantScheme {
  bits: QuantBits;
  /** Values per block along each row (a power of two >= 16). */
  blockSize: number;
  /** Symmetric blocks (no stored zero points) or blocks with zero points. */
  symmetric: boolean;
}

/** The `--quantize` names. */
export const QUANTIZE_MODES = ["int8", "int4"] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

/** What quantization a caller asks for: a mode name, or a full scheme. */
export type QuantizeRequest = QuantizeMode | (Partial<QuantScheme> & { bits: QuantBits });

/** The scheme of a request (defaults: blocks of 32, symmetric); bad values are a UserError naming `what`. */
export function quantScheme(request: QuantizeRequest, what = "quantize"): QuantScheme {
  const r: Partial<QuantScheme> & { bits: QuantBits } = typeof request === "string" ? modeScheme(request, what) : request;
  if (r.bits !== 4 && r.bits !== 8) throw new UserError(`${what}: bits must be 4 or 8, got ${String(r.bits)}`);
  const blockSize = r.blockSize ?? DEFAULT_BLOCK_SIZE;
  const problem = blockSizeProblem(blockSize);
  if (problem) throw new UserError(`${what}: ${problem}`);
  return { bits: r.bits, blockSize, symmetric: r.symmetric ?? true };
}

function modeScheme(mode: string, what: string): { bits: QuantBits } {
  if (mode === "int8") return { bits: 8 };
  if (mode === "int4") return { bits: 4 };
  throw new UserError(`${what} must be ${QUANTIZE_MODES.join(" or ")}, got "${mode}"`);
}

/** "int4, blocks of 32, symmetric": for messages and reports. */
export function describeScheme(s: QuantScheme): string {
  return `int${s.bits}, blocks of ${s.blockSize}, ${s.symmetric ? "symmetric" : "with zero points"}`;
}

export function sameScheme(a: QuantScheme, b: QuantScheme): boolean {
  return a.bits === b.bits && a.blockSize === b.blockSize && a.symmetric === b.symmetric;
}

/** Tensors of a model's weights: float32 values, or (quantized models) uint8 codes and float32 scales. */
export type ModelTensors = ReadonlyMap<string, Float32Array | Uint8Array>;

export const QDATA = ".qdata";
export const QSCALES = ".scales";
export const QZEROS = ".zeros";

/** Whether a parameter of this shape is quantized: the matrices (projections, embedding, head), not norms or biases. */
export function isQuantizedShape(shape: readonly number[]): boolean {
  return shape.length === 2;
}

export interface QuantizedTensorSpec {
  name: string;
  dtype: "float32" | "uint8";
  shape: number[];
}

/** Every tensor a quantized model with this config and scheme holds, in parameter order. */
export function quantizedTensorSpecs(config: ModelConfig, scheme: QuantScheme): QuantizedTensorSpec[] {
  const out: QuantizedTensorSpec[] = [];
  mapNamed(paramSpecs(config), (spec, name) => {
    if (!isQuantizedShape(spec.shape)) {
      out.push({ name, dtype: "float32", shape: spec.shape });
      return;
    }
    const [rows, cols] = spec.shape as [number, number];
    const blocks = blocksOf(cols, scheme.blockSize);
    out.push({ name: name + QDATA, dtype: "uint8", shape: [rows, blocks, (scheme.blockSize * scheme.bits) / 8] });
    out.push({ name: name + QSCALES, dtype: "float32", shape: [rows, blocks] });
    if (!scheme.symmetric) out.push({ name: name + QZEROS, dtype: "uint8", shape: [rows, zeroPointBytes(blocks, scheme.bits)] });
  });
  return out;
}

/** Checks that `tensors` are exactly those of `quantizedTensorSpecs` (or more, with allowExtra), with dtypes and sizes. */
export function validateQuantizedTensors(config: ModelConfig, scheme: QuantScheme, tensors: ModelTensors, source: string, allowExtra = false): void {
  const specs = quantizedTensorSpecs(config, scheme);
  const problems: string[] = [];
  for (const s of specs) {
    const t = tensors.get(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (!t) problems.push(`missing ${s.name}`);
    else if ((s.dtype === "uint8") !== t instanceof Uint8Array || t.length !== n) {
      problems.push(`${s.name} should be ${s.dtype}[${s.shape.join(", ")}], got a ${t.constructor.name} of ${t.length}`);
    }
  }
  const known = new Set(specs.map((s) => s.name));
  if (!allowExtra) for (const name of tensors.keys()) if (!known.has(name)) problems.push(`unexpected ${name}`);
  if (problems.length) {
    throw new UserError(`${source} (${describeScheme(scheme)}): ${problems.slice(0, 8).join("; ")}${problems.length > 8 ? `; ... (${problems.length} in all)` : ""}`);
  }
}

/**
 * Quantizes a model's float32 weights (HF names; a tied model may carry lm_head.weight, which is dropped), tensor by
 * tensor; `onTensor` reports progress.
 */
export function quantizeWeights(
  config: ModelConfig,
  weights: ReadonlyMap<string, Float32Array>,
  scheme: QuantScheme,
  onTensor?: (name: string, done: number, total: number) => void,
): Map<string, Float32Array | Uint8Array> {
  const out = new Map<string, Float32Array | Uint8Array>();
  const specs: [string, number[]][] = [];
  mapNamed(paramSpecs(config), (spec, name) => specs.push([name, spec.shape]));
  specs.forEach(([name, shape], i) => {
    const w = weights.get(name);
    if (!w) throw new UserError(`quantize: the weights have no ${name}`);
    if (!isQuantizedShape(shape)) out.set(name, w);
    else {
      const [rows, cols] = shape as [number, number];
      if (w.length !== rows * cols) throw new UserError(`quantize: ${name} holds ${w.length} values, [${rows}, ${cols}] needs ${rows * cols}`);
      const q = quantizeRows(rows, cols, (r, row) => row.set(w.subarray(r * cols, (r + 1) * cols)), scheme);
      setQuantized(out, name, q);
    }
    onTensor?.(name, i + 1, specs.length);
  });
  return out;
}

/** Stores a quantized tensor's arrays under NAME.qdata / .scales / .zeros. */
export function setQuantized(out: Map<string, Float32Array | Uint8Array>, name: string, q: BlockQuantized): void {
  out.set(name + QDATA, q.data);
  out.set(name + QSCALES, q.scales);
  if (q.zeroPoints) out.set(name + QZEROS, q.zeroPoints);
}

/** The quantized tensor NAME [rows, cols] of a quantized model's tensors. */
export function getQuantized(tensors: ModelTensors, name: string, rows: number, cols: number, scheme: QuantScheme): BlockQuantized {
  const data = tensors.get(name + QDATA);
  const scales = tensors.get(name + QSCALES);
  const zeros = tensors.get(name + QZEROS);
  if (!(data instanceof Uint8Array) || !(scales instanceof Float32Array)) throw new UserError(`quantized weights have no ${name}`);
  return { bits: scheme.bits, blockSize: scheme.blockSize, rows, cols, data, scales, ...(zeros instanceof Uint8Array ? { zeroPoints: zeros } : {}) };
}

/**
 * Declares a quantized model's parameters as graph inputs (names `prefix + ` the names above): matrices become
 * block-quantized tensors (ops.blockQuantized), which the model's projections, embedding lookup and head read with
 * MatMulNBits / GatherBlockQuantized. `accuracyLevel` 4 (default) multiplies with int8 activations, 0 in float32.
 */
export function declareQuantizedParams(g: Graph, config: ModelConfig, scheme: QuantScheme, prefix = "", accuracyLevel = 4): Params {
  return mapNamed(paramSpecs(config), (spec, name) => {
    const full = prefix + name;
    if (!isQuantizedShape(spec.shape)) return g.input(full, "float32", spec.shape);
    const [rows, cols] = spec.shape as [number, number];
    const blocks = blocksOf(cols, scheme.blockSize);
    const data = g.input(full + QDATA, "uint8", [rows, blocks, (scheme.blockSize * scheme.bits) / 8]);
    const scales = g.input(full + QSCALES, "float32", [rows, blocks]);
    const zeros = scheme.symmetric ? undefined : g.input(full + QZEROS, "uint8", [rows, zeroPointBytes(blocks, scheme.bits)]);
    return ops.blockQuantized(data, scales, zeros, { rows, cols, bits: scheme.bits, blockSize: scheme.blockSize, accuracyLevel });
  });
}

/** Bytes of a model's tensors. */
export function tensorBytes(tensors: ModelTensors): number {
  let n = 0;
  for (const t of tensors.values()) n += t.byteLength;
  return n;
}
