// `flythinker demo`: the main job end to end on the embedded mail task. Stages (each cached in OUT/<stage>/):
//   data -> tokenizer -> base (Generator base model) -> reasoner-base -> sft, flythinker, nextquill, llm-trsr (the
//   trained methods, each from the same base with the same data and schedule) -> cos-lambda (CoS's strength chosen on
//   validation users) -> gen-* (one per method) -> eval; then OUT/report.md, OUT/metrics.json, OUT/*.svg and the
//   results printed.
import { type AblationResult, type AblationSpec, SWEEP_DIR, ablationsSection } from "./ablations.ts";
import { parseGrid } from "../sweep/grid.ts";
import { runSweep } from "../sweep/run.ts";
import { type SweepSummary, writeSweepReport } from "../sweep/report.ts";
import { INFERENCE_ROWS, TRAINING_ROWS, type MethodsBenchResult, runMethodsBench } from "../bench/methods.ts";
import { efficiencySection } from "./efficiency.ts";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { ENGLISH_SOURCES, type EnglishCorpus, loadEnglishCorpora } from "../data/english-corpora.ts";
import { type BitsPerByteResult, checkpointBitsPerByte } from "../eval/bits-per-byte.ts";
import { loadCheckpoint, saveCheckpoint, TOKENIZER_FILES } from "../model/checkpoint.ts";
import { prepareEmailDataset, readDatasetSplits, type PersonalRecord, type Split } from "../data/index.ts";
import { spamAssassinVersion } from "../data/email/prepare.ts";
import { readPredictionRecords, type PredictionRecord } from "../eval/io.ts";
import { type EvalResult, type RunInput, writeEvalReport } from "../eval/report.ts";
import { heldOutTable } from "../eval/heldout.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { parameterCount } from "../model/config.ts";
import { withTokenizer } from "../model/init.ts";
import { DEFAULT_SPECIAL_TOKENS, trainBpe, writeTokenizerFiles } from "../tokenizer/bpe.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { type Manifest, readManifest } from "../flythinker/manifest.ts";
import { DEFAULT_TRAIN_CONFIG, type Method } from "../train/trainer.ts";
import type { MethodOptions } from "../train/methods.ts";
import { DEFAULT_NEXTQUILL } from "../train/nextquill.ts";
import { DEFAULT_TRSR } from "../baselines/summaries.ts";
import { DEFAULT_COT } from "../baselines/rationales.ts";
import { UserError } from "../util/errors.ts";
import { type MethodGeneration, spreadOverUsers } from "./generate.ts";
import { Lanes } from "./lanes.ts";
import { chooseCosLambda, type CosLambdaChoice } from "./cos-lambda.ts";
import { COS_LAMBDA_GRID } from "../baselines/index.ts";
import { configOfShape, describeShape, type DemoOptions, type ModelShape, type PretrainSettings } from "./options.ts";
import { packChunks, pretrainDocuments, pretrainModel } from "./pretrain.ts";
import { BASE_FOLDERS, type BaseRole, checkSameTokenizer, checkShippedBase, englishDocumentIds, mailScoredTexts, mixedChunks } from "./bases.ts";
import { type DemoConsole, demoConsole, type Progress } from "./progress.ts";
import { StageRunner, type StageResult } from "./stage-cache.ts";
import { demoHeader, resultsTable, sampleTexts } from "./summary.ts";
import { findingsSection } from "./findings.ts";

/** The method whose per-sample scores rank the test records into difficulty levels (the base model without history:
 * neither personalised nor trained, so no compared method ranks its own samples). */
const DIFFICULTY_FROM = "non-pers" satisfies DemoMethodKey;

/** Trained methods left out of the held-out likelihood table (their targets carry a rationale before the answer). */
/** The efficiency figure in the stage folder and in OUT. */
const EFFICIENCY_FIGURE = "efficiency.svg";
const NOT_LIKELIHOOD_COMPARABLE = ["cot", "coconut"] as const;

/** Test records decoded together in the generation stages (each record's sample follows its own seed). */
const GENERATION_BATCH = 8;

/** Validation records CoS's lambda is chosen on when the run does not set a record count. */
const COS_VALIDATION_RECORDS = 48;

/** The methods, in report order (the first is the one the others are compared with). */
export const DEMO_METHODS = [
  { key: "sft", name: "SFT" },
  { key: "flythinker", name: "FlyThinker" },
  { key: "non-pers", name: "Non-pers" },
  { key: "rag", name: "RAG" },
  { key: "cos", name: "CoS" },
  { key: "nextquill", name: "NextQuill" },
  { key: "llm-trsr", name: "LLM-TRSR" },
  { key: "cot", name: "CoT" },
  { key: "coconut", name: "Coconut" },
] as const;
export type DemoMethodKey = (typeof DEMO_METHODS)[number]["key"];

/** The methods the demo trains (in stage order), all from the same Generator base with the same data and schedule. */
export const TRAINED_METHODS = ["sft", "flythinker", "nextquill", "llm-trsr", "cot", "coconut"] as const satisfies readonly (Method & DemoMethodKey)[];
type TrainedMethod = (typeof TRAINED_METHODS)[number];

