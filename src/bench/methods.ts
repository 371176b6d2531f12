// `bench methods`: the paper's efficiency comparison (its Figure 3 and Table 8) on this machine, in one run.
//   Training: every trained method runs the project's own training (the `train` library call) on the same data with the
//   same batch budget and prompt budgets: WARMUP_STEPS untimed steps, then `steps` timed ones. One epoch is
//   steps_per_epoch x the median step time (the graph's compile time is reported apart), tokens/s over the timed steps.
//   Coconut runs its whole curriculum for that many steps per stage and is timed at its last stage.
//   Inference: batch 1, the same test records for every method, a fixed output length: the stop id is suppressed until
//   N1 answer tokens (CoT: N1 + N2, N2 = the training set's mean rationale length, separator included; Coconut: c x stage
//   latent passes, then N1). ms per sample (prefill and latent passes included) and per answer token, medians over the
//   records of every round; rounds alternate the order of the methods so a drifting machine load falls on all of them.
//   Each row's Table 8 expectation (C = forward FLOPs per token, bench/train.ts forwardFlopsPerToken) is printed beside
//   the measured ratio to SFT, and the four checks of the issue are evaluated on this run's numbers.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BaselineKind } from "../baselines/index.ts";
import { prepareEmailDataset } from "../data/build.ts";
import { readDatasetSplits, writeJsonl } from "../data/io.ts";
import type { PersonalRecord } from "../data/record.ts";
import type { PromptBuildOptions } from "../data/prompt-ids.ts";
import type { DecodeMode } from "../flythinker/decode.ts";
import { DEFAULT_FUSION, type FusionOptions } from "../flythinker/fusion.ts";
import { PAPER_SAMPLING, coconutDecodingOf, generateForRecords } from "../flythinker/generate-records.ts";
import type { Method } from "../flythinker/manifest.ts";
import { loadAnyModel } from "../flythinker/model.ts";
import { readConfig } from "../model/config.ts";
import { BASE_FOLDERS, SHIPPED_BASES_DIR } from "../model/shipped-bases.ts";
import { defaultThreads } from "../runtime/session.ts";
import { cotPrompt } from "../train/cot.ts";
import { latentsAt } from "../train/coconut.ts";
import { silentReporter, type Reporter } from "../train/progress.ts";
import { runTraining } from "../train/run.ts";
import { DEFAULT_TRAIN_CONFIG, type EpochShape } from "../train/trainer.ts";
import { UserError } from "../util/errors.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { barChart } from "../util/svg.ts";
import { median, round } from "./stats.ts";
import { forwardFlopsPerToken } from "./train.ts";

/** Untimed steps before the timed ones (each kind of step compiles and warms up there). */
export const WARMUP_STEPS = 3;

export const TRAINING_ROWS = ["sft", "llm-trsr", "nextquill", "cot", "coconut", "flythinker"] as const satisfies readonly Method[];
export const INFERENCE_ROWS = [
  "non-pers",
  "rag",
  "cos",
  "sft",
  "llm-trsr",
  "nextquill",
  "cot",
  "coconut",
  "flythinker-parallel",
  "flythinker-sequential",
] as const;
export type TrainingRowName = (typeof TRAINING_ROWS)[number];
export type InferenceRowName = (typeof INFERENCE_ROWS)[number];

/** The demo's prompt: two BM25-retrieved history items, the demo's token budgets. */
export const BENCH_PROMPT: PromptBuildOptions = { historyK: 2, retrieval: "bm25", budgets: { profile: 256, input: 64, target: 192 } };

export interface MethodsBenchOptions {
  /** A dataset folder with train and test splits (default: the mail task, built in the work folder). */
  data?: string;
  /**
   * Train on this many of the training records (spread over the file) instead of all: one epoch is then an epoch of
   * them. For quick runs; the data loading of six training runs is much of a small bench's time.
   */
  trainRecords?: number;
  /** Base models every method starts from (default: the repository's bases/). */
  generator?: string;
  reasoner?: string;
  /** Where the runs go (default: a temporary folder, removed afterwards). */
  work?: string;
  threads?: number;
  /** Timed training steps per method (Coconut: per stage), after WARMUP_STEPS untimed ones. */
  steps?: number;
  /** Test records decoded per method and round (after one untimed record). */
  records?: number;
  /** N1: answer tokens every sample decodes. */
  answerTokens?: number;
  rounds?: number;
  prompt?: PromptBuildOptions;
  batchTokens?: number;
  /** FlyThinker's fusion (default: the trainer's). */
  fusion?: FusionOptions;
  /** Coconut's curriculum (its last stage has c * maxLatentStage latents). */
  coconut?: { c: number; maxLatentStage: number };
  /** Write the figure here. */
  svg?: string;
  log?: (line: string) => void;
  /** Called as each part starts: a training run (one per method), then a decoding block (one per row and round). */
  onPart?: (label: string) => void;
}

