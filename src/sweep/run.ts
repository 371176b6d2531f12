// An ablation sweep: one FlyThinker training per grid point (and one SFT reference run per seed and history size),
// each point's test predictions generated with the common sampler and seed, then one report with a row per point.
// Every point lives in OUT/<point>/: model/ (the trained folder), predictions.jsonl, and last point.json, the marker
// of a finished point holding the hash of its settings. A rerun reuses every finished point whose hash is unchanged;
// an unfinished one continues from its newest training checkpoint (or starts again when it has none), so a killed
// sweep picks up where it stopped.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { readDatasetSplits, type PersonalRecord } from "../data/index.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import type { DecodeMode } from "../flythinker/decode.ts";
import type { FusionOptions } from "../flythinker/fusion.ts";
import { referenceLengthMinimum } from "../flythinker/generate-records.ts";
import { FlyThinker } from "../flythinker/model.ts";
import { MANIFEST_FILE } from "../flythinker/trained-folder.ts";
import { presetConfig } from "../model/config.ts";
import { readConfig } from "../model/config.ts";
import { saveCheckpoint } from "../model/checkpoint.ts";
import { initWeights } from "../model/init.ts";
import { listCheckpoints, removeDir } from "../train/checkpoint.ts";
import type { Reporter } from "../train/progress.ts";
import { runTraining } from "../train/run.ts";
import type { TrainConfig } from "../train/trainer.ts";
import type { PredictionRecord } from "../eval/io.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { UserError } from "../util/errors.ts";
import { gridPoints, pointName, valueAt, type GridAxis, type GridPoint } from "./grid.ts";

export interface SweepGeneration {
  maxNewTokens: number;
  /**
   * "reference": each text runs to at least min(maxNewTokens, its reference's token count) before a stop id may end
   * it (the demo's rule, so the points' texts are as long as the main study's).
   */
  minNewTokens?: "reference";
  /** Record i is sampled with seed + i, the same for every point. */
  seed: number;
  split: string;
  mode?: DecodeMode;
  batch?: number;
  temperature?: number;
  topP?: number;
}

export interface SweepOptions {
  generator: string;
  /** The Reasoner of points whose grid has no `reasoner` key. */
  reasoner?: string;
  /** A dataset folder (train, val and the generation split). */
  data: string;
  out: string;
  /** Training settings of every run (the method is set per run). */
  config: TrainConfig;
  /** Fusion settings the grid's lambda / enhance / fuse override. */
  fusion: FusionOptions;
  prompt: PromptBuildOptions;
  grid: readonly GridAxis[];
  generation: SweepGeneration;
  checkpointEvery?: number;
  threads?: number;
  reporter?: Reporter;
  log?: (line: string) => void;
  /** Called when a point (or reference run) is finished or reused; a sweep stopped here resumes on the next run. */
  onPoint?: (name: string, reused: boolean) => void | Promise<void>;
}

export interface SweepRun {
  /** Folder name under OUT: the point's name, or "sft" (+ its seed / history size) for a reference run. */
  name: string;
  point: GridPoint;
  method: "flythinker" | "sft";
  /** The SFT reference run this point is compared with. */
  reference?: string;
  dir: string;
  predictions: PredictionRecord[];
  reused: boolean;
}

interface RunSettings {
  method: "flythinker" | "sft";
  generator: string;
  reasoner: string | null;
  data: string;
  config: TrainConfig;
  fusion: FusionOptions;
  prompt: PromptBuildOptions;
  generation: SweepGeneration;
}

const MARKER = "point.json";

function hashOf(settings: RunSettings): string {
  const sorted = (v: unknown): unknown =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])]))
      : Array.isArray(v) ? v.map(sorted) : v;
  return createHash("sha256").update(JSON.stringify(sorted(settings))).digest("hex");
}

/** A Reasoner folder for a grid value: a folder as given, or a preset with random weights and the Generator's tokenizer. */
function reasonerFolder(value: string, o: SweepOptions): string {
  if (existsSync(join(value, "config.json"))) return value;
  const dir = join(o.out, "reasoners", value);
  if (existsSync(join(dir, "config.json"))) return dir;
  const g = readConfig(join(o.generator, "config.json"));
  let preset;
  try {
    preset = presetConfig(value);
  } catch (e) {
    throw new UserError(`--grid reasoner=${value}: neither a model folder nor a preset (${(e as Error).message})`);
  }
  const config = { ...preset, vocabSize: g.vocabSize, bosTokenId: g.bosTokenId, eosTokenId: g.eosTokenId, tieWordEmbeddings: preset.tieWordEmbeddings };
  saveCheckpoint(dir, config, initWeights(config, { seed: 1 }), { tokenizerFrom: o.generator });
  return dir;
}

function settingsOf(point: GridPoint, method: "flythinker" | "sft", o: SweepOptions): RunSettings {
  const lambda = valueAt(point, "lambda");
  const enhance = valueAt(point, "enhance") as FusionOptions["enhance"] | undefined;
  const fuse = valueAt(point, "fuse") as FusionOptions["fuse"] | undefined;
  const seed = valueAt(point, "seed");
  const historyK = valueAt(point, "history-k");
  const reasonerValue = valueAt(point, "reasoner");
  const reasoner = method === "sft" ? null : reasonerValue !== undefined ? reasonerFolder(reasonerValue, o) : o.reasoner ?? null;
  if (method === "flythinker" && reasoner === null) throw new UserError("sweep: FlyThinker points need --reasoner DIR or a --grid reasoner=... key");
  return {
    method,
    generator: o.generator,
    reasoner,
    data: o.data,
    config: { ...o.config, method, seed: seed !== undefined ? Number(seed) : o.config.seed },
    fusion: method === "sft" ? o.fusion : { lambda: lambda !== undefined ? Number(lambda) : o.fusion.lambda, enhance: enhance ?? o.fusion.enhance, fuse: fuse ?? o.fusion.fuse },
    prompt: historyK !== undefined ? { ...o.prompt, historyK: Number(historyK) } : o.prompt,
    generation: o.generation,
  };
}

