// Block-quantized weights (graph/quant.ts) and the ONNX Runtime contrib ops that read them without a float copy:
// MatMulNBits (x @ W^T) and GatherBlockQuantized (rows of a table). None is differentiable: quantized weights are for
// decoding only.
import { type Tensor, ShapeError } from "../graph.ts";
import { CONTRIB_DOMAIN, type Emitter } from "../emitter.ts";
import { shapeToString } from "../dims.ts";
import { type QuantBits, blocksOf, zeroPointBytes } from "../quant.ts";
import { defineOp } from "./registry.ts";

export interface QuantAttrs {
  rows: number;
  cols: number;
  bits: QuantBits;
  blockSize: number;
  /** MatMulNBits' accuracy_level for products with this matrix unless the product names one (default 4). */
  accuracyLevel?: number;
}

function sameShape(what: string, t: Tensor, dtype: string, shape: number[]): void {
  if (t.dtype !== dtype || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new ShapeError(`${what}: expected ${dtype}${shapeToString(shape)}, got ${t}`);
  }
}

function checkParts(what: string, parts: readonly Tensor[], a: QuantAttrs): void {
  const blocks = blocksOf(a.cols, a.blockSize);
  const [data, scales, zero] = parts;
  sameShape(`${what} data`, data!, "uint8", [a.rows, blocks, (a.blockSize * a.bits) / 8]);
  sameShape(`${what} scales`, scales!, "float32", [a.rows, blocks]);
  if (zero) sameShape(`${what} zero points`, zero, "uint8", [a.rows, zeroPointBytes(blocks, a.bits)]);
}

/**
 * The float32 matrix [rows, cols] that block-quantized parts stand for: inputs data, scales (, zero points). Consumers
 * that know the format (matMulNBits, gatherBlockQuantized) read the parts directly; anything else gets the whole
 * matrix dequantized (one GatherBlockQuantized over every row).
 */
export const blockQuantizedOp = defineOp<QuantAttrs>("none", {
  type: "BlockQuantized",
  infer: (inputs, a) => {
    checkParts("BlockQuantized", inputs, a);
    return { dtype: "float32", shape: [a.rows, a.cols] };
  },
  emit: (e, out) => {
    const rows = e.op("Range", [e.scalar(0, "int64"), e.scalar(out.attrs.rows, "int64"), e.scalar(1, "int64")]);
    emitGather(e, out.inputs, rows, out.attrs, e.name(out));
  },
});

/** A block-quantized matrix [rows, cols] from its parts (graph/quant.ts layout). */
export function blockQuantized(data: Tensor, scales: Tensor, zeroPoints: Tensor | undefined, attrs: QuantAttrs): Tensor {
  return data.graph.add(blockQuantizedOp, zeroPoints ? [data, scales, zeroPoints] : [data, scales], { ...attrs });
}

export function isBlockQuantized(t: Tensor): t is Tensor<QuantAttrs> {
  return t.op === blockQuantizedOp;
}

/** GatherBlockQuantized of `ids` (an ONNX value) into `out`; the padded tail of the last block is cut off. */
function emitGather(e: Emitter, parts: readonly Tensor[], ids: string, a: QuantAttrs, out: string): void {
  const blocks = blocksOf(a.cols, a.blockSize);
  const [data, scales, zero] = parts;
  const flat = e.op("Reshape", [e.name(data!), e.int64s([a.rows, (blocks * a.blockSize * a.bits) / 8])]);
  const inputs = [flat, ids, e.name(scales!), ...(zero ? [e.name(zero)] : [])];
  const attrs = { bits: a.bits, block_size: a.blockSize, gather_axis: 0, quantize_axis: 1 };
  const padded = blocks * a.blockSize !== a.cols;
  const gathered = e.node("GatherBlockQuantized", inputs, [padded ? e.fresh("gbq") : out], attrs, CONTRIB_DOMAIN);
  if (padded) e.node("Slice", [gathered, e.int64s([0]), e.int64s([a.cols]), e.int64s([-1])], [out]);
}

type MatMulNBitsAttrs = QuantAttrs & { accuracyLevel: number };

/** x [..., cols] @ W^T -> [..., rows] for a block-quantized W [rows, cols]. */
export const matMulNBitsOp = defineOp<MatMulNBitsAttrs>("none", {
  type: "MatMulNBits",
  infer: ([x, ...parts], a) => {
    checkParts("MatMulNBits", parts, a);
    if (x!.dtype !== "float32" || x!.rank < 2 || x!.shape[x!.rank - 1] !== a.cols) {
      throw new ShapeError(`MatMulNBits: x ${x} does not end in the weight's ${a.cols} columns (weight [${a.rows}, ${a.cols}])`);
    }
    return { dtype: "float32", shape: [...x!.shape.slice(0, -1), a.rows] };
  },
  emit: (e, out) => {
    const a = out.attrs;
    e.node("MatMulNBits", out.inputs.map((t) => e.name(t)), [e.name(out)], {
      K: a.cols,
      N: a.rows,
      bits: a.bits,
      block_size: a.blockSize,
      accuracy_level: a.accuracyLevel,
    }, CONTRIB_DOMAIN);
  },
});

/**
 * x [..., cols] @ W^T for a block-quantized W (from `blockQuantized`). accuracyLevel 4 lets ONNX Runtime quantize x
 * to int8 per block and multiply in integers (its fastest CPU path); 0 multiplies in float32.
 */
export function matMulNBits(x: Tensor, w: Tensor, accuracyLevel?: number): Tensor {
  if (!isBlockQuantized(w)) throw new ShapeError(`matMulNBits: ${w} is not a block-quantized matrix`);
  return x.graph.add(matMulNBitsOp, [x, ...w.inputs], { ...w.attrs, accuracyLevel: accuracyLevel ?? w.attrs.accuracyLevel ?? 4 });
}

/** Rows of a block-quantized table [rows, cols] at integer ids [...] -> [...ids, cols]. */
export const gatherBlockQuantizedOp = defineOp<QuantAttrs>("none", {
  type: "GatherBlockQuantized",
  infer: ([data, ids, ...rest], a) => {
    checkParts("GatherBlockQuantized", [data!, ...rest], a);
    if (ids!.dtype !== "int64" && ids!.dtype !== "int32") throw new ShapeError(`GatherBlockQuantized: indices must be int64 or int32, got ${ids}`);
    return { dtype: "float32", shape: [...ids!.shape, a.cols] };
  },
  emit: (e, out) => {
    const [data, ids, ...rest] = out.inputs;
    emitGather(e, [data!, ...rest], e.name(ids!), out.attrs, e.name(out));
  },
});

export function gatherBlockQuantized(table: Tensor, ids: Tensor): Tensor {
  if (!isBlockQuantized(table)) throw new ShapeError(`gatherBlockQuantized: ${table} is not a block-quantized matrix`);
  const [data, ...rest] = table.inputs;
  return table.graph.add(gatherBlockQuantizedOp, [data!, ids, ...rest], { ...table.attrs });
}
