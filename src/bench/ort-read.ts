// The read rate ONNX Runtime itself reaches on this machine: a ReduceSum over a large float32 buffer [rows, 1024]
// (summing each row, rows spread over the session's threads), run through the project's compiled-graph path with the
// decoder's thread count. Decoding reads every weight once per token, so weight bytes / this rate is the time a step
// cannot go below when the same threads stream the weights.
import { Graph } from "../graph/index.ts";
import { reduceSum } from "../graph/ops/reduce.ts";
import { compile } from "../runtime/session.ts";
import { median } from "./stats.ts";

export interface OrtReadRate {
  /** Bytes of the summed buffer. */
  bytes: number;
  /** Best of the timed runs: bytes read per second. */
  best_bytes_per_s: number;
  /** Median of the timed runs. */
  median_bytes_per_s: number;
  /** Each timed run's rate (bytes/s), in order. */
  rates: number[];
}

const ROW = 1024;

/**
 * Times `repeats` runs (after one untimed run) of ReduceSum over a `bytes`-sized input (fed without a copy). Also checks the sums, so
 * the reduction is known to have read the buffer: every element is 1 except element k of row k (mod ROW), which is 2.
 */
export async function ortReadRate(bytes = 512 * 1024 * 1024, threads = 1, repeats = 7): Promise<OrtReadRate> {
  const rows = Math.max(1, Math.floor(bytes / 4 / ROW));
  const data = new Float32Array(rows * ROW).fill(1);
  for (let r = 0; r < rows; r++) data[r * ROW + (r % ROW)] = 2;
  const g = new Graph();
  const w = g.input("w", "float32", [rows, ROW]);
  // Fed as an input, not compiled in: a constant's sums would be folded away when the session is optimised.
  const c = await compile(g, { sums: reduceSum(w, 1) }, { threads });
  try {
    const rates: number[] = [];
    for (let i = 0; i <= repeats; i++) {
      const t = performance.now();
      const out = await c.run({ w: { data, dims: [rows, ROW] } });
      const s = (performance.now() - t) / 1000;
      const sums = out.sums.data as Float32Array;
      if (sums.length !== rows || sums[0] !== ROW + 1 || sums[rows - 1] !== ROW + 1) throw new Error("ortReadRate: ReduceSum gave wrong sums");
      if (i > 0) rates.push((rows * ROW * 4) / s);
    }
    return { bytes: rows * ROW * 4, best_bytes_per_s: Math.max(...rates), median_bytes_per_s: median(rates), rates };
  } finally {
    await c.release();
  }
}
