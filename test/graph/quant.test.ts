// Blockwise quantization (src/graph/quant.ts) and the ops that read it (MatMulNBits, GatherBlockQuantized), against
// an independent plain-TypeScript reference: codes recomputed from the definition and unpacked bit by bit, the
// matrix dequantized as (code - zero point) * scale, then multiplied in float64.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph, ops } from "../../src/graph/index.ts";
import { compile } from "../../src/runtime/session.ts";
import { type BlockQuantized, type QuantBits, blockSizeProblem, dequantize, quantizeMatrix, quantizeRows } from "../../src/graph/quant.ts";
import { Rng } from "../../src/util/random.ts";
import { blockCodeAt as codeAt, blockZeroAt as zeroAt, blockDequantize as referenceDequantize } from "./reference.ts";

const rng = new Rng(11);

function randomMatrix(rows: number, cols: number, shift = 0): Float32Array {
  return Float32Array.from({ length: rows * cols }, () => Math.fround(rng.normal() + shift));
}

const CASES: { rows: number; cols: number; bits: QuantBits; blockSize: number; symmetric: boolean }[] = [];
for (const bits of [4, 8] as const) {
  for (const symmetric of [true, false]) {
    CASES.push({ rows: 7, cols: 53, bits, blockSize: 16, symmetric }); // odd sizes, K not a multiple of the block
    CASES.push({ rows: 3, cols: 64, bits, blockSize: 32, symmetric });
  }
}

test("quantized codes follow the definition: scale and zero point per block, rounded to nearest, within half a step", () => {
  for (const c of CASES) {
    const w = randomMatrix(c.rows, c.cols, c.symmetric ? 0 : 0.7);
    const q = quantizeMatrix(w, c.rows, c.cols, c);
    const label = `${c.bits}-bit ${c.symmetric ? "symmetric" : "zero points"} [${c.rows}, ${c.cols}] / ${c.blockSize}`;
    assert.equal(q.zeroPoints === undefined, c.symmetric, label);
    const blocks = Math.ceil(c.cols / c.blockSize);
    const half = 2 ** (c.bits - 1);
    for (let r = 0; r < c.rows; r++) {
      for (let b = 0; b < blocks; b++) {
        const vals = Array.from(w.subarray(r * c.cols + b * c.blockSize, r * c.cols + Math.min(c.cols, (b + 1) * c.blockSize)));
        const lo = Math.min(0, ...vals);
        const hi = Math.max(0, ...vals);
        const scale = Math.fround(c.symmetric ? Math.max(-lo, hi) / (half - 1) : (hi - lo) / (2 ** c.bits - 1));
        assert.equal(q.scales[r * blocks + b], scale, `${label}: scale of block ${b} of row ${r}`);
        const zero = c.symmetric ? half : Math.round(-lo / scale) + 0; // + 0 turns -0 into 0
        assert.equal(zeroAt(q, r, b), zero, `${label}: zero point`);
        for (let i = 0; i < c.blockSize; i++) {
          const j = b * c.blockSize + i;
          const want = j < c.cols ? Math.min(2 ** c.bits - 1, Math.max(0, Math.round(w[r * c.cols + j]! / scale) + zero)) : zero;
          const got = j < c.cols ? codeAt(q, r, j) : (() => {
            // padding code: read it straight from the bytes
            const bytes = (c.blockSize * c.bits) / 8;
            const bit = i * c.bits;
            return (q.data[(r * blocks + b) * bytes + Math.floor(bit / 8)]! >> (bit % 8)) & (2 ** c.bits - 1);
          })();
          assert.equal(got, want, `${label}: code (${r}, ${j})`);
        }
      }
    }
    const ref = referenceDequantize(q);
    const dq = dequantize(q);
    for (let i = 0; i < w.length; i++) {
      const scale = q.scales[Math.floor(i / c.cols) * blocks + Math.floor((i % c.cols) / c.blockSize)]!;
      assert.equal(dq[i], Math.fround(ref[i]!), `${label}: dequantize ${i}`);
      assert.ok(Math.abs(ref[i]! - w[i]!) <= scale / 2 + 1e-7 * Math.abs(w[i]!), `${label}: error at ${i} is ${ref[i]! - w[i]!}, step ${scale}`);
    }
  }
});

test("quantizing row by row gives the same bytes as the whole matrix; all-zero blocks read back as 0", () => {
  const w = randomMatrix(5, 40);
  w.fill(0, 0, 40); // row 0 all zero
  for (const symmetric of [true, false]) {
    const whole = quantizeMatrix(w, 5, 40, { bits: 4, blockSize: 16, symmetric });
    const rows = quantizeRows(5, 40, (r, out) => out.set(w.subarray(r * 40, r * 40 + 40)), { bits: 4, blockSize: 16, symmetric });
    assert.deepEqual(rows, whole);
    assert.deepEqual(Array.from(dequantize(whole).subarray(0, 40)), Array(40).fill(0));
  }
  assert.match(blockSizeProblem(24)!, /power of two >= 16/);
  assert.match(blockSizeProblem(8)!, /got 8/);
  assert.equal(blockSizeProblem(64), undefined);
  assert.throws(() => quantizeMatrix(w, 5, 40, { bits: 4, blockSize: 48 }), /power of two/);
});

