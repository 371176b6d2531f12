// A worker that keeps the other core busy for the interference bench (interference.ts), one kind of load at a time.
// workerData: { control: SharedArrayBuffer (Int32Array [mode, units done]), loads: InterferenceLoad[] }; a unit is a
// decoding step, one read of the buffer, or one arithmetic loop.
// mode 0: sleep; k >= 1: run loads[k - 1] until the mode changes; -1: exit. Posts "ready" once set up.
import { parentPort, workerData } from "node:worker_threads";
import { Decoder } from "../model/decode.ts";
import { initWeights } from "../model/init.ts";
import type { InterferenceLoad } from "./interference.ts";
import { benchQuantizedWeights } from "./decode.ts";

const { control, loads } = workerData as { control: SharedArrayBuffer; loads: InterferenceLoad[] };
const ctrl = new Int32Array(control);
const decoders = await Promise.all(
  loads.map((l) =>
    l.kind === "decode"
      ? l.quantization
        ? Decoder.create(l.config, benchQuantizedWeights(l.config, l.quantization, 2), { logits: "none", hidden: "all", compile: { threads: 1 }, quantization: l.quantization })
        : Decoder.create(l.config, initWeights(l.config, { seed: 2 }), { logits: "none", hidden: "all", compile: { threads: 1 } })
      : undefined,
  ),
);
const buffers = loads.map((l) => (l.kind === "stream" ? new Float32Array(l.bytes / 4).fill(1) : undefined));
const prompt = Array.from({ length: 64 }, (_, i) => i);
parentPort!.postMessage("ready");

let sink = 0;
for (;;) {
  const mode = Atomics.load(ctrl, 0);
  if (mode < 0) break;
  if (mode === 0) {
    Atomics.wait(ctrl, 0, 0, 10);
    continue;
  }
  const load = loads[mode - 1]!;
  if (load.kind === "decode") {
    const d = decoders[mode - 1]!;
    await d.prefill([prompt]);
    for (let i = 0; i < 64 && Atomics.load(ctrl, 0) === mode; i++) {
      await d.step([i % load.config.vocabSize]);
      Atomics.add(ctrl, 1, 1);
    }
  } else if (load.kind === "stream") {
    const b = buffers[mode - 1]!;
    for (let i = 0; i < b.length; i += 16) sink += b[i]!; // one float per 64-byte line: reads the whole buffer
    Atomics.add(ctrl, 1, 1);
  } else {
    for (let i = 0; i < 200_000; i++) sink += Math.sqrt(i);
    Atomics.add(ctrl, 1, 1);
  }
}
parentPort!.postMessage(sink > 0 ? "done" : "done.");
