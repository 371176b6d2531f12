// The Reasoner in its own thread with its own ONNX Runtime session (parallel decoding).
// Protocol: workerData = ReasonerSpec -> "ready"; "prefill" (ids) / "step" (id) -> "thoughts" (Float32Array).
import { parentPort, workerData } from "node:worker_threads";
import { reasonerDecoder, type ReasonerSpec } from "./reasoner.ts";

export type ReasonerRequest = { type: "prefill"; ids: number[] } | { type: "step"; id: number };
export type ReasonerReply = { type: "thoughts"; data: Float32Array } | { type: "ready" } | { type: "error"; message: string };

const port = parentPort!;
try {
  const decoder = await reasonerDecoder(workerData as ReasonerSpec);
  port.on("message", (msg: ReasonerRequest) => {
    const run = msg.type === "prefill" ? decoder.prefill([msg.ids]) : decoder.step([msg.id]);
    run.then(
      (out) => {
        const data = out.hidden[0]!.slice(); // own buffer, transferred
        port.postMessage({ type: "thoughts", data } satisfies ReasonerReply, [data.buffer as ArrayBuffer]);
      },
      (err: Error) => port.postMessage({ type: "error", message: err.message } satisfies ReasonerReply),
    );
  });
  port.postMessage({ type: "ready" } satisfies ReasonerReply);
} catch (err) {
  port.postMessage({ type: "error", message: (err as Error).message } satisfies ReasonerReply);
}