export interface TrainingRow {
  epoch_s: number;
  step_ms: number;
  ratio_to_sft: number;
  /** Table 8 by FLOPs: (tokens per epoch x forward FLOPs per token) over SFT's. */
  expected_ratio: number;
  expectation: string;
  steps_per_epoch: number;
  steps_timed: number;
  tokens_per_epoch: number;
  /** Mean prompt and target tokens of an example (CoT's targets hold the rationale; Coconut's prompts the latents). */
  mean_prompt_tokens: number;
  mean_target_tokens: number;
  tokens_per_s: number;
  compile_s: number;
}

export interface InferenceRow {
  ms_per_sample: number;
  ms_per_answer_token: number;
  ratio_to_sft: number;
  expected_ratio: number;
  expectation: string;
  /** N1, and the tokens decoded or latent passes run before the answer (N2). */
  answer_tokens: number;
  reasoning_tokens: number;
  samples: number;
}

export interface BenchCheck {
  what: string;
  value: number;
  limit: number;
  /** "<=" or ">=": value against limit. */
  op: "<=" | ">=";
  ok: boolean;
}

export interface MethodsBenchResult {
  threads: number;
  generator: string;
  reasoner: string;
  data: string;
  training: Record<TrainingRowName, TrainingRow>;
  inference: Record<InferenceRowName, InferenceRow>;
  /** Forward FLOPs per token at SFT's mean sequence length: Generator with its head, Reasoner without. */
  c_g: number;
  c_r: number;
  checks: BenchCheck[];
  svg?: string;
}

/** Defaults of the options (the command line's too). */
export const METHODS_BENCH_DEFAULTS = { steps: 8, records: 6, answerTokens: 128, rounds: 2, batchTokens: 2048, coconut: { c: 1, maxLatentStage: 2 } };

/** Records spread evenly over the list (its order kept). */
function evenly<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

interface TrainedRun {
  dir: string;
  epoch: EpochShape;
  /** step_ms of the timed steps (Coconut: of its last stage). */
  stepMs: number[];
  tokens: number[];
}

async function timeTraining(
  method: TrainingRowName,
  o: {
    work: string;
    data: string;
    generator: string;
    reasoner: string;
    threads: number;
    steps: number;
    batchTokens: number;
    prompt: PromptBuildOptions;
    fusion: FusionOptions;
    cotDir?: string;
    coconut: { c: number; maxLatentStage: number };
  },
  log: (line: string) => void,
): Promise<TrainedRun> {
  const dir = join(o.work, "train", method);
  const perRun = WARMUP_STEPS + o.steps;
  const reporter: Reporter = { ...silentReporter, log: (l) => log(`  ${method}: ${l}`) };
  const { result } = await runTraining({
    generator: o.generator,
    reasoner: method === "flythinker" ? o.reasoner : undefined,
    data: o.data,
    out: dir,
    config: {
      ...DEFAULT_TRAIN_CONFIG,
      method,
      epochs: 1,
      maxSteps: perRun,
      lr: 5e-4,
      batchTokens: o.batchTokens,
      warmupRatio: 0.05,
      ...(method === "coconut" ? { coconut: { ...o.coconut, init: o.cotDir!, epochsPerStage: 1, finalStage: true } } : {}),
    },
    fusion: o.fusion,
    cadence: { evalEvery: 0, checkpointEvery: 0 },
    prompt: o.prompt,
    threads: o.threads,
    reporter,
  });
  // Coconut: the rows of its last stage (each stage ran perRun steps).
  const stageOf = (row: object) => (row as { stage?: number }).stage ?? 0;
  const lastStage = Math.max(...result.metrics.map(stageOf));
  const rows = result.metrics.filter((row) => stageOf(row) === lastStage).slice(WARMUP_STEPS);
  const missing = rows.findIndex((r) => typeof r.step_ms !== "number");
  if (rows.length !== o.steps || missing >= 0) throw new Error(`bench methods: ${method} logged ${rows.length} timed steps, expected ${o.steps}`);
  return { dir, epoch: result.epoch, stepMs: rows.map((r) => r.step_ms!), tokens: rows.map((r) => r.tokens) };
}

