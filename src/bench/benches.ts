// Every benchmark of `flythinker bench`, in one explicit list (BENCHES): each entry names the bench, its options
// (as command-line flags) and how to run and print it. `bench all` runs them in this order.
import { UserError } from "../util/errors.ts";
import { PRESET_NAMES } from "../model/config.ts";
import { QUANTIZE_MODES, type QuantizeMode } from "../model/quantize.ts";
import { runEngineBench, engineTable, DEFAULT_ENGINE_STEPS, type EngineBenchResult } from "./engine.ts";
import { type DecodeBenchResult, decodeBenchTable, runDecodeBench } from "./decode.ts";
import { benchFlyThinkerDecode, flyThinkerDecodeTable, type FlyThinkerDecodeBench } from "./flythinker-decode.ts";
import { benchCosDecode, cosDecodeTable, type CosDecodeBench } from "./cos-decode.ts";
import { parseBaselineKind } from "../baselines/index.ts";
import { DEFAULT_TRAIN_BENCH_STEPS, type TrainBenchResult, runTrainBench, trainBenchTable } from "./train.ts";
import { type NextQuillBenchResult, nextQuillBenchTable, runNextQuillBench } from "./nextquill-train.ts";
import {
  MEMORY_CASES,
  type TrainMemoryResult,
  parseMemoryCases,
  runTrainMemoryCase,
  runTrainMemoryCases,
  trainMemoryTable,
} from "./train-memory.ts";
import { METHODS_BENCH_DEFAULTS, type MethodsBenchResult, methodsBenchTable, runMethodsBench } from "./methods.ts";
import { DEFAULT_SERVE_CLIENTS, type ServeBenchResult, runServeBench, serveBenchTable } from "./serve.ts";

export interface BenchOption {
  /** Command-line flags, e.g. "--steps <n>". */
  flags: string;
  description: string;
  default?: string;
}

/** A benchmark: `run` gets the parsed options (strings as given) and returns a JSON-able result. */
export interface Bench<R = unknown> {
  name: string;
  description: string;
  options?: BenchOption[];
  run(options: Record<string, unknown>, log: (line: string) => void): Promise<R>;
  /** Human-readable rendering of a result (the output without --json). */
  table(result: R): string;
  /** Left out of `bench all` (a part that another bench runs itself). */
  notInAll?: boolean;
}

/** A positive integer option value. */
export function positiveInt(value: unknown, flag: string, min = 1): number {
  const s = String(value).trim();
  if (!/^\d+$/.test(s) || Number(s) < min) throw new UserError(`${flag} must be an integer >= ${min}, got "${String(value)}"`);
  return Number(s);
}

export const engineBench: Bench<EngineBenchResult> = {
  name: "engine",
  description: "Engine speed: sgemm 1024^3, the reference model's training step (median), MFU, RSS over the steps",
  options: [
    { flags: "--threads <n>", description: "intra-op threads (default: all cores)" },
    { flags: "--steps <n>", description: "training steps to run; RSS is read after step 50 and after the last (e.g. 1000)", default: String(DEFAULT_ENGINE_STEPS) },
    { flags: "--preset <name>", description: "model preset of the training step", default: "reference" },
    { flags: "--batch <n>", description: "sequences per training step", default: "4" },
    { flags: "--seq <n>", description: "tokens per sequence", default: "256" },
  ],
  run: (o, log) =>
    runEngineBench({
      threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"),
      steps: positiveInt(o.steps, "--steps", 7),
      preset: String(o.preset),
      batch: positiveInt(o.batch, "--batch"),
      seq: positiveInt(o.seq, "--seq"),
      log,
    }),
  table: engineTable,
};

/** `--quantize int4,int8` -> the modes, each checked. */
function quantizeModes(value: string): QuantizeMode[] {
  return value.split(",").map((m) => {
    const mode = m.trim();
    if (!(QUANTIZE_MODES as readonly string[]).includes(mode)) throw new UserError(`--quantize must list ${QUANTIZE_MODES.join(" and/or ")}, got "${value}"`);
    return mode as QuantizeMode;
  });
}

