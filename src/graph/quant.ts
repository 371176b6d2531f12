// Blockwise weight quantization in the layout of ONNX Runtime's MatMulNBits and GatherBlockQuantized.
//
// A matrix W [rows, cols] (a projection in HF layout [out, in], or an embedding table [vocab, hidden]) is cut along
// `cols` into blocks of `blockSize` values (the last block padded). Each block has a float32 scale and an integer
// zero point z; a value is stored as the code q in [0, 2^bits - 1] and read back as (q - z) * scale.
//   symmetric:  scale = max|w| / (2^(bits-1) - 1), z = 2^(bits-1) (not stored: the ops' default)
//   zero points: scale = (max(w, 0) - min(w, 0)) / (2^bits - 1), z = round(-min(w, 0) / scale)
// Codes are rounded to nearest. Storage, all row-major:
//   data   [rows, blocks, blockSize * bits / 8]  codes packed along cols, low bits first (4 bits: two per byte);
//          padding codes equal the zero point, so they read back as 0
//   scales [rows, blocks]
//   zeroPoints [rows, ceil(blocks * bits / 8)]  packed the same way (only with zero points)

export type QuantBits = 4 | 8;

export interface QuantOptions {
  bits: QuantBits;
  /** Values per block along cols: a power of two >= 16 (default 32). */
  blockSize?: number;
  /** Symmetric blocks (default) or blocks with their own zero point. */
  symmetric?: boolean;
}

export interface BlockQuantized {
  bits: QuantBits;
  blockSize: number;
  rows: number;
  cols: number;
  /** [rows, blocks, blockSize * bits / 8] packed codes. */
  data: Uint8Array;
  /** [rows, blocks] */
  scales: Float32Array;
  /** [rows, ceil(blocks * bits / 8)] packed zero points; absent for symmetric blocks (zero point 2^(bits-1)). */
  zeroPoints?: Uint8Array;
}

export const DEFAULT_BLOCK_SIZE = 32;

/** Why a block size cannot be used, or undefined when it can. */
export function blockSizeProblem(blockSize: number): string | undefined {
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    return `the block size must be a power of two >= 16 (16, 32, 64, 128, ...), got ${blockSize}`;
  }
  return undefined;
}

export function blocksOf(cols: number, blockSize: number): number {
  return Math.ceil(cols / blockSize);
}

/** Bytes per row of packed zero points. */
export function zeroPointBytes(blocks: number, bits: QuantBits): number {
  return Math.ceil((blocks * bits) / 8);
}

/** Writes code `q` at position `i` of a packed byte array. */
function putCode(out: Uint8Array, base: number, i: number, q: number, bits: QuantBits): void {
  if (bits === 8) out[base + i] = q;
  else out[base + (i >> 1)]! |= (i & 1) === 0 ? q : q << 4;
}

/** Reads the code at position `i` of a packed byte array. */
function getCode(src: Uint8Array, base: number, i: number, bits: QuantBits): number {
  if (bits === 8) return src[base + i]!;
  const b = src[base + (i >> 1)]!;
  return (i & 1) === 0 ? b & 15 : b >> 4;
}

/** Writes the codes of buf[start, end) (then zero points up to blockSize) into the block at data[base...]. */
function packBlock(
  data: Uint8Array,
  base: number,
  buf: Float32Array,
  start: number,
  end: number,
  blockSize: number,
  scale: number,
  zero: number,
  levels: number,
  bits: QuantBits,
): void {
  const code = (j: number) => (j < end && scale > 0 ? Math.min(levels, Math.max(0, Math.round(buf[j]! / scale) + zero)) : zero);
  if (bits === 8) {
    for (let i = 0; i < blockSize; i++) data[base + i] = code(start + i);
  } else {
    for (let i = 0; i < blockSize; i += 2) data[base + (i >> 1)] = code(start + i) | (code(start + i + 1) << 4);
  }
}

/**
 * Quantizes W [rows, cols], given row by row: `row(r, out)` writes row r's cols values into `out` (so a table stored
 * as bf16 or f16 is converted one row at a time, never whole).
 */
