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
  /** Called when the job leaves the queue and starts. */
  onStart?: () => void;
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
  private readonly waiting: { priority: number; start: () => void; stop: (e: Error) => void }[] = [];
  private readonly workers = new Set<Worker>();
  private stopped: Error | undefined;

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
      if (this.stopped) throw this.stopped;
      sink.onStart?.();
      if (this.count === 1) await runLaneJob(job, (e) => deliver(e, sink));
      else await runInWorker(job, sink, this.workers);
    } finally {
      this.release();
    }
  }

  /**
   * Stops every running worker and refuses the waiting jobs (after one job failed: the run ends without waiting for
   * the others). Jobs running in this thread finish.
   */
  async stop(reason: Error): Promise<void> {
    this.stopped = reason;
    for (const w of this.waiting.splice(0)) w.stop(reason);
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }

  private acquire(priority: number): Promise<void> {
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.running < this.count) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((start, stop) => {
      // after every waiting job of the same or a higher priority
      let i = this.waiting.findIndex((w) => w.priority < priority);
      if (i < 0) i = this.waiting.length;
      this.waiting.splice(i, 0, { priority, start, stop });
    });
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next.start();
    else this.running--;
  }
}

function runInWorker(job: LaneJob, sink: LaneSink, running: Set<Worker>): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./lane-worker-entry.js", import.meta.url), { workerData: job });
    running.add(worker);
    let outcome: LaneOutcome | undefined;
    worker.on("message", (m: LaneEvent | LaneOutcome) => {
      if (m.type === "done" || m.type === "error") outcome = m;
      else deliver(m, sink);
    });
    worker.once("error", (e) => reject(e));
    worker.once("exit", (code) => {
      running.delete(worker);
      if (outcome?.type === "done") resolve();
      else if (outcome?.type === "error") {
        const err = outcome.user ? new UserError(outcome.message) : new Error(outcome.message);
        if (!outcome.user && outcome.stack) err.stack = outcome.stack;
        reject(err);
      } else reject(new Error(`a demo lane's worker exited with code ${code} before finishing its ${job.kind} job`));
    });
  });
}
