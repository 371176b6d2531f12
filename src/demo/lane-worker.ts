// A demo lane's worker thread: runs the one job in workerData and posts its events, then its outcome.
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../util/errors.ts";
import type { LaneJob, LaneOutcome } from "./lane-jobs.ts";
import { runLaneJob } from "./lane-run.ts";

const port = parentPort!;
let outcome: LaneOutcome;
try {
  await runLaneJob(workerData as LaneJob, (e) => port.postMessage(e));
  outcome = { type: "done" };
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  outcome = { type: "error", message: err.message, user: err instanceof UserError, ...(err.stack ? { stack: err.stack } : {}) };
}
port.postMessage(outcome);
