// The Reasoner side of decoding, in the same thread (sequential mode) or in a worker thread (parallel mode).
// Either way it is a KV-cache Decoder that returns the final-norm hidden state (the thought) of every fed position.
import { Worker } from "node:worker_threads";
import { Decoder, type Weights } from "../model/decode.ts";
import type { ModelConfig } from "../model/config.ts";
import type { ReasonerReply, ReasonerRequest } from "./reasoner-worker.ts";

export interface ReasonerSpec {
  config: ModelConfig;
  weights: Weights;
  threads: number;
}

export interface ReasonerHandle {
  /** Starts a sequence: thoughts for every prompt position, [ids.length * d_R]. */
  prefill(ids: readonly number[]): Promise<Float32Array>;
  /** Feeds one token: its thought, [d_R]. */
  step(id: number): Promise<Float32Array>;
  close(): Promise<void>;
}

export function reasonerDecoder(spec: ReasonerSpec): Promise<Decoder> {
  return Decoder.create(spec.config, spec.weights, { logits: "none", hidden: "all", compile: { threads: spec.threads } });
}

export class LocalReasoner implements ReasonerHandle {
  private constructor(private readonly decoder: Decoder) {}

  static async create(spec: ReasonerSpec): Promise<LocalReasoner> {
    return new LocalReasoner(await reasonerDecoder(spec));
  }

  async prefill(ids: readonly number[]): Promise<Float32Array> {
    return (await this.decoder.prefill([ids])).hidden[0]!;
  }

  async step(id: number): Promise<Float32Array> {
    return (await this.decoder.step([id])).hidden[0]!;
  }

  async close(): Promise<void> {
    await this.decoder.release();
  }
}

export class WorkerReasoner implements ReasonerHandle {
  private pending: { resolve: (d: Float32Array) => void; reject: (e: Error) => void }[] = [];

  private constructor(private readonly worker: Worker) {
    worker.on("message", (msg: ReasonerReply) => {
      if (msg.type === "ready") return;
      const p = this.pending.shift();
      if (!p) return;
      if (msg.type === "thoughts") p.resolve(msg.data);
      else p.reject(new Error(`Reasoner worker: ${msg.message}`));
    });
    worker.on("error", (err) => {
      for (const p of this.pending.splice(0)) p.reject(err);
    });
  }

  static async create(spec: ReasonerSpec): Promise<WorkerReasoner> {
    const worker = new Worker(new URL("./reasoner-worker-entry.js", import.meta.url), { workerData: spec });
    await new Promise<void>((resolve, reject) => {
      worker.on("message", (msg: ReasonerReply) => {
        if (msg.type === "ready") resolve();
        if (msg.type === "error") reject(new Error(`Reasoner worker: ${msg.message}`));
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`Reasoner worker exited with code ${code}`)));
    });
    return new WorkerReasoner(worker);
  }

  private request(msg: ReasonerRequest): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.worker.postMessage(msg);
    });
  }

  prefill(ids: readonly number[]): Promise<Float32Array> {
    return this.request({ type: "prefill", ids: [...ids] });
  }

  step(id: number): Promise<Float32Array> {
    return this.request({ type: "step", id });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
