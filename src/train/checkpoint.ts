// Training checkpoints: everything needed to continue a run exactly where it stopped. One folder per checkpoint,
// `checkpoints/step-00000120/`, holding
//   state.safetensors  trained parameters ("param:<input name>") and AdamW moments ("m:<name>", "v:<name>"), float32
//   trainer.json       step counters, data position (epoch, batch cursor, the epoch's batch order), RNG state,
//                      training config, model configs, data fingerprint
//   metrics.jsonl      the metrics log up to this step
// Each folder is written under a hidden temporary name and renamed into place, so a folder named step-* is always
// complete; a run killed at any moment leaves at worst a hidden temporary folder, which the next run removes. Old
// checkpoints are renamed to a hidden name before they are deleted, for the same reason.
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { atomicWriteBytes, atomicWriteDir } from "../util/files.ts";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "../model/safetensors.ts";
import type { RngState } from "../util/random.ts";
import { UserError } from "../util/errors.ts";
import type { CheckpointHealth } from "./health.ts";

export const CHECKPOINT_VERSION = 1;
const STEP_DIR = /^step-(\d{8})$/;

export interface TrainerState {
  version: number;
  /** Completed optimiser steps. */
  step: number;
  /** AdamW's step counter (equals `step` unless updates were skipped). */
  adamStep: number;
  /** Current epoch (0-based), the next batch of its plan, and the plan (example indices per batch). */
  epoch: number;
  cursor: number;
  plan: number[][];
  rng: RngState;
  /** The training configuration (compared on resume). */
  config: Record<string, unknown>;
  /** Model configs and fusion options (compared on resume). */
  models: Record<string, unknown>;
  /** sha256 over the tokenised training and validation examples. */
  dataFingerprint: string;
  trainExamples: number;
  /** Names of the trained parameters, in order. */
  trainable: string[];
  /** Free-form facts (input folders, ...). */
  meta: Record<string, unknown>;
  /** The weights' state, for choosing a good checkpoint after a divergence (health.ts; absent in older ones). */
  health?: CheckpointHealth;
}

export interface TrainingCheckpoint {
  dir: string;
  state: TrainerState;
  params: Map<string, Float32Array>;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
  /** metrics.jsonl as it was at this step. */
  metrics: string;
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}`;
}

/** Writes checkpoint `state.step` into `root` (atomically); returns its folder. */
export function saveTrainingCheckpoint(
  root: string,
  state: TrainerState,
  tensors: { params: ReadonlyMap<string, Float32Array>; m: ReadonlyMap<string, Float32Array>; v: ReadonlyMap<string, Float32Array> },
  metrics: string,
): string {
  const dir = join(root, checkpointName(state.step));
  const out = new Map<string, TensorToWrite>();
  for (const name of state.trainable) {
    for (const [prefix, map] of [["param", tensors.params], ["m", tensors.m], ["v", tensors.v]] as const) {
      const data = map.get(name);
      if (!data) throw new Error(`checkpoint: no ${prefix} tensor for ${name}`);
      out.set(`${prefix}:${name}`, { shape: [data.length], data });
    }
  }
  atomicWriteDir(
    dir,
    (tmp) => {
      writeSafetensors(join(tmp, "state.safetensors"), out, { metadata: { format: "flythinker-train" } });
      atomicWriteBytes(join(tmp, "metrics.jsonl"), metrics);
      // Written last: its presence marks a complete folder even if a file system reorders the renames.
      atomicWriteBytes(join(tmp, "trainer.json"), JSON.stringify(state) + "\n");
    },
    true,
  );
  return dir;
}

/** Bytes a checkpoint of these trained tensors takes on disk (parameters and both AdamW moments, float32). */
export function checkpointBytes(params: Iterable<Float32Array>): number {
  let n = 0;
  for (const p of params) n += p.length;
  return 3 * 4 * n;
}

/**
 * The error to show when a checkpoint could not be written: on a full disk, the folder and the bytes one checkpoint
 * needs (a run holds up to --keep-checkpoints of them plus the one being written); other write errors name the folder.
 */
export function checkpointWriteError(root: string, err: unknown, bytes: number): Error {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOSPC") {
    return new UserError(
      `no space left on the device of ${root} to write a checkpoint: each needs about ${bytes.toLocaleString("en-US")} bytes, and the ` +
        `run holds the newest --keep-checkpoints (default 2) plus the one being written; free space or pass --keep-checkpoints 1`,
    );
  }
  if (e.code === "EROFS" || e.code === "EACCES" || e.code === "EPERM") return new UserError(`cannot write checkpoints in ${root} (${e.code})`);
  return e instanceof Error ? e : new Error(String(err));
}

/** Checkpoint folders in `root`, oldest first (complete ones only: hidden temporary folders are skipped). */
export function listCheckpoints(root: string): { step: number; dir: string }[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ m: STEP_DIR.exec(name), name }))
    .filter((e) => e.m && existsSync(join(root, e.name, "trainer.json")))
    .map((e) => ({ step: Number(e.m![1]), dir: join(root, e.name) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * Removes a folder so that no partly deleted copy is ever visible under its name: it is first renamed to a hidden
 * name (atomic), then deleted; a kill during the deletion leaves only a hidden folder.
 */
export function removeDir(dir: string): void {
  if (!existsSync(dir)) return;
  const hidden = join(dirname(dir), `.${basename(dir)}.removing-${process.pid}-${randomBytes(4).toString("hex")}`);
  renameSync(dir, hidden);
  rmSync(hidden, { recursive: true, force: true });
}

/** Removes temporary folders left by a killed run, and all but the newest `keep` checkpoints and `protect`. */
export function pruneCheckpoints(root: string, keep: number, protect?: string | null): void {
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (name.startsWith(".")) rmSync(join(root, name), { recursive: true, force: true });
  }
  const all = listCheckpoints(root);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) if (c.dir !== protect) removeDir(c.dir);
}

/** Reads a checkpoint folder; throws a UserError naming the file when anything is missing or inconsistent. */
export function loadTrainingCheckpoint(dir: string): TrainingCheckpoint {
  const stateFile = join(dir, "trainer.json");
  let state: TrainerState;
  try {
    state = JSON.parse(readFileSync(stateFile, "utf8")) as TrainerState;
  } catch (e) {
    throw new UserError(`${stateFile}: cannot read the training state (${(e as Error).message})`);
  }
  if (state.version !== CHECKPOINT_VERSION) {
    throw new UserError(`${stateFile}: checkpoint version ${state.version}, this program reads version ${CHECKPOINT_VERSION}`);
  }
  const file = join(dir, "state.safetensors");
  const loaded = readSafetensors(file);
  const take = (prefix: string): Map<string, Float32Array> => {
    const m = new Map<string, Float32Array>();
    for (const name of state.trainable) {
      const t = loaded.tensors.get(`${prefix}:${name}`);
      if (!t) throw new UserError(`${file}: missing tensor "${prefix}:${name}"`);
      m.set(name, t.data);
    }
    return m;
  };
  const metricsFile = join(dir, "metrics.jsonl");
  const metrics = existsSync(metricsFile) ? readFileSync(metricsFile, "utf8") : "";
  return { dir, state, params: take("param"), m: take("m"), v: take("v"), metrics };
}