interface InferenceJob {
  name: InferenceRowName;
  modelDir: string;
  baseline?: BaselineKind;
  mode: DecodeMode;
}

/** Decodes [warm-up, ...records] at batch 1; the ms of each timed record, and its token count. */
async function timeSamples(
  job: InferenceJob,
  records: readonly PersonalRecord[],
  warm: PersonalRecord,
  o: { n1: number; cotN2: number; threads: number; prompt: PromptBuildOptions },
): Promise<{ ms: number[]; tokens: number[]; reasoning: number }> {
  const { model, tok, trainedPrompt, trained } = loadAnyModel(job.modelDir);
  const method = trained?.manifest.method;
  const coconut = method === "coconut" && trained ? coconutDecodingOf(trained.manifest, tok) : undefined;
  const reasoning = method === "cot" ? o.cotN2 : coconut ? latentsAt(coconut, coconut.stage) : 0;
  const decoded = o.n1 + (method === "cot" ? o.cotN2 : 0);
  const prompt = trainedPrompt ?? o.prompt;
  const fly = model.pair.reasoner !== undefined;
  const parallel = fly && job.mode === "parallel";
  const gen = generateForRecords(model, tok, [warm, ...records], {
    ...PAPER_SAMPLING,
    maxNewTokens: decoded,
    minNewTokens: decoded,
    seed: 0,
    mode: job.mode,
    prompt: method === "cot" || method === "coconut" ? cotPrompt(prompt) : prompt,
    cot: method === "cot",
    ...(coconut ? { coconut } : {}),
    ...(job.baseline ? { baseline: job.baseline, cosLambda: 1 } : {}),
    // Parallel FlyThinker: the Reasoner on a core of its own (as `generate` runs it); otherwise all threads.
    generatorThreads: parallel ? Math.max(1, o.threads - 1) : o.threads,
    reasonerThreads: parallel ? 1 : o.threads,
    batch: 1,
  });
  const ms: number[] = [];
  const tokens: number[] = [];
  let t = performance.now();
  let first = true;
  for await (const p of gen) {
    const now = performance.now();
    if (!first) {
      ms.push(now - t);
      tokens.push(p.new_tokens);
    }
    if (p.new_tokens !== decoded) throw new Error(`bench methods: ${job.name} decoded ${p.new_tokens} tokens for ${p.id}, expected exactly ${decoded}`);
    first = false;
    t = performance.now();
  }
  return { ms, tokens, reasoning };
}