/** `bench decode --pair --quantize int4`: one mode. */
function oneQuantizeMode(value: string): QuantizeMode {
  const modes = quantizeModes(value);
  if (modes.length !== 1) throw new UserError(`bench decode --pair takes one --quantize mode (${QUANTIZE_MODES.join(" or ")}), got "${value}"`);
  return modes[0]!;
}

/** `bench decode --baseline cos`: the options as given (defaults of the CoS bench where absent). */
async function runCosDecode(o: Record<string, unknown>, log: (line: string) => void): Promise<CosDecodeBench> {
  const kind = parseBaselineKind(String(o.baseline));
  if (kind !== "cos") throw new UserError(`bench decode --baseline compares cos with rag; got "${kind}"`);
  return benchCosDecode({
    threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"),
    promptTokens: positiveInt(o.promptTokens ?? "192", "--prompt-tokens", 2),
    newTokens: positiveInt(o.newTokens ?? "64", "--new-tokens", 2),
    runs: positiveInt(o.runs ?? "9", "--runs"),
    log,
  });
}

export const decodeBench: Bench<DecodeBenchResult | FlyThinkerDecodeBench | CosDecodeBench> = {
  name: "decode",
  description:
    "KV-cache decoding of a random model (batch 1): prefill tokens/s, ms/token, and the bound weights / copy bandwidth; " +
    "with --flythinker: SFT vs FlyThinker sequential vs parallel ms/token; with --baseline cos: CoS vs RAG ms/token",
  options: [
    { flags: "--preset <name>", description: `model shape: ${PRESET_NAMES.join(" | ")}`, default: "qwen2.5-0.5b-shape" },
    { flags: "--threads <n>", description: "ONNX Runtime threads (default: all cores)" },
    { flags: "--prompt-tokens <n>", description: "prompt length of each prefill (default 64; 192 with --baseline cos)" },
    { flags: "--new-tokens <n>", description: "tokens decoded per run (default 16; 64 with --flythinker or --baseline cos)" },
    { flags: "--runs <n>", description: "runs (prefill + decode each; default 3, 9 with --flythinker or --baseline cos)" },
    { flags: "--flythinker", description: "FlyThinker decoding: Generator = reference model, Reasoner = half its width" },
    {
      flags: "--pair",
      description: "the same FlyThinker comparison with the Generator at --preset's shape and random weights, --quantize'd to one of int4, int8 (default float32)",
    },
    { flags: "--baseline <kind>", description: "cos: CoS (2 tied rows) vs RAG (1 row) per token on the reference model, JSON key ratio" },
    { flags: "--quantize <modes>", description: "also decode the same weights quantized: int4, int8 or int4,int8 (same run, same prompts; `ratio` = float32 ms / quantized ms)" },
  ],
  run: (o, log) =>
    o.baseline !== undefined
      ? runCosDecode(o, log)
      : o.pair
      ? benchFlyThinkerDecode({
          preset: String(o.preset ?? "qwen2.5-0.5b-shape"),
          ...(o.quantize !== undefined ? { quantize: oneQuantizeMode(String(o.quantize)) } : {}),
          promptTokens: positiveInt(o.promptTokens ?? "64", "--prompt-tokens"),
          newTokens: positiveInt(o.newTokens ?? "16", "--new-tokens", 2),
          runs: positiveInt(o.runs ?? "3", "--runs"),
          interferenceRounds: 3,
          log,
        })
      : o.flythinker
      ? benchFlyThinkerDecode({
          promptTokens: positiveInt(o.promptTokens ?? "64", "--prompt-tokens"),
          newTokens: positiveInt(o.newTokens ?? "64", "--new-tokens", 2),
          runs: positiveInt(o.runs ?? "9", "--runs"),
          log,
        })
      : runDecodeBench({
          preset: String(o.preset ?? "qwen2.5-0.5b-shape"),
          threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"),
          promptTokens: positiveInt(o.promptTokens ?? "64", "--prompt-tokens"),
          newTokens: positiveInt(o.newTokens ?? "16", "--new-tokens"),
          runs: positiveInt(o.runs ?? "3", "--runs"),
          ...(o.quantize !== undefined ? { quantize: quantizeModes(String(o.quantize)) } : {}),
          log,
        }),
  table: (r) => ("parallel_ms_per_token" in r ? flyThinkerDecodeTable(r) : "cos_ms_per_token" in r ? cosDecodeTable(r) : decodeBenchTable(r)),
};