/**
 * The options of the trained baselines (the trainer's defaults; LLM-TRSR with the built-in summariser, recurrent
 * mode and no recent items, not chosen on validation).
 */
export const DEMO_METHOD_OPTIONS: Readonly<Required<Pick<MethodOptions, "nextquill" | "trsr" | "cot">>> = {
  nextquill: DEFAULT_NEXTQUILL,
  trsr: DEFAULT_TRSR,
  cot: DEFAULT_COT,
};

/** A trained method's options as recorded in its folder's manifest (what the report's label names). */
function recordedOptions(m: Manifest): MethodOptions {
  const t = m.training as MethodOptions;
  return { nextquill: t.nextquill, trsr: t.trsr, cot: t.cot, coconut: t.coconut };
}

/** A row's label: the method's name and its options ("NextQuill (alpha 0.1, threshold 0.05, weights 0.9/0.1)"). */
export function methodLabel(name: string, key: DemoMethodKey, o: MethodOptions & { cosLambda?: number }): string {
  if (key === "cos" && o.cosLambda !== undefined) return `${name} (lambda ${o.cosLambda})`;
  if (key === "nextquill" && o.nextquill) {
    const q = o.nextquill;
    const cf = q.counterfactual && q.counterfactual !== "non-pers" ? `, counterfactual ${q.counterfactual}` : "";
    return `${name} (alpha ${q.alpha}, threshold ${q.threshold}, weights ${q.weights.join("/")}${cf})`;
  }
  if (key === "llm-trsr" && o.trsr) return `${name} (${o.trsr.summaries === null ? o.trsr.mode : "summary file"}, R=${o.trsr.recent})`;
  if (key === "cot" && o.cot) {
    const st = o.cot.selfTrainIters > 0 ? `, ReST-EM ${o.cot.selfTrainIters} x ${o.cot.selfTrainK}` : "";
    return `${name} (${o.cot.rationales === null ? "style summary" : "rationale file"}${st})`;
  }
  if (key === "coconut" && o.coconut) return `${name} (c ${o.coconut.c}, stage ${o.coconut.maxLatentStage}${o.coconut.finalStage ? " + final" : ""})`;
  return name;
}

export interface DemoResult {
  eval: EvalResult;
  stages: StageResult<unknown>[];
  /** Wall time of this run. */
  seconds: number;
  /** The table and samples printed at the end. */
  table: string;
  samples: string;
  out: string;
}

/** How the run is smaller than the paper's study (the report's "Scale" line). */
function scaleNotes(o: DemoOptions, records: number): string[] {
  const e = o.finetune.epochs;
  const steps =
    o.finetune.steps !== undefined
      ? `${o.finetune.steps} steps`
      : e < 1
        ? `${e} of an epoch (each method the first ${Math.round(e * 100)}% of its shuffled epoch's steps, so the run fits its budget)`
        : `${e} epoch${e === 1 ? "" : "s"}`;
  return [
    `Generator ${describeShape(o.generator)} and Reasoner ${describeShape(o.reasoner)} instead of the paper's billion-parameter models`,
    `fine-tuning for ${steps} on the mail task's train users`,
    `${records} ${o.split} records`,
    `CoT's rationales are extractive style summaries (no teacher LLM offline); Coconut runs ${o.coconut.maxLatentStage} latent stage${o.coconut.maxLatentStage === 1 ? "" : "s"} of c ${o.coconut.c} plus the final one${o.coconut.stageShare === 1 ? "" : `, each for ${o.coconut.stageShare} x CoT's training steps`}`,
    `CoS's lambda is chosen on ${o.records > 0 ? o.records : COS_VALIDATION_RECORDS} validation records; one seed`,
  ];
}

/** Files of the evaluation report copied to OUT itself. */
function reportFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f === "metrics.json" || f === "report.md" || f.endsWith(".svg"));
}

function modelDescription(shape: ModelShape, vocab: number): string {
  const params = parameterCount({ ...configOfShape(shape), vocabSize: vocab });
  return `${describeShape(shape)}, ${(params / 1e6).toFixed(2)}M parameters`;
}

function isTrained(key: DemoMethodKey): key is TrainedMethod {
  return (TRAINED_METHODS as readonly string[]).includes(key);
}