/** Builds and runs MatMulNBits (both accuracy levels), GatherBlockQuantized and the whole dequantized matrix. */
async function runOps(q: BlockQuantized, x: Float32Array, m: number, ids: number[]) {
  const g = new Graph();
  const blocks = Math.ceil(q.cols / q.blockSize);
  const data = g.input("data", "uint8", [q.rows, blocks, (q.blockSize * q.bits) / 8]);
  const scales = g.input("scales", "float32", [q.rows, blocks]);
  const zero = q.zeroPoints ? g.input("zero", "uint8", [q.rows, q.zeroPoints.length / q.rows]) : undefined;
  const w = ops.blockQuantized(data, scales, zero, { rows: q.rows, cols: q.cols, bits: q.bits, blockSize: q.blockSize });
  const xs = g.input("x", "float32", [m, q.cols]);
  const idx = g.input("ids", "int64", [ids.length]);
  const constants = new Map<string, Uint8Array | Float32Array>([["data", q.data], ["scales", q.scales]]);
  if (q.zeroPoints) constants.set("zero", q.zeroPoints);
  const c = await compile(
    g,
    { exact: ops.matMulNBits(xs, w, 0), int8: ops.matMulNBits(xs, w, 4), rows: ops.gatherBlockQuantized(w, idx), full: w },
    { constants, threads: 1 },
  );
  const out = await c.run({ x, ids: BigInt64Array.from(ids.map(BigInt)) });
  await c.release();
  return out;
}

test("MatMulNBits and GatherBlockQuantized equal dequantize-then-multiply (4 and 8 bits, odd sizes, padded blocks)", async () => {
  for (const c of CASES) {
    const label = `${c.bits}-bit ${c.symmetric ? "symmetric" : "zero points"} [${c.rows}, ${c.cols}] / ${c.blockSize}`;
    const w = randomMatrix(c.rows, c.cols, c.symmetric ? 0 : 0.5);
    const q = quantizeMatrix(w, c.rows, c.cols, c);
    const deq = referenceDequantize(q);
    const m = 3;
    const x = randomMatrix(m, c.cols);
    const ids = [c.rows - 1, 0, 2];
    const out = await runOps(q, x, m, ids);
    assert.deepEqual(out.exact!.dims, [m, c.rows]);
    assert.deepEqual(out.rows!.dims, [ids.length, c.cols]);
    assert.deepEqual(out.full!.dims, [c.rows, c.cols]);
    // Gathered rows and the whole matrix: exactly the reference's float32 values.
    ids.forEach((r, i) => {
      for (let j = 0; j < c.cols; j++) assert.equal((out.rows!.data as Float32Array)[i * c.cols + j], Math.fround(deq[r * c.cols + j]!), `${label}: row ${r}`);
    });
    for (let i = 0; i < deq.length; i++) assert.equal((out.full!.data as Float32Array)[i], Math.fround(deq[i]!), `${label}: full ${i}`);
    // Products. accuracy level 0: float32 arithmetic, |err| <= 1e-5 * sum |x w|. Level 4 quantizes x to int8 per
    // block (step max|x_block| / 127), so |err| <= sum over k of (step_k / 2) |w_k| (+ 10% and the float32 bound).
    for (let i = 0; i < m; i++) {
      for (let n = 0; n < c.rows; n++) {
        let want = 0;
        let magnitude = 0;
        let int8Bound = 0;
        for (let k = 0; k < c.cols; k++) {
          const wk = deq[n * c.cols + k]!;
          want += x[i * c.cols + k]! * wk;
          magnitude += Math.abs(x[i * c.cols + k]! * wk);
          const b = Math.floor(k / c.blockSize);
          let amax = 0;
          for (let t = b * c.blockSize; t < Math.min(c.cols, (b + 1) * c.blockSize); t++) amax = Math.max(amax, Math.abs(x[i * c.cols + t]!));
          int8Bound += (amax / 127 / 2) * Math.abs(wk);
        }
        const exact = (out.exact!.data as Float32Array)[i * c.rows + n]!;
        const int8 = (out.int8!.data as Float32Array)[i * c.rows + n]!;
        assert.ok(Math.abs(exact - want) <= 1e-5 * magnitude + 1e-6, `${label}: level 0 (${i}, ${n}) ${exact} vs ${want}`);
        assert.ok(Math.abs(int8 - want) <= 1.1 * int8Bound + 1e-5 * magnitude + 1e-6, `${label}: level 4 (${i}, ${n}) ${int8} vs ${want}, bound ${int8Bound}`);
      }
    }
  }
});

test("the quantized ops check their parts' shapes when the graph is built", () => {
  const g = new Graph();
  const data = g.input("data", "uint8", [4, 2, 8]);
  const scales = g.input("scales", "float32", [4, 2]);
  assert.throws(() => ops.blockQuantized(data, scales, undefined, { rows: 4, cols: 40, bits: 8, blockSize: 16 }), /data: expected uint8\[4, 3, 16\]/);
  const w = ops.blockQuantized(data, scales, undefined, { rows: 4, cols: 32, bits: 4, blockSize: 16 });
  assert.deepEqual(w.shape, [4, 32]);
  assert.throws(() => ops.matMulNBits(g.input("x", "float32", [2, 31]), w), /does not end in the weight's 32 columns/);
  assert.throws(() => ops.matMulNBits(g.input("y", "float32", [2, 32]), scales), /not a block-quantized matrix/);
  assert.deepEqual(ops.matMulNBits(g.input("z", "float32", ["b", "s", 32]), w).shape, ["b", "s", 4]);
});