/** `bench all` runs CoS decoding as its own entry (the same as `bench decode --baseline cos`). */
export const cosDecodeBench: Bench<CosDecodeBench> = {
  name: "cos-decode",
  description: "the same as `bench decode --baseline cos`",
  run: (_o, log) => benchCosDecode({ log }),
  table: cosDecodeTable,
};

/** `bench all` runs FlyThinker decoding as its own entry (the same as `bench decode --flythinker`). */
export const flyThinkerDecodeBench: Bench<FlyThinkerDecodeBench> = {
  name: "flythinker-decode",
  description: "the same as `bench decode --flythinker`",
  run: (_o, log) => benchFlyThinkerDecode({ log }),
  table: flyThinkerDecodeTable,
};

export const trainBench: Bench<(TrainBenchResult & { memory: TrainMemoryResult[] }) | NextQuillBenchResult> = {
  name: "train",
  description:
    "FlyThinker vs SFT training step (reference Generator, half-width Reasoner, 4 x 256 tokens): medians, ratio, allowed ratio; " +
    "peak memory of steps at Qwen's vocabulary size (each case in its own process); with --method nextquill: NextQuill vs SFT step",
  options: [
    { flags: "--threads <n>", description: "ONNX Runtime threads (default: all cores)" },
    { flags: "--steps <n>", description: "steps of each kind, the first 2 untimed (>= 7)", default: String(DEFAULT_TRAIN_BENCH_STEPS) },
    { flags: "--memory-cases <list>", description: `comma-separated: ${MEMORY_CASES.join(", ")}, or none`, default: MEMORY_CASES.join(",") },
    { flags: "--method <name>", description: "the step compared with SFT's: flythinker | nextquill", default: "flythinker" },
  ],
  run: async (o, log) => {
    const threads = o.threads === undefined ? undefined : positiveInt(o.threads, "--threads");
    const steps = positiveInt(o.steps ?? String(DEFAULT_TRAIN_BENCH_STEPS), "--steps", 7);
    const method = String(o.method ?? "flythinker");
    if (method === "nextquill") return runNextQuillBench({ threads, steps, log });
    if (method !== "flythinker") throw new UserError(`--method must be flythinker or nextquill, got "${method}"`);
    const cases = parseMemoryCases(String(o.memoryCases ?? MEMORY_CASES.join(",")));
    const speed = await runTrainBench({ threads, steps, log });
    return { ...speed, memory: await runTrainMemoryCases(cases, { threads, log }) };
  },
  table: (r) => ("nextquill_step_ms" in r ? nextQuillBenchTable(r) : [trainBenchTable(r), ...r.memory.map(trainMemoryTable)].join("\n")),
};