/** The stages every mode shares: data, tokenizer and the two bases (shipped, pretrained long, or from scratch). */
async function baseStages(o: DemoOptions, runner: StageRunner, con: DemoConsole) {
  if (o.generator.hiddenSize < o.reasoner.hiddenSize && o.fusion.fuse === "prefix") {
    throw new UserError(
      `the Reasoner (width ${o.reasoner.hiddenSize}) must not be wider than the Generator (width ${o.generator.hiddenSize}) with prefix fusion`,
    );
  }
  // The shipped bases are checked before any work (a clear message when they are missing or do not fit).
  const shipped =
    o.bases === "shipped"
      ? (() => {
          const generator = checkShippedBase(o.basesDir, "generator", { shape: o.generator, vocabSize: o.vocabSize });
          const reasoner = checkShippedBase(o.basesDir, "reasoner", { shape: o.reasoner, vocabSize: o.vocabSize });
          checkSameTokenizer(generator, reasoner);
          return { generator, reasoner };
        })()
      : undefined;

  // 1. data
  const data = await runner.run({
    name: "data",
    settings: { task: "email", split: "user", seed: 0, corpus: spamAssassinVersion() },
    build: async (dir) => {
      const { card } = await prepareEmailDataset(dir, {}, { overwrite: true });
      con.log(`  mail task: ${["train", "val", "test"].map((s) => `${card.counts[s as Split]?.records} ${s}`).join(" / ")} records, split by user`);
    },
    load: async (dir) => ({ dir, splits: (await readDatasetSplits(dir, { strict: true })).splits }),
  });
  const train = data.value.splits.train ?? [];
  if (train.length === 0) throw new UserError(`${data.dir}: no train records`);

  // 2. tokenizer (train users' text only; the shipped bases carry the one they were trained with)
  const tokenizer = await runner.run({
    name: "tokenizer",
    settings: shipped
      ? { shipped: shipped.generator.hashes["tokenizer.json"] }
      : { vocabSize: o.vocabSize, specials: DEFAULT_SPECIAL_TOKENS, corpus: "train split: input and output of every record" },
    deps: [data],
    build: async (dir) => {
      if (shipped) {
        for (const f of TOKENIZER_FILES) {
          if (existsSync(join(shipped.generator.dir, f))) atomicWriteBytes(join(dir, f), readFileSync(join(shipped.generator.dir, f)));
        }
        con.log(`  the shipped bases' tokenizer (${shipped.generator.dir})`);
        return;
      }
      const tok = trainBpe(
        train.flatMap((r) => [r.input, r.output]),
        { vocabSize: o.vocabSize, specialTokens: DEFAULT_SPECIAL_TOKENS },
      );
      writeTokenizerFiles(dir, tok, { modelMaxLength: 2048 });
      con.log(`  byte-level BPE, ${tok.vocabSize} tokens`);
    },
    load: (dir) => ({ dir, tok: TextTokenizer.fromDir(dir) }),
  });
  const tok = tokenizer.value.tok;

  // 3-4. base models: copied from the shipped folder, or pretrained on the train users' mails (and English)
  const docsByLength = new Map<number, { train: number[][]; val: number[][] }>();
  const pretrainDocs = (docTokens: number) => {
    let d = docsByLength.get(docTokens);
    if (!d) {
      const opts = { inputTokens: o.prompt.budgets.input, docTokens };
      d = { train: pretrainDocuments(train, tok, opts), val: pretrainDocuments(data.value.splits.val ?? [], tok, opts) };
      docsByLength.set(docTokens, d);
    }
    return d;
  };
  let english: { ids: number[][]; corpus: EnglishCorpus } | undefined;
  const englishIds = () => {
    if (!english) {
      const corpus = loadEnglishCorpora();
      const t0 = performance.now();
      english = { corpus, ids: englishDocumentIds(corpus.documents, tok) };
      const tokens = english.ids.reduce((n, d) => n + d.length, 0);
      con.log(
        `  English: ${corpus.counts.total.documents} documents, ${corpus.counts.total.bytes} bytes, ${tokens} tokens ` +
          `(${ENGLISH_SOURCES.map((s) => `${s} ${corpus.counts[s].documents}`).join(", ")}; tokenized in ${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
    }
    return english;
  };
  const pretrainStage = (name: string, role: BaseRole, shape: ModelShape, settings: PretrainSettings, seed: number) =>
    runner.run({
      name,
      settings: shipped
        ? { shipped: shipped[role].hashes }
        : {
            shape,
            pretrain: settings,
            seed,
            inputTokens: o.prompt.budgets.input,
            threads: o.threads,
            ...(settings.english ? { english: loadEnglishCorpora().versions } : {}),
          },
      deps: [data, tokenizer],
      build: async (dir) => {
        if (shipped) {
          const from = shipped[role].dir;
          mkdirSync(join(dir, "model"), { recursive: true });
          for (const f of ["config.json", "model.safetensors", ...TOKENIZER_FILES]) {
            if (existsSync(join(from, f))) atomicWriteBytes(join(dir, "model", f), readFileSync(join(from, f)));
          }
          con.log(`  the shipped ${role} base (${from}): ${modelDescription(shape, tok.vocabSize)}`);
          return;
        }
        const config = withTokenizer(configOfShape(shape), tok);
        const d = pretrainDocs(settings.docTokens);
        const chunks = settings.english
          ? mixedChunks(englishIds().ids, d.train, settings.seqLen, settings.mailRepeats ?? 1)
          : packChunks(d.train, settings.seqLen);
        const val = packChunks(d.val, settings.seqLen);
        const mailChunks = packChunks(d.train, settings.seqLen).length;
        con.log(
          `  ${modelDescription(shape, config.vocabSize)}; ${chunks.length} chunks of ${settings.seqLen} tokens` +
            (settings.english ? ` (${chunks.length - mailChunks * (settings.mailRepeats ?? 1)} English, ${mailChunks} mail x ${settings.mailRepeats ?? 1})` : ""),
        );
        const r = await pretrainModel(dir, {
          config,
          chunks,
          val,
          settings,
          seed,
          tokenizerDir: tokenizer.dir,
          threads: o.threads,
          reporter: con.trainReporter(name),
        });
        con.log(`  ${r.steps} steps, loss ${r.finalLoss.toFixed(3)}, validation loss ${r.finalValLoss?.toFixed(3) ?? "n/a"}`);
      },
      load: (dir) => ({ modelDir: join(dir, "model") }),
    });
  const base = await pretrainStage("base", "generator", o.generator, o.pretrain, o.seed);
  const reasonerBase = await pretrainStage("reasoner-base", "reasoner", o.reasoner, o.reasonerPretrain, o.seed + 1);

  // bits per byte of both bases on the test users' mail
  const bpb = await runner.run({
    name: "bits-per-byte",
    settings: { split: "test", inputTokens: o.prompt.budgets.input, textTokens: BPB_TEXT_TOKENS },
    deps: [data, tokenizer, base, reasonerBase],
    build: async (dir) => {
      const texts = mailScoredTexts(data.value.splits.test ?? [], tok, { inputTokens: o.prompt.budgets.input, textTokens: BPB_TEXT_TOKENS });
      const padId = tok.padId ?? tok.eosId ?? 0;
      const result = {
        generator: await checkpointBitsPerByte(loadCheckpoint(base.value.modelDir), texts, { padId }),
        reasoner: await checkpointBitsPerByte(loadCheckpoint(reasonerBase.value.modelDir), texts, { padId }),
      };
      atomicWriteBytes(join(dir, "bits-per-byte.json"), JSON.stringify(result, null, 2) + "\n");
      con.log(`  test users' mail (${texts.length} texts, ${result.generator.bytes} bytes): Generator ${result.generator.bitsPerByte.toFixed(3)}, Reasoner ${result.reasoner.bitsPerByte.toFixed(3)} bits per byte`);
    },
    load: (dir) => JSON.parse(readFileSync(join(dir, "bits-per-byte.json"), "utf8")) as BasesBitsPerByte,
  });
  return { data, tokenizer, tok, base, reasonerBase, bpb, english: () => englishIds().corpus };
}

