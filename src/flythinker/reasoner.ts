// The Reasoner side of decoding, in the same thread (sequential mode) or in a worker thread (parallel mode).
import { Worker } from "node:worker_threads";
import { CachedRunner, type RunnerSpec } from "./runner.ts";
import type { ReasonerReply, ReasonerRequest } from "./reasoner-worker.ts";

export interface ReasonerHandle {
  /** Thoughts for every fed position, [ids.length * d_R]. */
  run(ids: number[]): Promise<Float32Array>;
  reset(): void;
  close(): Promise<void>;
}

export class LocalReasoner implements ReasonerHandle {
  private constructor(private readonly runner: CachedRunner) {}

  static async create(spec: RunnerSpec): Promise<LocalReasoner> {
    return new LocalReasoner(await CachedRunner.create({ ...spec, wantHidden: true, wantLogits: false }));
  }

  async run(ids: number[]): Promise<Float32Array> {
    return (await this.runner.run(ids)).hidden!;
  }

  reset(): void {
    this.runner.reset();
  }

  async close(): Promise<void> {}
}

export class WorkerReasoner implements ReasonerHandle {
  private pending: { resolve: (d: Float32Array) => void; reject: (e: Error) => void }[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on("message", (msg: ReasonerReply) => {
      if (msg.type === "ready") return;
      const p = this.pending.shift();
      if (!p) return;
      if (msg.type === "thoughts") p.resolve(msg.data);
      else if (msg.type === "error") p.reject(new Error(`Reasoner worker: ${msg.message}`));
    });
    worker.on("error", (err) => {
      for (const p of this.pending.splice(0)) p.reject(err);
    });
  }

  static async create(spec: RunnerSpec): Promise<WorkerReasoner> {
    const worker = new Worker(new URL("./reasoner-worker-entry.js", import.meta.url), { workerData: spec });
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: ReasonerReply) => {
        if (msg.type === "ready") {
          worker.off("error", reject);
          resolve();
        }
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`Reasoner worker exited with code ${code}`)));
    });
    return new WorkerReasoner(worker);
  }

  run(ids: number[]): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      const msg: ReasonerRequest = ids.length === 1 ? { type: "step", id: ids[0]! } : { type: "prefill", ids };
      this.worker.postMessage(msg);
    });
  }

  reset(): void {
    this.worker.postMessage({ type: "reset" } satisfies ReasonerRequest);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
