// Runs one lane job in the current thread, reporting through `emit` (used by the worker, and in-process with one lane).
import { runTraining } from "../train/run.ts";
import { generateMethod } from "./generate.ts";
import type { LaneEvent, LaneJob } from "./lane-jobs.ts";

export async function runLaneJob(job: LaneJob, emit: (e: LaneEvent) => void): Promise<void> {
  if (job.kind === "train") {
    await runTraining({
      ...job.options,
      reporter: {
        start: (total, done) => emit({ type: "train-start", total, done }),
        step: (info) => emit({ type: "train-step", info }),
        log: (line) => emit({ type: "train-log", line }),
        stop: () => emit({ type: "train-stop" }),
      },
    });
    return;
  }
  await generateMethod(job.file, job.records, job.generation, {
    update: (done, info) => emit({ type: "progress", done, ...(info !== undefined ? { info } : {}) }),
    stop() {},
  });
}
