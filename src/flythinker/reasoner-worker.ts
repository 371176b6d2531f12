// The Reasoner in its own thread with its own ONNX Runtime session (parallel decoding); see reasoner-protocol.ts.
// workerData: { spec: ReasonerSpec, control: SharedArrayBuffer, buffers: ReasonerBuffers, port: MessagePort }.
// Posts "ready" (or an error string) on parentPort once the session is built, then serves requests until "stop".
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import { ReasonerCore, type ReasonerSpec } from "./reasoner.ts";
import { CTRL, KIND, readList, readPrompts, type PortMessage, type ReasonerBuffers } from "./reasoner-protocol.ts";

const { spec, control, port } = workerData as { spec: ReasonerSpec; control: SharedArrayBuffer; buffers: ReasonerBuffers; port: MessagePort };
let buffers = (workerData as { buffers: ReasonerBuffers }).buffers;
const ctrl = new Int32Array(control);

async function serve(): Promise<void> {
  const core = await ReasonerCore.create(spec);
  parentPort!.postMessage("ready");
  let seen = 0;
  for (;;) {
    Atomics.wait(ctrl, CTRL.request, seen); // sleeps until the main thread posts a new request
    seen = Atomics.load(ctrl, CTRL.request);
    const kind = ctrl[CTRL.kind];
    if (kind === KIND.stop) break;
    let failed = 0;
    try {
      if (kind === KIND.buffers) {
        const msg = receiveMessageOnPort(port)?.message as PortMessage | undefined;
        if (msg?.type !== "buffers") throw new Error("expected new buffers on the port");
        buffers = msg.buffers;
      } else if (kind === KIND.step || kind === KIND.prefill || kind === KIND.keep || kind === KIND.add) {
        const ints = new Int32Array(buffers.ids, 0, ctrl[CTRL.length]);
        const thoughts = new Float32Array(buffers.thoughts);
        if (kind === KIND.step) {
          thoughts.set(await core.step(readList(ints)));
        } else if (kind === KIND.keep) {
          core.keepRows(readList(ints));
        } else {
          let offset = 0;
          const prompts = readPrompts(ints);
          for (const t of await (kind === KIND.add ? core.addRows(prompts) : core.prefill(prompts))) {
            thoughts.set(t, offset);
            offset += t.length;
          }
        }
      } else {
        throw new Error(`unknown request kind ${kind}`);
      }
    } catch (err) {
      failed = 1;
      port.postMessage({ type: "error", message: (err as Error).message } satisfies PortMessage);
    }
    ctrl[CTRL.failed] = failed;
    Atomics.store(ctrl, CTRL.done, seen);
    Atomics.notify(ctrl, CTRL.done);
  }
  await core.release();
}

serve().catch((err: Error) => parentPort!.postMessage(`error: ${err.message}`));