/** Tokens of each test mail scored for bits per byte (the text is cut at a sentence end, as pretraining cuts it). */
export const BPB_TEXT_TOKENS = 384;

export interface BasesBitsPerByte {
  generator: BitsPerByteResult;
  reasoner: BitsPerByteResult;
}

function stageRunner(o: DemoOptions, con: DemoConsole, total: number, stages: StageResult<unknown>[]): StageRunner {
  let index = 0;
  return new StageRunner(o.out, {
    fresh: o.fresh,
    events: {
      begin: (name, cached, reason) => {
        index++;
        con.log(`[${index}/${total}] ${name}${cached ? ": finished earlier, reused" : ` (${reason})`}`);
      },
      end: (r) => {
        stages.push(r);
        if (!r.cached) con.log(`  ${r.name} done in ${r.seconds.toFixed(1)} s`);
      },
    },
  });
}

export interface PretrainResult {
  basesDir: string;
  seconds: number;
  bitsPerByte: BasesBitsPerByte;
  stages: StageResult<unknown>[];
}

/**
 * `demo --pretrain`: the long pretraining of both bases on English and the train users' mail, written to the bases
 * folder as bf16 HF folders (with the tokenizer), with their training metrics and bases.json (settings, data counts,
 * bits per byte of the stored bf16 weights on the test users' mail).
 */
export async function runPretrain(o: DemoOptions, con: DemoConsole = demoConsole()): Promise<PretrainResult> {
  const t0 = performance.now();
  const stages: StageResult<unknown>[] = [];
  const runner = stageRunner(o, con, 5, stages);
  const s = await baseStages(o, runner, con);
  const written: Record<BaseRole, string> = { generator: "", reasoner: "" };
  for (const [role, stage] of [["generator", s.base], ["reasoner", s.reasonerBase]] as const) {
    const ck = loadCheckpoint(stage.value.modelDir);
    written[role] = join(o.basesDir, BASE_FOLDERS[role]);
    saveCheckpoint(written[role], ck.config, ck.weights, { dtype: "BF16", tokenizerFrom: s.tokenizer.dir, overwrite: true });
    for (const f of ["metrics.jsonl", "loss.svg"]) atomicWriteBytes(join(o.basesDir, `${role}-${f}`), readFileSync(join(dirname(stage.value.modelDir), f)));
  }
  // bits per byte of what was written (bf16), on the same texts as the stage measured
  const texts = mailScoredTexts(s.data.value.splits.test ?? [], s.tok, { inputTokens: o.prompt.budgets.input, textTokens: BPB_TEXT_TOKENS });
  const padId = s.tok.padId ?? s.tok.eosId ?? 0;
  const bitsPerByte: BasesBitsPerByte = {
    generator: await checkpointBitsPerByte(loadCheckpoint(written.generator), texts, { padId }),
    reasoner: await checkpointBitsPerByte(loadCheckpoint(written.reasoner), texts, { padId }),
  };
  const corpus = s.english();
  const seconds = (performance.now() - t0) / 1000;
  const info = {
    command: "npx flythinker demo --pretrain",
    seed: o.seed,
    threads: o.threads,
    tokenizer: { vocabSize: s.tok.vocabSize, corpus: "train split: input and output of every record (mail only)" },
    generator: { shape: o.generator, description: modelDescription(o.generator, s.tok.vocabSize), pretrain: o.pretrain },
    reasoner: { shape: o.reasoner, description: modelDescription(o.reasoner, s.tok.vocabSize), pretrain: o.reasonerPretrain },
    data: {
      mail: { train: s.data.value.splits.train?.length ?? 0, val: s.data.value.splits.val?.length ?? 0, test: s.data.value.splits.test?.length ?? 0 },
      english: { counts: corpus.counts, versions: corpus.versions },
    },
    bitsPerByte: {
      split: "test",
      textTokens: BPB_TEXT_TOKENS,
      generator: bitsPerByte.generator,
      reasoner: bitsPerByte.reasoner,
    },
    stages: stages.map((x) => ({ name: x.name, cached: x.cached, seconds: Number(x.seconds.toFixed(1)) })),
    seconds: Number(seconds.toFixed(1)),
  };
  atomicWriteBytes(join(o.basesDir, "bases.json"), JSON.stringify(info, null, 2) + "\n");
  return { basesDir: o.basesDir, seconds, bitsPerByte, stages };
}

