// `bench train` memory cases: the peak resident memory of training steps at real vocabulary sizes, each case in a
// process of its own (so its peak is its own), with its step time.
//   tiny-qwen-vocab   the tiny preset with Qwen's 151,936-row vocabulary, SFT, 4,096 tokens per batch (8 x 512),
//                     default memory options (the fused head in 256 MiB chunks); target <= 3 GB.
//   qwen0.5b-ckpt     the Qwen2.5-0.5B shape, SFT, 1,024 tokens per batch (2 x 512), activation checkpointing;
//                     target <= 12 GB (2 GB weights, 2 GB gradients, 4 GB AdamW moments, the rest activations).
// Steps are fused single-run steps as `flythinker train` runs them; the first ones are warm-up.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { buildLossGraph, weightInputs } from "../flythinker/graph.ts";
import { flattenPair } from "../flythinker/pair-params.ts";
import { DEFAULT_FUSION } from "../flythinker/fusion.ts";
import { type ModelConfig, presetConfig } from "../model/config.ts";
import { initParams } from "../model/init.ts";
import { defaultThreads } from "../runtime/session.ts";
import { makeBatch, type Example } from "../train/batching.ts";
import { createEngine } from "../train/steps.ts";
import { lossGraphMemoryOptions } from "../train/trainer.ts";
import { Rng } from "../util/random.ts";
import { MIB, ResidentMemory } from "../util/memory.ts";
import { median, round } from "./stats.ts";

export const MEMORY_CASES = ["tiny-qwen-vocab", "qwen0.5b-ckpt"] as const;
export type MemoryCase = (typeof MEMORY_CASES)[number];

/** Qwen2 checkpoints' embedding rows. */
export const QWEN_VOCAB_ROWS = 151936;

interface CaseSpec {
  config: ModelConfig;
  rows: number;
  seq: number;
  prompt: number;
  checkpointActivations: boolean;
  warmup: number;
  timed: number;
  targetMb: number;
}

function caseSpec(name: MemoryCase): CaseSpec {
  if (name === "tiny-qwen-vocab") {
    const config = { ...presetConfig("tiny"), vocabSize: QWEN_VOCAB_ROWS };
    return { config, rows: 8, seq: 512, prompt: 128, checkpointActivations: false, warmup: 2, timed: 5, targetMb: 3072 };
  }
  const config = presetConfig("qwen2.5-0.5b-shape");
  return { config, rows: 2, seq: 512, prompt: 128, checkpointActivations: true, warmup: 1, timed: 2, targetMb: 12288 };
}

export interface TrainMemoryResult {
  case: MemoryCase;
  model: string;
  params: number;
  tokens: number;
  head_chunk: number;
  checkpoint_activations: boolean;
  threads: number;
  compile_ms: number;
  step_ms: number;
  steps_timed: number;
  loss_first: number;
  loss_last: number;
  target_rss_mb: number;
  /** This process's peak resident memory (VmHWM) after the steps. */
  peak_rss_mb: number;
}

const resident = new ResidentMemory();
/** This process's peak resident memory so far (VmHWM on Linux), MB. */
function peakRssMb(): number {
  return Math.round(resident.sample().peak / MIB);
}

