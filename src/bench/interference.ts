// How much a second busy core slows a decoding step on this machine. A worker thread runs one kind of load at a time
// (the Reasoner's decoding loop, a tiny model's, a memory stream, pure arithmetic) while this thread times the
// Generator's one-token steps; windows with and without each load alternate, so drifts of the machine cancel.
import { Worker } from "node:worker_threads";
import { Decoder } from "../model/decode.ts";
import type { ModelConfig } from "../model/config.ts";
import type { ModelTensors, QuantScheme } from "../model/quantize.ts";
import { median } from "./stats.ts";

export type InterferenceLoad =
  | { kind: "decode"; name: string; config: ModelConfig; quantization?: QuantScheme }
  | { kind: "stream"; name: string; bytes: number }
  | { kind: "arithmetic"; name: string };

export interface InterferenceResult {
  /** Median one-token step of the Generator with the other core idle, ms. */
  alone_ms: number;
  /**
   * Per load: its name, the median step with that load running / alone, and the units of the load the worker finished
   * during the timed windows (decoding steps, buffer reads, arithmetic loops), which shows it ran.
   */
  slowdowns: { load: string; ratio: number; units: number }[];
}

/** Medians of one-token steps over `rounds` alternating windows of 32 steps, alone and under each load. */
export async function measureInterference(
  generator: ModelConfig,
  weights: ModelTensors,
  loads: readonly InterferenceLoad[],
  rounds = 8,
  /** The Generator's weights are block-quantized with this scheme. */
  quantization?: QuantScheme,
): Promise<InterferenceResult> {
  const control = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
  const ctrl = new Int32Array(control);
  const worker = new Worker(new URL("./interference-worker-entry.js", import.meta.url), { workerData: { control, loads } });
  const decoder = await Decoder.create(generator, weights, { compile: { threads: 1 }, ...(quantization ? { quantization } : {}) });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
    const prompt = Array.from({ length: 64 }, (_, i) => (i * 37) % generator.vocabSize);
    const window = async (): Promise<number> => {
      await decoder.prefill([prompt]);
      const steps: number[] = [];
      for (let i = 0; i < 32; i++) {
        const t0 = performance.now();
        await decoder.step([(i * 11) % generator.vocabSize]);
        steps.push(performance.now() - t0);
      }
      return median(steps);
    };
    const times: number[][] = Array.from({ length: loads.length + 1 }, () => []);
    const units = loads.map(() => 0);
    for (let r = 0; r < rounds + 1; r++) {
      for (let mode = 0; mode <= loads.length; mode++) {
        Atomics.store(ctrl, 0, mode);
        Atomics.notify(ctrl, 0);
        await new Promise((resolve) => setTimeout(resolve, 3)); // let the load start
        const before = Atomics.load(ctrl, 1);
        const t = await window();
        if (r === 0) continue; // round 0 warms up
        times[mode]!.push(t);
        if (mode > 0) units[mode - 1]! += Atomics.load(ctrl, 1) - before;
      }
    }
    const alone = median(times[0]!);
    return {
      alone_ms: alone,
      slowdowns: loads.map((l, i) => ({ load: l.name, ratio: median(times[i + 1]!) / alone, units: units[i]! })),
    };
  } finally {
    Atomics.store(ctrl, 0, -1);
    Atomics.notify(ctrl, 0);
    await worker.terminate();
    await decoder.release();
  }
}
