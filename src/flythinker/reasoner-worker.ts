// The Reasoner in its own thread with its own ONNX Runtime session (parallel decoding).
// Protocol: "init" (spec) -> "ready"; "prefill" (ids) / "step" (id) -> "thoughts" (Float32Array); "reset".
import { parentPort, workerData } from "node:worker_threads";
import { CachedRunner, type RunnerSpec } from "./runner.ts";

export type ReasonerRequest = { type: "prefill"; ids: number[] } | { type: "step"; id: number } | { type: "reset" };
export type ReasonerReply = { type: "thoughts"; data: Float32Array } | { type: "ready" } | { type: "error"; message: string };

const port = parentPort!;
const spec = workerData as RunnerSpec;
const runner = await CachedRunner.create({ ...spec, wantHidden: true, wantLogits: false });
port.postMessage({ type: "ready" } satisfies ReasonerReply);

port.on("message", (msg: ReasonerRequest) => {
  void (async () => {
    try {
      if (msg.type === "reset") {
        runner.reset();
        return;
      }
      const ids = msg.type === "prefill" ? msg.ids : [msg.id];
      const { hidden } = await runner.run(ids);
      port.postMessage({ type: "thoughts", data: hidden! } satisfies ReasonerReply, [hidden!.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ type: "error", message: (err as Error).message } satisfies ReasonerReply);
    }
  })();
});
