// Lanes: the demo's heavy stages (training runs, generations) run side by side, one worker thread per job and at most
// `count` at once, each on one ONNX Runtime thread, so a 2-core machine trains two methods at a time. Jobs queue in the
// order they are asked for, a job with a higher priority first. With one lane a job runs in this thread (no worker), with the same result.
import { Worker } from "node:worker_threads";
import { UserError } from "../util/errors.ts";
import type { Reporter } from "../train/progress.ts";
import type { LaneEvent, LaneJob, LaneOutcome } from "./lane-jobs.ts";
import { runLaneJob } from "./lane-run.ts";
import type { Progress } from "./progress.ts";

/** Where a job's events go: a training reporter, or a progress bar. */
export interface LaneSink {
  reporter?: Reporter;
  progress?: Progress;
}

function deliver(e: LaneEvent, sink: LaneSink): void {
  const r = sink.reporter;
  if (e.type === "train-start") r?.start(e.total, e.done);
  else if (e.type === "train-step") r?.step(e.info);
  else if (e.type === "train-log") r?.log(e.line);
  else if (e.type === "train-stop") r?.stop();
  else sink.progress?.update(e.done, e.info);
}

export class Lanes {
  private running = 0;
  private readonly waiting: { priority: number; start: () => void }[] = [];

  constructor(readonly count: number) {
    if (!Number.isInteger(count) || count < 1) throw new UserError(`lanes must be an integer >= 1, got ${count}`);
  }

  /**
   * Runs `job` when a lane is free; resolves when it has finished. Waiting jobs start by `priority` (higher first;
   * default 0), then in the order asked.
   */
  async run(job: LaneJob, sink: LaneSink = {}, priority = 0): Promise<void> {
    await this.acquire(priority);
    try {
      if (this.count === 1) await runLaneJob(job, (e) => deliver(e, sink));
      else await runInWorker(job, sink);
    } finally {
      this.release();
    }
  }

  private acquire(priority: number): Promise<void> {
    if (this.running < this.count) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((start) => {
      // after every waiting job of the same or a higher priority
      let i = this.waiting.findIndex((w) => w.priority < priority);
      if (i < 0) i = this.waiting.length;
      this.waiting.splice(i, 0, { priority, start });
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.start();
    else this.running--;
  }
}

function runInWorker(job: LaneJob, sink: LaneSink): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./lane-worker-entry.js", import.meta.url), { workerData: job });
    let outcome: LaneOutcome | undefined;
    worker.on("message", (m: LaneEvent | LaneOutcome) => {
      if (m.type === "done" || m.type === "error") outcome = m;
      else deliver(m, sink);
    });
    worker.once("error", (e) => reject(e));
    worker.once("exit", (code) => {
      if (outcome?.type === "done") resolve();
      else if (outcome?.type === "error") {
        const err = outcome.user ? new UserError(outcome.message) : new Error(outcome.message);
        if (!outcome.user && outcome.stack) err.stack = outcome.stack;
        reject(err);
      } else reject(new Error(`a demo lane's worker exited with code ${code} before finishing its ${job.kind} job`));
    });
  });
}