function readPredictions(file: string): PredictionRecord[] {
  return readFileSync(file, "utf8").split("\n").filter((l) => l.trim() !== "").map((l, i) => ({ ...(JSON.parse(l) as PredictionRecord), line: i + 1 }));
}

/** Trains (or continues) one run and generates its predictions; reuses it when its marker matches. */
async function runOne(name: string, point: GridPoint, settings: RunSettings, records: readonly PersonalRecord[], o: SweepOptions): Promise<SweepRun & { hash: string }> {
  const log = o.log ?? (() => {});
  const dir = join(o.out, name);
  const modelDir = join(dir, "model");
  const predFile = join(dir, "predictions.jsonl");
  const hash = hashOf(settings);
  const base = { name, point, method: settings.method, dir, hash };
  const marker = existsSync(join(dir, MARKER)) ? (JSON.parse(readFileSync(join(dir, MARKER), "utf8")) as { hash?: string }) : undefined;
  if (marker?.hash === hash && existsSync(predFile)) {
    log(`${name}: finished before, reused`);
    return { ...base, predictions: readPredictions(predFile), reused: true };
  }
  if (marker && marker.hash !== hash) {
    log(`${name}: settings changed, trained again`);
    removeDir(dir);
  }
  if (!existsSync(join(modelDir, MANIFEST_FILE))) {
    const checkpoints = existsSync(join(modelDir, "checkpoints")) ? listCheckpoints(join(modelDir, "checkpoints")) : [];
    const resume = checkpoints.length > 0;
    if (!resume && existsSync(modelDir) && readdirSync(modelDir).length > 0) removeDir(modelDir);
    log(`${name}: training (${settings.method}${resume ? `, resumed at step ${checkpoints[checkpoints.length - 1]!.step}` : ""})`);
    await runTraining({
      generator: settings.generator,
      reasoner: settings.reasoner ?? undefined,
      data: settings.data,
      out: modelDir,
      config: settings.config,
      fusion: settings.fusion,
      prompt: settings.prompt,
      cadence: { checkpointEvery: o.checkpointEvery ?? 0, evalEvery: 0 },
      threads: o.threads,
      reporter: o.reporter,
      resume,
    });
  }
  log(`${name}: generating ${records.length} ${settings.generation.split} records`);
  const model = FlyThinker.load(modelDir);
  const lines: string[] = [];
  const predictions: PredictionRecord[] = [];
  const g = settings.generation;
  for await (const p of model.predict(records, {
    maxNewTokens: g.maxNewTokens,
    seed: g.seed,
    mode: g.mode ?? "parallel",
    batch: g.batch ?? 8,
    ...(g.minNewTokens === "reference" ? { minNewTokens: referenceLengthMinimum(model.tokenizer, g.maxNewTokens) } : {}),
    ...(g.temperature !== undefined ? { temperature: g.temperature } : {}),
    ...(g.topP !== undefined ? { topP: g.topP } : {}),
  })) {
    const rec = { id: p.id, user: p.user, prediction: p.prediction, reference: p.reference, history: p.history };
    lines.push(JSON.stringify(rec));
    predictions.push({ ...rec, line: predictions.length + 1 });
  }
  atomicWriteBytes(predFile, lines.join("\n") + "\n");
  atomicWriteBytes(join(dir, MARKER), JSON.stringify({ name, hash, settings, point: Object.fromEntries(point) }, null, 2) + "\n");
  return { ...base, predictions, reused: false };
}

/** Runs every point of the grid (and the SFT references), reusing finished ones. */
export async function runSweep(o: SweepOptions): Promise<SweepRun[]> {
  const { splits } = await readDatasetSplits(o.data, { strict: true });
  const records = (splits as Record<string, PersonalRecord[] | undefined>)[o.generation.split];
  if (!records || records.length === 0) throw new UserError(`${o.data}: no records of split "${o.generation.split}" to generate for`);
  const runs: SweepRun[] = [];
  const refs = new Map<string, SweepRun>();
  for (const point of gridPoints(o.grid)) {
    // The SFT reference of this point: same seed and history size (the keys that also shape an SFT run).
    const refPoint = point.filter(([k]) => k === "seed" || k === "history-k");
    const refName = ["sft", ...refPoint.map(([k, v]) => `${k}=${v}`)].join(",");
    if (!refs.has(refName)) {
      const r = await runOne(refName, refPoint, settingsOf(refPoint, "sft", o), records, o);
      refs.set(refName, r);
      runs.push(r);
      await o.onPoint?.(refName, r.reused);
    }
    const name = pointName(point);
    const r = await runOne(name, point, settingsOf(point, "flythinker", o), records, o);
    runs.push({ ...r, reference: refName });
    await o.onPoint?.(name, r.reused);
  }
  return runs;
}