export function quantizeRows(
  rows: number,
  cols: number,
  row: (r: number, out: Float32Array) => void,
  options: QuantOptions,
): BlockQuantized {
  const bits = options.bits;
  if (bits !== 4 && bits !== 8) throw new Error(`quantize: bits must be 4 or 8, got ${String(bits)}`);
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const problem = blockSizeProblem(blockSize);
  if (problem) throw new Error(`quantize: ${problem}`);
  const symmetric = options.symmetric ?? true;
  const blocks = blocksOf(cols, blockSize);
  const blob = (blockSize * bits) / 8;
  const data = new Uint8Array(rows * blocks * blob);
  const scales = new Float32Array(rows * blocks);
  const zpBytes = zeroPointBytes(blocks, bits);
  const zeroPoints = symmetric ? undefined : new Uint8Array(rows * zpBytes);
  const levels = 2 ** bits - 1;
  const half = 2 ** (bits - 1);
  const buf = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    row(r, buf);
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const end = Math.min(cols, start + blockSize);
      let lo = 0;
      let hi = 0;
      for (let j = start; j < end; j++) {
        const v = buf[j]!;
        if (!Number.isFinite(v)) throw new Error(`quantize: row ${r} col ${j} is ${v}`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let scale: number;
      let zero: number;
      if (symmetric) {
        scale = Math.fround(Math.max(-lo, hi) / (half - 1));
        zero = half;
      } else {
        scale = Math.fround((hi - lo) / levels);
        zero = scale > 0 ? Math.min(levels, Math.max(0, Math.round(-lo / scale))) : 0;
      }
      scales[r * blocks + b] = scale;
      if (zeroPoints) putCode(zeroPoints, r * zpBytes, b, zero, bits);
      packBlock(data, (r * blocks + b) * blob, buf, start, end, blockSize, scale, zero, levels, bits);
    }
  }
  return { bits, blockSize, rows, cols, data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** Quantizes a float32 (or float64) matrix [rows, cols]. */
export function quantizeMatrix(w: Float32Array | Float64Array, rows: number, cols: number, options: QuantOptions): BlockQuantized {
  if (w.length !== rows * cols) throw new Error(`quantize: ${w.length} values do not fill [${rows}, ${cols}]`);
  return quantizeRows(rows, cols, (r, out) => out.set(w.subarray(r * cols, (r + 1) * cols)), options);
}

/** The zero point of block `b` of row `r`. */
export function zeroPointOf(q: BlockQuantized, r: number, b: number): number {
  if (!q.zeroPoints) return 2 ** (q.bits - 1);
  return getCode(q.zeroPoints, r * zeroPointBytes(blocksOf(q.cols, q.blockSize), q.bits), b, q.bits);
}

/** The codes of row `r` [cols] (padding dropped). */
export function rowCodes(q: BlockQuantized, r: number): Uint8Array {
  const blocks = blocksOf(q.cols, q.blockSize);
  const out = new Uint8Array(q.cols);
  const blob = (q.blockSize * q.bits) / 8;
  for (let j = 0; j < q.cols; j++) {
    const b = Math.floor(j / q.blockSize);
    out[j] = getCode(q.data, (r * blocks + b) * blob, j - b * q.blockSize, q.bits);
  }
  return out;
}

/** The dequantized matrix [rows, cols]: (code - zero point) * scale. */
export function dequantize(q: BlockQuantized): Float32Array {
  const blocks = blocksOf(q.cols, q.blockSize);
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    const codes = rowCodes(q, r);
    for (let j = 0; j < q.cols; j++) {
      const b = Math.floor(j / q.blockSize);
      out[r * q.cols + j] = (codes[j]! - zeroPointOf(q, r, b)) * q.scales[r * blocks + b]!;
    }
  }
  return out;
}

/** Checks that the arrays of `q` have the sizes its shape and format need (a loaded folder may not). */
export function checkBlockQuantized(q: BlockQuantized, what: string): void {
  const blocks = blocksOf(q.cols, q.blockSize);
  const want = [
    ["data", q.data.length, q.rows * blocks * ((q.blockSize * q.bits) / 8)],
    ["scales", q.scales.length, q.rows * blocks],
    ...(q.zeroPoints ? [["zero points", q.zeroPoints.length, q.rows * zeroPointBytes(blocks, q.bits)] as const] : []),
  ] as const;
  for (const [name, got, need] of want) {
    if (got !== need) {
      throw new Error(`${what}: ${name} holds ${got} values, [${q.rows}, ${q.cols}] in ${q.bits}-bit blocks of ${q.blockSize} needs ${need}`);
    }
  }
}