export async function runTrainMemoryCase(name: MemoryCase, o: { threads?: number; log?: (line: string) => void } = {}): Promise<TrainMemoryResult> {
  const spec = caseSpec(name);
  const threads = o.threads ?? defaultThreads();
  const log = o.log ?? (() => {});
  const { config } = spec;
  const weights = flattenPair({ generator: initParams(config, { seed: 1 }) });
  let params = 0;
  for (const v of weights.values()) params += v.length;
  const tokens = spec.rows * spec.seq;
  const memory = lossGraphMemoryOptions({ checkpointActivations: spec.checkpointActivations }, config.vocabSize, tokens);
  log(`${name}: ${(params / 1e6).toFixed(1)}M parameters, ${tokens} tokens, head chunk ${memory.headChunk}, checkpointing ${memory.checkpointActivations}`);
  let t = performance.now();
  const lg = buildLossGraph({ generator: config, fusion: DEFAULT_FUSION }, memory);
  const engine = await createEngine(lg, weightInputs(lg), weights, { compile: { threads } });
  weights.clear(); // the engine holds the values now
  const compileMs = performance.now() - t;
  const rng = new Rng(5);
  const examples: Example[] = Array.from({ length: spec.rows }, () => ({
    promptIds: Array.from({ length: spec.prompt }, () => rng.int(config.vocabSize)),
    targetIds: Array.from({ length: spec.seq - spec.prompt }, () => rng.int(config.vocabSize)),
  }));
  const batch = makeBatch(examples, examples.map((_, i) => i), {});
  const times: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < spec.warmup + spec.timed; i++) {
    t = performance.now();
    losses.push((await engine.step([batch], 1e-4)).loss);
    times.push(performance.now() - t);
    log(`${name}: step ${i + 1}/${spec.warmup + spec.timed} ${times[i]!.toFixed(0)} ms, loss ${losses[i]!.toFixed(4)}, peak RSS ${peakRssMb()} MB`);
  }
  return {
    case: name,
    model: `${config.hiddenSize} hidden, ${config.numLayers} layers, vocab ${config.vocabSize}`,
    params,
    tokens,
    head_chunk: memory.headChunk,
    checkpoint_activations: memory.checkpointActivations,
    threads,
    compile_ms: round(compileMs, 0),
    step_ms: round(median(times.slice(spec.warmup)), 1),
    steps_timed: spec.timed,
    loss_first: round(losses[0]!, 4),
    loss_last: round(losses[losses.length - 1]!, 4),
    target_rss_mb: spec.targetMb,
    peak_rss_mb: peakRssMb(),
  };
}

/** Runs each case in a child process (`bench train-memory --case NAME --json`) and collects the results. */
export async function runTrainMemoryCases(
  cases: readonly MemoryCase[],
  o: { threads?: number; log?: (line: string) => void } = {},
): Promise<TrainMemoryResult[]> {
  const bin = fileURLToPath(new URL("../../bin/flythinker.js", import.meta.url));
  const out: TrainMemoryResult[] = [];
  for (const name of cases) {
    const args = [bin, "bench", "train-memory", "--case", name, "--json", ...(o.threads ? ["--threads", String(o.threads)] : [])];
    o.log?.(`memory case ${name} (own process)...`);
    const stdout = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
      let text = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (text += d.toString()));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", reject);
      child.on("close", (code, signal) =>
        code === 0 ? resolve(text) : reject(new Error(`memory case ${name} failed (${signal ?? `exit ${code}`}): ${err.trim().split("\n").slice(-3).join(" | ")}`)),
      );
    });
    const line = stdout.trim().split("\n").pop() ?? "";
    out.push(JSON.parse(line) as TrainMemoryResult);
  }
  return out;
}

export function parseMemoryCases(value: string): MemoryCase[] {
  if (value.trim() === "none") return [];
  return value.split(",").map((s) => {
    const name = s.trim();
    if (!(MEMORY_CASES as readonly string[]).includes(name)) {
      throw new RangeError(`memory case must be one of ${MEMORY_CASES.join(", ")} (or none), got "${name}"`);
    }
    return name as MemoryCase;
  });
}

export function trainMemoryTable(r: TrainMemoryResult): string {
  const ok = r.peak_rss_mb <= r.target_rss_mb ? "within" : "OVER";
  return (
    `${r.case}: ${r.model}, ${(r.params / 1e6).toFixed(1)}M parameters, ${r.tokens} tokens, head chunk ${r.head_chunk}, ` +
    `checkpointing ${r.checkpoint_activations ? "on" : "off"}: step ${r.step_ms} ms (median of ${r.steps_timed}), ` +
    `compile ${r.compile_ms} ms, peak RSS ${r.peak_rss_mb} MB (target <= ${r.target_rss_mb}, ${ok})`
  );
}