/** One memory case of `bench train` (run by it in a child process, so the peak RSS is the case's own). */
export const trainMemoryBench: Bench<TrainMemoryResult> = {
  name: "train-memory",
  description: "peak resident memory and step time of one training case at Qwen's vocabulary size",
  options: [
    { flags: "--case <name>", description: MEMORY_CASES.join(" | "), default: MEMORY_CASES[0] },
    { flags: "--threads <n>", description: "ONNX Runtime threads (default: all cores)" },
  ],
  run: (o, log) => {
    const [name] = parseMemoryCases(String(o.case));
    if (!name) throw new UserError("--case needs a case name");
    return runTrainMemoryCase(name, { threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"), log });
  },
  table: trainMemoryTable,
  notInAll: true,
};

/** Every bench, in the order `bench all` runs them. A new bench is added here and nowhere else. */
/** A comma-separated list of positive integers. */
function intList(value: unknown, flag: string): number[] {
  const parts = String(value).split(",");
  return parts.map((p) => positiveInt(p, flag));
}

export const serveBench: Bench<ServeBenchResult> = {
  name: "serve",
  description:
    "Serving a demo-size FlyThinker pair over HTTP (continuous batching): aggregate tokens/s and p50/p99 time to first " +
    "token and inter-token latency at 1, 4, 8 and 16 concurrent streams; ratio = tokens/s at 8 over 1",
  options: [
    { flags: "--clients <list>", description: "concurrent streaming clients per level, comma-separated", default: DEFAULT_SERVE_CLIENTS.join(",") },
    { flags: "--new-tokens <n>", description: "tokens streamed per request", default: "64" },
    { flags: "--rounds <n>", description: "rounds per level (median of the aggregate rate)", default: "3" },
  ],
  run: (o, log) =>
    runServeBench({
      clients: intList(o.clients, "--clients"),
      newTokens: positiveInt(o.newTokens, "--new-tokens"),
      rounds: positiveInt(o.rounds, "--rounds"),
      log,
    }),
  table: serveBenchTable,
};

export const methodsBench: Bench<MethodsBenchResult> = {
  name: "methods",
  description:
    "The paper's efficiency comparison (Fig. 3, Table 8): one training epoch of SFT, LLM-TRSR, NextQuill, CoT, Coconut and " +
    "FlyThinker (steps per epoch x median step), and batch-1 latency at a fixed output length of every method, each as a " +
    "ratio to SFT from the same run beside its Table 8 expectation",
  options: [
    { flags: "--data <dir>", description: "dataset folder with train and test splits (default: the mail task, built for the run)" },
    { flags: "--generator <dir>", description: "base Generator every method starts from (default: bases/generator)" },
    { flags: "--reasoner <dir>", description: "base Reasoner of FlyThinker (default: bases/reasoner)" },
    { flags: "--threads <n>", description: "ONNX Runtime threads (default: all cores)" },
    { flags: "--train-records <n>", description: "train on this many training records (spread over the split) instead of all" },
    { flags: "--steps <n>", description: "timed training steps per method (Coconut: per stage), after 3 untimed", default: String(METHODS_BENCH_DEFAULTS.steps) },
    { flags: "--records <n>", description: "test records decoded per method and round, after 1 untimed", default: String(METHODS_BENCH_DEFAULTS.records) },
    { flags: "--answer-tokens <n>", description: "N1: answer tokens every sample decodes (the stop id is suppressed until then)", default: String(METHODS_BENCH_DEFAULTS.answerTokens) },
    { flags: "--rounds <n>", description: "rounds over the methods (alternating order)", default: String(METHODS_BENCH_DEFAULTS.rounds) },
    { flags: "--svg <file>", description: "write the figure (training and inference ratios to SFT, with Table 8's) here" },
    { flags: "--work <dir>", description: "keep the training runs in this folder (default: a temporary one, removed)" },
  ],
  run: (o, log) =>
    runMethodsBench({
      ...(o.data !== undefined ? { data: String(o.data) } : {}),
      ...(o.generator !== undefined ? { generator: String(o.generator) } : {}),
      ...(o.reasoner !== undefined ? { reasoner: String(o.reasoner) } : {}),
      ...(o.work !== undefined ? { work: String(o.work) } : {}),
      ...(o.svg !== undefined ? { svg: String(o.svg) } : {}),
      ...(o.trainRecords !== undefined ? { trainRecords: positiveInt(o.trainRecords, "--train-records") } : {}),
      threads: o.threads === undefined ? undefined : positiveInt(o.threads, "--threads"),
      steps: positiveInt(o.steps ?? METHODS_BENCH_DEFAULTS.steps, "--steps", 3),
      records: positiveInt(o.records ?? METHODS_BENCH_DEFAULTS.records, "--records"),
      answerTokens: positiveInt(o.answerTokens ?? METHODS_BENCH_DEFAULTS.answerTokens, "--answer-tokens"),
      rounds: positiveInt(o.rounds ?? METHODS_BENCH_DEFAULTS.rounds, "--rounds"),
      log,
    }),
  table: methodsBenchTable,
};

export const BENCHES: readonly Bench[] = [engineBench, decodeBench, flyThinkerDecodeBench, cosDecodeBench, trainBench, trainMemoryBench, serveBench, methodsBench];