export async function runMethodsBench(opts: MethodsBenchOptions = {}): Promise<MethodsBenchResult> {
  const log = opts.log ?? (() => {});
  const threads = opts.threads ?? defaultThreads();
  const steps = opts.steps ?? METHODS_BENCH_DEFAULTS.steps;
  const nRecords = opts.records ?? METHODS_BENCH_DEFAULTS.records;
  const n1 = opts.answerTokens ?? METHODS_BENCH_DEFAULTS.answerTokens;
  const rounds = opts.rounds ?? METHODS_BENCH_DEFAULTS.rounds;
  const prompt = opts.prompt ?? BENCH_PROMPT;
  const batchTokens = opts.batchTokens ?? METHODS_BENCH_DEFAULTS.batchTokens;
  const coconut = opts.coconut ?? METHODS_BENCH_DEFAULTS.coconut;
  const fusion = opts.fusion ?? DEFAULT_FUSION;
  for (const [v, flag, min] of [[steps, "--steps", 3], [nRecords, "--records", 1], [n1, "--answer-tokens", 1], [rounds, "--rounds", 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new UserError(`${flag} must be an integer >= ${min}, got ${v}`);
  }
  const generator = opts.generator ?? join(SHIPPED_BASES_DIR, BASE_FOLDERS.generator);
  const reasoner = opts.reasoner ?? join(SHIPPED_BASES_DIR, BASE_FOLDERS.reasoner);
  const ownWork = opts.work === undefined;
  const work = opts.work ?? mkdtempSync(join(tmpdir(), "flythinker-bench-methods-"));
  try {
    mkdirSync(work, { recursive: true });
    let data = opts.data;
    if (data === undefined) {
      data = join(work, "data");
      log("building the mail task (train / val / test split by user)...");
      await prepareEmailDataset(data, {}, { overwrite: true });
    }
    const splits = (await readDatasetSplits(data, { strict: true })).splits;
    const test = splits.test ?? [];
    if (test.length < nRecords + 1) throw new UserError(`${data}: bench methods needs ${nRecords + 1} test records (--records ${nRecords} + 1 untimed), found ${test.length}`);
    if (opts.trainRecords !== undefined) {
      const n = opts.trainRecords;
      const train = splits.train ?? [];
      if (!Number.isInteger(n) || n < 1) throw new UserError(`--train-records must be a positive integer, got ${n}`);
      if (n < train.length) {
        const sub = join(work, "data-subset");
        mkdirSync(sub, { recursive: true });
        await writeJsonl(join(sub, "train.jsonl"), evenly(train, n));
        await writeJsonl(join(sub, "test.jsonl"), test);
        data = sub;
      }
    }

    // 1. training: every method from the same bases, data, budget and prompt; CoT before Coconut (its init)
    const runs = {} as Record<TrainingRowName, TrainedRun>;
    for (const m of TRAINING_ROWS) {
      opts.onPart?.(`training ${m}`);
      log(`training ${m}: ${WARMUP_STEPS} + ${steps} steps${m === "coconut" ? " per stage" : ""} (${threads} thread(s))...`);
      runs[m] = await timeTraining(m, { work, data, generator, reasoner, threads, steps, batchTokens, prompt, fusion, cotDir: runs.cot?.dir, coconut }, log);
    }
    const g = readConfig(join(generator, "config.json"));
    const r = readConfig(join(reasoner, "config.json"));
    const meanLen = (e: EpochShape) => e.meanPromptTokens + e.meanTargetTokens;
    const cG = (m: TrainingRowName) => forwardFlopsPerToken(g, Math.round(meanLen(runs[m].epoch)), true);
    const cR = (m: TrainingRowName) => forwardFlopsPerToken(r, Math.round(meanLen(runs[m].epoch)), false);
    const flops = (m: TrainingRowName) => runs[m].epoch.tokens * (cG(m) + (m === "flythinker" ? cR(m) : 0));
    const epochS = (m: TrainingRowName) => (runs[m].epoch.stepsPerEpoch * median(runs[m].stepMs)) / 1000;
    const trainingNote: Record<TrainingRowName, string> = {
      sft: "N1 C_G",
      "llm-trsr": "N1 C_G, its summary prompt's length",
      nextquill: "2 N1 C_G: two rows",
      cot: "(N1 + N2) C_G",
      coconut: "(N1 + N2) C_G by FLOPs; its N2 + 1 sequential passes add latency",
      flythinker: "N1 (C_G + C_R)",
    };
    const training = {} as Record<TrainingRowName, TrainingRow>;
    for (const m of TRAINING_ROWS) {
      const run = runs[m];
      const timedTokens = run.tokens.reduce((a, b) => a + b, 0);
      const timedMs = run.stepMs.reduce((a, b) => a + b, 0);
      training[m] = {
        epoch_s: round(epochS(m), 4),
        step_ms: round(median(run.stepMs), 3),
        ratio_to_sft: round(epochS(m) / epochS("sft"), 3),
        expected_ratio: round(flops(m) / flops("sft"), 3),
        expectation: trainingNote[m],
        steps_per_epoch: run.epoch.stepsPerEpoch,
        steps_timed: run.stepMs.length,
        tokens_per_epoch: run.epoch.tokens,
        mean_prompt_tokens: round(run.epoch.meanPromptTokens, 2),
        mean_target_tokens: round(run.epoch.meanTargetTokens, 2),
        tokens_per_s: round(timedMs > 0 ? timedTokens / (timedMs / 1000) : 0, 0),
        compile_s: round(run.epoch.compileMs / 1000, 2),
      };
    }

    // 2. inference at a fixed output length, the same records for every method
    const cotN2 = Math.max(1, Math.round(runs.cot.epoch.meanTargetTokens - runs.sft.epoch.meanTargetTokens));
    const spread = evenly(test, nRecords + 1);
    const [warm, ...records] = spread as [PersonalRecord, ...PersonalRecord[]];
    const jobs: InferenceJob[] = [
      { name: "non-pers", modelDir: generator, baseline: "non-pers", mode: "parallel" },
      { name: "rag", modelDir: generator, baseline: "rag", mode: "parallel" },
      { name: "cos", modelDir: generator, baseline: "cos", mode: "parallel" },
      { name: "sft", modelDir: runs.sft.dir, mode: "parallel" },
      { name: "llm-trsr", modelDir: runs["llm-trsr"].dir, mode: "parallel" },
      { name: "nextquill", modelDir: runs.nextquill.dir, mode: "parallel" },
      { name: "cot", modelDir: runs.cot.dir, mode: "parallel" },
      { name: "coconut", modelDir: runs.coconut.dir, mode: "parallel" },
      { name: "flythinker-parallel", modelDir: runs.flythinker.dir, mode: "parallel" },
      { name: "flythinker-sequential", modelDir: runs.flythinker.dir, mode: "sequential" },
    ];
    const samples = new Map<InferenceRowName, { ms: number[]; reasoning: number }>(jobs.map((j) => [j.name, { ms: [], reasoning: 0 }]));
    for (let round_ = 0; round_ < rounds; round_++) {
      const order = round_ % 2 === 0 ? jobs : [...jobs].reverse();
      for (const job of order) {
        opts.onPart?.(`round ${round_ + 1}/${rounds} ${job.name}`);
        log(`round ${round_ + 1}/${rounds}: decoding ${records.length} records with ${job.name} (N1 ${n1})...`);
        const s = await timeSamples(job, records, warm, { n1, cotN2, threads, prompt });
        const acc = samples.get(job.name)!;
        acc.ms.push(...s.ms);
        acc.reasoning = s.reasoning;
      }
    }
    const msOf = (m: InferenceRowName) => median(samples.get(m)!.ms);
    const cRatio = cR("sft") / cG("sft");
    const inference = {} as Record<InferenceRowName, InferenceRow>;
    for (const j of jobs) {
      const n2 = samples.get(j.name)!.reasoning;
      const [expected, note] =
        j.name === "cot" || j.name === "coconut"
          ? [(n1 + n2) / n1, "(N1 + N2) l_G"]
          : j.name === "flythinker-sequential"
            ? [1 + cRatio, "N1 (l_G + l_R), l_R / l_G ~ C_R / C_G"]
            : j.name === "flythinker-parallel"
              ? [1, "~ N1 l_G: the Reasoner runs beside the Generator"]
              : j.name === "cos"
                ? [1, "~ N1 l_G: 2 rows batched"]
                : [1, "N1 l_G"];
      const ms = msOf(j.name);
      inference[j.name] = {
        ms_per_sample: round(ms, 3),
        ms_per_answer_token: round(ms / n1, 4),
        ratio_to_sft: round(ms / msOf("sft"), 3),
        expected_ratio: round(expected, 3),
        expectation: note,
        answer_tokens: n1,
        reasoning_tokens: n2,
        samples: samples.get(j.name)!.ms.length,
      };
    }

    // 3. the checks of Table 8 on this run ("within noise": 10% below a lower bound)
    const allowedTrain = 1 + cRatio + 0.1;
    const checks: BenchCheck[] = [
      check("CoT inference per sample / SFT's >= 0.9 x (N1 + N2) / N1", inference.cot.ratio_to_sft, ">=", 0.9 * inference.cot.expected_ratio),
      check("Coconut inference per sample / SFT's >= 0.9 x (N1 + N2) / N1", inference.coconut.ratio_to_sft, ">=", 0.9 * inference.coconut.expected_ratio),
      check("FlyThinker parallel inference per sample / SFT's <= 1.10", inference["flythinker-parallel"].ratio_to_sft, "<=", 1.1),
      check("FlyThinker training epoch / SFT's <= 1 + C_R / C_G + 0.10", training.flythinker.ratio_to_sft, "<=", allowedTrain),
    ];
    const result: MethodsBenchResult = {
      threads,
      generator: `${generator} (hidden ${g.hiddenSize}, ${g.numLayers} layers, vocabulary ${g.vocabSize})`,
      reasoner: `${reasoner} (hidden ${r.hiddenSize}, ${r.numLayers} layers)`,
      data: `${opts.data ?? "the mail task (built for this run)"}${opts.trainRecords !== undefined ? `, ${runs.sft.epoch.examples} training examples` : ""}`,
      training,
      inference,
      c_g: cG("sft"),
      c_r: cR("sft"),
      checks,
    };
    if (opts.svg) {
      atomicWriteBytes(opts.svg, methodsChart(result));
      result.svg = opts.svg;
    }
    return result;
  } finally {
    if (ownWork) rmSync(work, { recursive: true, force: true });
  }
}

function check(what: string, value: number, op: "<=" | ">=", limit: number): BenchCheck {
  return { what, value, op, limit: round(limit, 3), ok: op === "<=" ? value <= limit : value >= limit };
}

/** Figure 3's two panels side by side: training epoch and inference latency, each as a ratio to SFT, with Table 8's. */
export function methodsChart(r: MethodsBenchResult): string {
  const panel = (title: string, rows: Record<string, { ratio_to_sft: number; expected_ratio: number }>) => {
    const names = Object.keys(rows);
    return barChart({
      title,
      yLabel: "ratio to SFT (same run)",
      categories: names.map((n) => n.replace("flythinker-", "FT ")),
      series: [
        { name: "measured", values: names.map((n) => rows[n]!.ratio_to_sft) },
        { name: "Table 8 (FLOPs)", values: names.map((n) => rows[n]!.expected_ratio) },
      ],
      width: 760,
      height: 420,
      valueDecimals: 2,
    });
  };
  const left = panel("Training: time of one epoch", r.training);
  const right = panel("Inference: ms per sample at a fixed length", r.inference);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="1520" height="420" viewBox="0 0 1520 420">` +
    `<svg x="0" y="0" width="760" height="420">${stripXmlDecl(left)}</svg>` +
    `<svg x="760" y="0" width="760" height="420">${stripXmlDecl(right)}</svg></svg>\n`
  );
}

function stripXmlDecl(svg: string): string {
  return svg.replace(/^<\?xml[^>]*>\s*/, "");
}

export function methodsBenchTable(r: MethodsBenchResult): string {
  const pad = (cells: string[], widths: number[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  const table = (head: string[], rows: string[][]) => {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    return [pad(head, widths), ...rows.map((row) => pad(row, widths))].join("\n");
  };
  const t = table(
    ["training", "epoch s", "step ms", "steps", "tok/s", "compile s", "x SFT", "Table 8", "expectation"],
    Object.entries(r.training).map(([m, v]) => [m, v.epoch_s.toFixed(1), v.step_ms.toFixed(1), String(v.steps_per_epoch), String(v.tokens_per_s), v.compile_s.toFixed(1), v.ratio_to_sft.toFixed(2), v.expected_ratio.toFixed(2), v.expectation]),
  );
  const i = table(
    ["inference", "ms/sample", "ms/answer tok", "N2", "x SFT", "Table 8", "expectation"],
    Object.entries(r.inference).map(([m, v]) => [m, v.ms_per_sample.toFixed(1), v.ms_per_answer_token.toFixed(2), String(v.reasoning_tokens), v.ratio_to_sft.toFixed(2), v.expected_ratio.toFixed(2), v.expectation]),
  );
  const checks = r.checks.map((c) => `${c.ok ? "ok  " : "OVER"}  ${c.what}: ${c.value.toFixed(3)} (limit ${c.limit.toFixed(3)})`);
  return [
    `threads ${r.threads}; Generator ${r.generator}; Reasoner ${r.reasoner}; data: ${r.data}`,
    `C_G ${(r.c_g / 1e6).toFixed(2)}M, C_R ${(r.c_r / 1e6).toFixed(2)}M forward FLOPs per token`,
    "",
    t,
    "",
    i,
    "",
    ...checks,
    ...(r.svg ? [`figure: ${r.svg}`] : []),
  ].join("\n");
}
