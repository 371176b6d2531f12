// The heavy work a demo stage hands to a lane: a training run or one method's generation. A job is plain data (it
// crosses a worker-thread boundary); what it reports while it runs comes back as LaneEvents.
import type { PersonalRecord } from "../data/index.ts";
import type { RunOptions } from "../train/run.ts";
import type { MethodGeneration } from "./generate.ts";
import type { StepInfo } from "../train/progress.ts";

/** runTraining's options without the callbacks (the lane supplies the reporter). */
export type TrainJobOptions = Omit<RunOptions, "reporter" | "onStage" | "reward">;

export type LaneJob =
  | { kind: "train"; options: TrainJobOptions }
  | { kind: "generate"; file: string; records: PersonalRecord[]; generation: MethodGeneration };

/** What a running job reports: the trainer's reporter calls, and generation progress (records done of the job's). */
export type LaneEvent =
  | { type: "train-start"; total: number; done: number }
  | { type: "train-step"; info: StepInfo }
  | { type: "train-log"; line: string }
  | { type: "train-stop" }
  | { type: "progress"; done: number; info?: string };

/** The end of a job as the worker posts it. */
export type LaneOutcome = { type: "done" } | { type: "error"; message: string; user: boolean; stack?: string };