export async function runDemo(o: DemoOptions, con: DemoConsole = demoConsole()): Promise<DemoResult> {
  const t0 = performance.now();
  const stages: StageResult<unknown>[] = [];
  // data, tokenizer, two bases, bits per byte, the trained methods, cos-lambda, one generation per method, efficiency, eval
  const total = 5 + TRAINED_METHODS.length + 1 + DEMO_METHODS.length + (o.efficiency ? 2 : 1) + (o.full?.length ?? 0);
  const runner = stageRunner(o, con, total, stages);
  const { data, tok, base, reasonerBase, bpb } = await baseStages(o, runner, con);
  const evalRecords = spreadOverUsers(data.value.splits[o.split] ?? [], o.records);
  if (evalRecords.length === 0) throw new UserError(`${data.dir}: no ${o.split} records`);

  // Training runs and generations go to lanes: up to o.lanes at once, each on one ONNX Runtime thread (with one lane,
  // in this thread with o.threads for training and every core for generation). A stage asks for a lane when its
  // inputs are ready; the longest chains ask first.
  const lanes = new Lanes(o.lanes);
  const laneThreads = o.lanes > 1 ? 1 : undefined;
  const PRIORITY = { chain: 3, train: 2, cos: 1, gen: 0 } as const;

  // 5-8. SFT, FlyThinker, NextQuill and LLM-TRSR from the same Generator start, same data, same schedule
  const prompt = { historyK: o.prompt.historyK, retrieval: o.prompt.retrieval, budgets: { ...o.prompt.budgets } };
  type TrainedStage = StageResult<{ modelDir: string; manifest: Manifest }>;
  const trainedP = {} as Record<TrainedMethod, Promise<TrainedStage>>;
  const trainStage = async (method: TrainedMethod): Promise<TrainedStage> => {
    const fly = method === "flythinker";
    const cot = method === "coconut" ? await trainedP.cot : undefined;
    const options: MethodOptions =
      method === "nextquill"
        ? { nextquill: DEMO_METHOD_OPTIONS.nextquill }
        : method === "llm-trsr"
          ? { trsr: DEMO_METHOD_OPTIONS.trsr }
          : method === "cot"
            ? { cot: DEMO_METHOD_OPTIONS.cot }
            : cot
              ? { coconut: { c: o.coconut.c, maxLatentStage: o.coconut.maxLatentStage, epochsPerStage: o.coconut.epochsPerStage, init: cot.dir, finalStage: true } }
              : {};
    // Coconut's stages: each trains for stageShare x CoT's steps (every stage is about as long as CoT's epoch).
    const coconutSteps = cot ? Math.max(1, Math.round(o.coconut.stageShare * (readManifest(cot.dir).training as { steps: number }).steps)) : undefined;
    const threads = laneThreads ?? o.threads;
    return runner.run({
      name: method,
      // SFT's and FlyThinker's settings keep their earlier shape (so their cached folders stay valid)
      settings: { finetune: o.finetune, fusion: fly ? o.fusion : null, prompt, seed: o.seed, threads, ...options, ...(coconutSteps !== undefined ? { stageSteps: coconutSteps } : {}) },
      // Coconut starts from CoT's model (its folder is in the settings as the init path; the hash follows CoT's)
      deps: fly ? [data, base, reasonerBase] : cot ? [data, cot] : [data, base],
      build: async (dir, clock) => {
        await lanes.run(
          {
            kind: "train",
            options: {
              generator: cot ? cot.dir : base.value.modelDir,
              reasoner: fly ? reasonerBase.value.modelDir : undefined,
              data: data.dir,
              out: dir,
              config: {
                ...DEFAULT_TRAIN_CONFIG,
                method,
                ...options,
                epochs: o.finetune.epochs,
                maxSteps: coconutSteps ?? o.finetune.steps,
                lr: o.finetune.lr,
                batchTokens: o.finetune.batchTokens,
                warmupRatio: o.finetune.warmupRatio,
                seed: o.seed,
              },
              fusion: o.fusion,
              cadence: { evalEvery: 0, checkpointEvery: 0 },
              prompt,
              threads,
            },
          },
          {
            reporter: con.trainReporter(method),
            onStart: () => {
              clock.started();
              con.log(`  ${method} started`);
            },
          },
          method === "cot" || method === "coconut" ? PRIORITY.chain : method === "flythinker" || method === "nextquill" ? PRIORITY.train + 0.5 : PRIORITY.train,
        );
        const t = readManifest(dir).training as { steps: number; final_loss: number; final_val_loss: number | null };
        con.log(`  ${method}: ${t.steps} steps, loss ${t.final_loss.toFixed(3)}, validation loss ${t.final_val_loss?.toFixed(3) ?? "n/a"}`);
      },
      load: (dir): { modelDir: string; manifest: Manifest } => ({ modelDir: dir, manifest: readManifest(dir) }),
    });
  };
  for (const m of TRAINED_METHODS) trainedP[m] = trainStage(m);

  // A generation job in a lane (one ONNX Runtime thread per model when lanes run side by side).
  // `bar` makes the job's progress bar when it starts (not while it waits).
  const generateInLane =
    (priority: number, onStart?: () => void) =>
    async (file: string, records: readonly PersonalRecord[], g: MethodGeneration, bar?: () => Progress): Promise<void> => {
      const generation = { ...g, ...(laneThreads ? { threads: laneThreads } : {}) };
      let p: Progress | undefined;
      const progress: Progress = { update: (done, info) => p?.update(done, info), stop: () => p?.stop() };
      try {
        await lanes.run({ kind: "generate", file, records: [...records], generation }, { progress, onStart: () => ((p = bar?.()), onStart?.()) }, priority);
      } finally {
        progress.stop();
      }
    };

  // 9. CoS's lambda, chosen from the grid on validation users with the base model
  const sampling = { prompt, maxNewTokens: o.maxNewTokens, ...(o.minNewTokens ? { minNewTokens: o.minNewTokens } : {}), temperature: o.temperature, topP: o.topP, seed: o.seed, batch: GENERATION_BATCH };
  const cosVal = spreadOverUsers(data.value.splits.val ?? [], o.records > 0 ? o.records : COS_VALIDATION_RECORDS);
  if (cosVal.length === 0) throw new UserError(`${data.dir}: no val records to choose CoS's lambda on`);
  const cosLambdaP = runner.run({
    name: "cos-lambda",
    settings: { grid: COS_LAMBDA_GRID, metric: "rouge1", records: cosVal.map((r) => r.id), ...sampling, threads: laneThreads ?? "all" },
    deps: [data, base],
    build: async (dir, clock) => {
      let started = false;
      const lane = generateInLane(PRIORITY.cos, () => void (started || ((started = true), clock.started())));
      const choice = await chooseCosLambda(dir, cosVal, { modelDir: base.value.modelDir, ...sampling }, undefined, COS_LAMBDA_GRID, (file, records, g) =>
        lane(file, records, g, () => con.progress(`cos lambda ${g.cosLambda}`, cosVal.length)),
      );
      atomicWriteBytes(join(dir, "choice.json"), JSON.stringify(choice, null, 2) + "\n");
      con.log(`  lambda ${choice.lambda} (ROUGE-1 ${choice.scores.map((x) => `${x.lambda}: ${x.rouge1.toFixed(4)}`).join(", ")})`);
    },
    load: (dir) => JSON.parse(readFileSync(join(dir, "choice.json"), "utf8")) as CosLambdaChoice,
  });

  // 10. generation with every method for the chosen users, GENERATION_BATCH records at a time, as soon as its model is
  // ready
  const gen = async (key: DemoMethodKey) => {
    const source = isTrained(key) ? await trainedP[key] : base;
    const cos = key === "cos" ? await cosLambdaP : undefined;
    const g = {
      modelDir: source.value.modelDir,
      baseline: key === "non-pers" || key === "rag" || key === "cos" ? key : undefined,
      ...(cos ? { cosLambda: cos.value.lambda } : {}),
      ...(key === "cot" || key === "coconut" ? { reasoningTokens: o.reasoningTokens[key] } : {}),
      prompt,
      maxNewTokens: o.maxNewTokens,
      ...(o.minNewTokens ? { minNewTokens: o.minNewTokens } : {}),
      temperature: o.temperature,
      topP: o.topP,
      seed: o.seed,
      batch: GENERATION_BATCH,
    } as const;
    return runner.run({
      name: `gen-${key}`,
      settings: { split: o.split, records: evalRecords.map((r) => r.id), ...g, modelDir: undefined, mode: "parallel", threads: laneThreads ?? "all" },
      deps: cos ? [data, source, cos] : [data, source],
      build: (dir, clock) =>
        generateInLane(PRIORITY.gen, () => clock.started())(join(dir, "predictions.jsonl"), evalRecords, g, () => con.progress(key, evalRecords.length)),
      load: (dir) => readPredictionRecords(join(dir, "predictions.jsonl")),
    });
  };
  const genP = DEMO_METHODS.map((m) => gen(m.key));
  // The first failure ends the run: the other lanes' workers are stopped (each stage's folder stays unfinished).
  for (const p of [...Object.values(trainedP), cosLambdaP, ...genP]) p.catch(() => {});
  const settled = await Promise.all([Promise.all(TRAINED_METHODS.map((m) => trainedP[m])), cosLambdaP, Promise.all(genP)]).catch(async (e: unknown) => {
    await lanes.stop(e instanceof Error ? e : new Error(String(e)));
    throw e;
  });
  const [trainedList, cosLambda, genStages] = settled;
  const trained = Object.fromEntries(TRAINED_METHODS.map((m, i) => [m, trainedList[i]!])) as Record<TrainedMethod, TrainedStage>;
  const sft = trained.sft;
  const fly = trained.flythinker;
  // Each row's label carries its options (CoS: the lambda chosen on validation).
  const label = (m: (typeof DEMO_METHODS)[number]) =>
    methodLabel(m.name, m.key, { cosLambda: cosLambda.value.lambda, ...(isTrained(m.key) ? recordedOptions(trained[m.key].value.manifest) : {}) });
  const predictions: { name: string; stage: StageResult<PredictionRecord[]> }[] = DEMO_METHODS.map((m, i) => ({ name: label(m), stage: genStages[i]! }));
  const runs: RunInput[] = predictions.map((p) => ({ name: p.name, records: p.stage.value }));

  // 11. efficiency: `bench methods` on the demo's data and bases, alone on the machine (every lane is idle now)
  const bench = o.efficiency;
  const efficiency = bench && (await runner.run({
    name: "efficiency",
    settings: { bench, prompt, batchTokens: o.finetune.batchTokens, fusion: o.fusion, coconut: { c: o.coconut.c, maxLatentStage: o.coconut.maxLatentStage } },
    deps: [data, base, reasonerBase],
    build: async (dir) => {
      const p = con.progress("efficiency", TRAINING_ROWS.length + INFERENCE_ROWS.length * bench.rounds);
      let done = 0;
      try {
        const r = await runMethodsBench({
          data: data.dir,
          generator: base.value.modelDir,
          reasoner: reasonerBase.value.modelDir,
          ...bench,
          prompt,
          batchTokens: o.finetune.batchTokens,
          fusion: o.fusion,
          coconut: { c: o.coconut.c, maxLatentStage: o.coconut.maxLatentStage },
          svg: join(dir, EFFICIENCY_FIGURE),
          onPart: (label) => p.update(++done, label),
        });
        atomicWriteBytes(join(dir, "methods.json"), JSON.stringify(r, null, 2) + "\n");
      } finally {
        p.stop();
      }
    },
    load: (dir) => JSON.parse(readFileSync(join(dir, "methods.json"), "utf8")) as MethodsBenchResult,
  }));

  // 12. evaluation
  // Held-out NLL: the trained methods whose training target is the reference itself (CoT and Coconut train on a
  // rationale before it, so their likelihood of the bare reference is not comparable).
  const heldOutMethods = TRAINED_METHODS.filter((m) => !(NOT_LIKELIHOOD_COMPARABLE as readonly string[]).includes(m));
  const nameOf = (key: DemoMethodKey) => label(DEMO_METHODS.find((m) => m.key === key)!);
  const evaluation = await runner.run({
    name: "eval",
    settings: { samples: 3, bootstrap: { resamples: 1000, seed: 12345 }, heldOut: { split: o.split, methods: heldOutMethods }, difficultyFrom: DIFFICULTY_FROM },
    deps: [...predictions.map((p) => p.stage), ...heldOutMethods.map((m) => trained[m])],
    build: async (dir) => {
      const p = con.progress("held-out NLL", heldOutMethods.length);
      let heldOut;
      try {
        heldOut = await heldOutTable(
          heldOutMethods.map((m) => ({ name: nameOf(m), dir: trained[m].dir })),
          data.dir,
          { split: o.split, baseline: nameOf("sft"), onProgress: (name, done, total) => done === total && p.update(heldOutMethods.map(nameOf).indexOf(name) + 1, name) },
        );
      } finally {
        p.stop();
      }
      await writeEvalReport(dir, runs, { overwrite: true, samples: 3, heldOut, difficultyFrom: nameOf(DIFFICULTY_FROM) });
    },
    load: (dir) => JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8")) as EvalResult,
  });

  // 13. demo --full: the ablation and seed sweeps, as many at once as there are lanes (each training on one thread)
  const ablations: AblationResult[] = [];
  if (o.full) {
    const queue = [...o.full];
    const sweepStage = async (spec: AblationSpec): Promise<AblationResult> => {
      const grid = parseGrid(spec.grid);
      // the main study's sampling (its length rule and batch too), so a point's scores compare with the main table's
      const { prompt: _prompt, ...mainSampling } = sampling;
      const generation = { ...mainSampling, split: o.split };
      const config = { ...DEFAULT_TRAIN_CONFIG, epochs: o.finetune.epochs, maxSteps: o.finetune.steps, lr: o.finetune.lr, batchTokens: o.finetune.batchTokens, warmupRatio: o.finetune.warmupRatio, seed: o.seed };
      const stage = await runner.run({
        name: spec.name,
        settings: { grid: spec.grid, config, fusion: o.fusion, prompt, generation, threads: laneThreads ?? o.threads },
        deps: [data, base, reasonerBase],
        build: async (dir) => {
          const out = join(dir, SWEEP_DIR);
          const runs = await runSweep({
            generator: base.value.modelDir,
            reasoner: reasonerBase.value.modelDir,
            data: data.dir,
            out,
            config,
            fusion: o.fusion,
            prompt,
            grid,
            generation,
            threads: laneThreads ?? o.threads,
            reporter: con.trainReporter(spec.name),
            log: (line) => con.log(`  ${spec.name}: ${line}`),
          });
          await writeSweepReport(out, grid, runs, { resamples: 1000, seed: 12345 });
        },
        load: (dir) => JSON.parse(readFileSync(join(dir, SWEEP_DIR, "sweep.json"), "utf8")) as SweepSummary,
      });
      return { spec, folder: relative(o.out, stage.dir), summary: stage.value };
    };
    const worker = async () => {
      for (let spec = queue.shift(); spec; spec = queue.shift()) ablations.push(await sweepStage(spec));
    };
    await Promise.all(Array.from({ length: Math.min(o.lanes, o.full.length) }, worker));
    ablations.sort((a, b) => o.full!.indexOf(a.spec) - o.full!.indexOf(b.spec));
  }

  // Stages finish in an order that depends on the lanes: list them in plan order.
  const plan = ["data", "tokenizer", "base", "reasoner-base", "bits-per-byte", ...TRAINED_METHODS, "cos-lambda", ...DEMO_METHODS.map((m) => `gen-${m.key}`), "efficiency", "eval", ...(o.full ?? []).map((a) => a.name)];
  stages.sort((a, b) => plan.indexOf(a.name) - plan.indexOf(b.name));
  const seconds = (performance.now() - t0) / 1000;
  const info = {
    options: o,
    split: o.split,
    records: evalRecords.length,
    users: new Set(evalRecords.map((r: PersonalRecord) => r.user)).size,
    stages: stages.map((s) => ({ name: s.name, cached: s.cached, seconds: Number(s.seconds.toFixed(2)), hash: s.hash })),
    seconds: Number(seconds.toFixed(1)),
    models: {
      generator: modelDescription(o.generator, tok.vocabSize),
      reasoner: modelDescription(o.reasoner, tok.vocabSize),
    },
    bases: {
      mode: o.bases,
      bitsPerByte: { generator: bpb.value.generator.bitsPerByte, reasoner: bpb.value.reasoner.bitsPerByte, texts: bpb.value.generator.texts, bytes: bpb.value.generator.bytes },
    },
    valLoss: {
      sft: (sft.value.manifest.training as { final_val_loss?: number }).final_val_loss ?? null,
      flythinker: (fly.value.manifest.training as { final_val_loss?: number }).final_val_loss ?? null,
    },
    baselines: {
      nextquill: methodLabel("NextQuill", "nextquill", recordedOptions(trained.nextquill.value.manifest)),
      trsr: methodLabel("LLM-TRSR", "llm-trsr", recordedOptions(trained["llm-trsr"].value.manifest)),
      cot: methodLabel("CoT", "cot", recordedOptions(trained.cot.value.manifest)),
      coconut: methodLabel("Coconut", "coconut", recordedOptions(trained.coconut.value.manifest)),
    },
    cos: cosLambda.value,
    lanes: o.lanes,
    shrink: scaleNotes(o, evalRecords.length),
  };
  // The report at the top of OUT: the demo's header, then the evaluation report.
  for (const f of reportFiles(evaluation.dir)) {
    if (f !== "report.md") atomicWriteBytes(join(o.out, f), readFileSync(join(evaluation.dir, f)));
  }
  const evalReport = readFileSync(join(evaluation.dir, "report.md"), "utf8");
  // the sweep whose only axis is the seed (its summary groups the points by seed and nothing else)
  const seedSweep = ablations.find((a) => a.summary.grid.length === 1 && a.summary.seedGroups !== null);
  const findings = findingsSection(evaluation.value, {
    flythinker: nameOf("flythinker"),
    sft: nameOf("sft"),
    generator: modelDescription(o.generator, tok.vocabSize),
    seeds: seedSweep ? seedSweep.summary.points.length : 1,
    ...(seedSweep ? { seedRatios: seedSweep.summary.points.map((pt) => ({ seed: pt.values.seed ?? "?", rouge1: pt.normalized.rouge1 })) } : {}),
  });
  if (efficiency) atomicWriteBytes(join(o.out, EFFICIENCY_FIGURE), readFileSync(join(efficiency.dir, EFFICIENCY_FIGURE)));
  const effSection = efficiency ? efficiencySection(efficiency.value, EFFICIENCY_FIGURE) + "\n" : "";
  const ablationSection = ablations.length > 0 ? ablationsSection(ablations, o.out) + "\n" : "";
  const report = demoHeader(info, evaluation.value) + evalReport.replace(/^# Evaluation report\n/, "") + "\n" + effSection + ablationSection + findings;
  atomicWriteBytes(join(o.out, "report.md"), report);
  atomicWriteBytes(join(o.out, "demo.json"), JSON.stringify(info, null, 2) + "\n");
  if (!existsSync(join(o.out, "metrics.json"))) throw new Error("the evaluation wrote no metrics.json");

  return {
    eval: evaluation.value,
    stages,
    seconds,
    table: resultsTable(evaluation.value, o.split, evalRecords.length, info.users),
    samples: sampleTexts(runs, 2),
    out: o.out,
  };
}
