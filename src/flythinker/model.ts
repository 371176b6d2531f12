// A trained FlyThinker (or SFT) output folder as one object: load it, stream text for a prompt or a record, predict a
// whole dataset split. The library face of `flythinker generate`. `loadAnyModel` reads any model folder (plain HF,
// SFT or FlyThinker output) as a pair for the same generation.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PairDecoder, type DecodeMode } from "./decode.ts";
import { DEFAULT_FUSION } from "./fusion.ts";
import { coconutDecodingOf, generateForRecords, PAPER_SAMPLING, type RecordPrediction, type RecordGenerationOptions } from "./generate-records.ts";
import { messagePromptIds, pairStopIds, type PairModel } from "./model-generation.ts";
import { MANIFEST_FILE, type TrainedModel } from "./trained-folder.ts";
import { type AnyTrainedModel, quantizePair, readAnyTrainedModel } from "./quantize-pair.ts";
import { type LoadOptions } from "../model/loaded-model.ts";
import { isQuantizedFolder, readQuantizedFolder } from "../model/quantized-folder.ts";
import { loadQuantizedCheckpoint } from "../model/quantize-load.ts";
import { quantScheme } from "../model/quantize.ts";
import { recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import type { SamplingOptions } from "../model/sampling.ts";
import { loadCheckpoint } from "../model/checkpoint.ts";
import { generateRows, isEmptyPiece } from "../model/generation/session.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import type { PersonalRecord } from "../data/index.ts";
import { type SummaryOf, type TrsrOptions, DEFAULT_TRSR, checkTrsrOptions, lazySummaries, readIdf, summariesFor } from "../baselines/summaries.ts";

export interface TextOptions extends SamplingOptions {
  maxNewTokens?: number;
  seed?: number;
  mode?: DecodeMode;
  /** Prompt-builder options for records and messages (default: those the model was trained with). */
  prompt?: PromptBuildOptions;
  /** Texts that end the response (cut before them). */
  stopStrings?: readonly string[];
}

export interface TextPiece {
  /** The token id; -1 for the closing piece that carries text held back until the end. */
  id: number;
  /** Text that became final with this token (may be empty inside a multi-byte character). */
  text: string;
}

/**
 * The history summaries an LLM-TRSR folder's prompts need for `records` (undefined for every other method): from
 * `summaries` (a JSONL file) or the file the run trained with, else the built-in summariser with the run's idf table,
 * cached in `cacheDir` (a dataset folder) when given.
 */
export function trainedSummaries(
  model: Pick<TrainedModel, "manifest" | "dir">,
  tok: TextTokenizer,
  records: readonly PersonalRecord[],
  opts: { summaries?: string; cacheDir?: string } = {},
): SummaryOf | undefined {
  if (model.manifest.method !== "llm-trsr") {
    if (opts.summaries !== undefined) throw new UserError(`--summaries is for LLM-TRSR models; ${model.dir} is a ${model.manifest.method} model`);
    return undefined;
  }
  const recorded = (model.manifest.training as { trsr?: TrsrOptions }).trsr ?? DEFAULT_TRSR;
  const trsr = checkTrsrOptions({ ...recorded, summaries: opts.summaries ?? recorded.summaries });
  return summariesFor(trsr, records, {
    idf: () => readIdf(model.dir),
    counter: { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) },
    tokenizer: tok.fingerprint,
    cacheDir: opts.cacheDir,
  });
}

/** An LLM-TRSR folder's summaries, made as records come (its training file, or the summariser with its idf table). */
function lazyTrainedSummaries(model: Pick<TrainedModel, "manifest" | "dir">, tok: TextTokenizer): SummaryOf {
  const trsr = checkTrsrOptions((model.manifest.training as { trsr?: TrsrOptions }).trsr ?? DEFAULT_TRSR);
  return lazySummaries(trsr, { idf: () => readIdf(model.dir), counter: { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) } });
}

/** The prompt options a training run recorded in its manifest (generation reuses them). */
function trainedPromptOf(model: AnyTrainedModel): PromptBuildOptions | undefined {
  return (model.manifest.training as { prompt?: PromptBuildOptions }).prompt;
}

export class FlyThinker {
  private constructor(
    readonly model: AnyTrainedModel,
    readonly tokenizer: TextTokenizer,
  ) {}

  /**
   * Loads a folder written by `flythinker train` (FlyThinker or SFT) or a quantized copy of one;
   * `{ quantize: "int8" | "int4" }` quantizes both models for decoding (docs/decoding.md, Quantized decoding).
   */
  static load(dir: string, options: LoadOptions = {}): FlyThinker {
    const loaded = readAnyTrainedModel(dir);
    const model = options.quantize !== undefined ? quantizePair(loaded, options.quantize, dir, "quantize") : loaded;
    return new FlyThinker(model, TextTokenizer.fromDir(model.generatorDir));
  }

  get method(): string {
    return this.model.manifest.method;
  }

  /** The prompt options training used (generation reuses them by default). */
  get trainedPrompt(): PromptBuildOptions {
    return trainedPromptOf(this.model) ?? {};
  }

  /**
   * Streams the response to a record (its history, query and the trained prompt format) or to a plain user message
   * (a query without history in the trained prompt format: the chat template when the tokenizer has one).
   */
  async *generate(input: string | PersonalRecord, options: TextOptions = {}): AsyncGenerator<TextPiece> {
    const { mode, prompt: promptOptions, maxNewTokens, seed, stopStrings, ...sampling } = options;
    if (this.model.manifest.method === "coconut") throw new UserError("a Coconut model decodes records through predict() (its latent passes); generate() streams the other methods");
    const promptOpts = promptOptions ?? this.trainedPrompt;
    const summaryOf = typeof input === "string" ? undefined : trainedSummaries(this.model, this.tokenizer, [input]);
    const prompt = typeof input === "string"
      ? messagePromptIds(this.tokenizer, input, promptOpts)
      : recordPrompt(input, this.tokenizer, summaryOf ? { ...promptOpts, summary: summaryOf(input) } : promptOpts).promptIds;
    const eosIds = pairStopIds(this.model, this.tokenizer, this.tokenizer.chatTemplate !== null);
    const opts = { ...PAPER_SAMPLING, ...sampling, maxNewTokens: maxNewTokens ?? 256, seed: seed ?? 0, eosIds, stopStrings };
    const decoder = await PairDecoder.create(this.model, { mode: mode ?? "parallel" });
    try {
      const events = generateRows(decoder, [prompt], opts, this.tokenizer);
      for (;;) {
        const e = await events.next();
        if (e.done) break;
        if (!isEmptyPiece(e.value.piece)) yield { id: e.value.piece.id ?? -1, text: e.value.piece.text };
      }
    } finally {
      await decoder.close();
    }
  }

  /**
   * Predictions for records (one JSON-able object each, as `flythinker generate --data` writes them). An LLM-TRSR
   * model summarises each record's history as in training (or takes `options.summaryOf`); a CoT model's prediction
   * is the answer after the separator, its whole output in `raw`.
   */
  predict(records: readonly PersonalRecord[], options: Partial<RecordGenerationOptions> & { summaryOf?: SummaryOf } = {}): AsyncGenerator<RecordPrediction> {
    const { summaryOf: given, ...rest } = options;
    const summaryOf = given ?? trainedSummaries(this.model, this.tokenizer, records);
    const prompt = rest.prompt ?? this.trainedPrompt;
    return generateForRecords(this.model, this.tokenizer, records, {
      ...PAPER_SAMPLING,
      maxNewTokens: 256,
      seed: 0,
      mode: "parallel",
      batch: 8,
      cot: this.model.manifest.method === "cot",
      ...(this.model.manifest.method === "coconut" ? { coconut: coconutDecodingOf(this.model.manifest, this.tokenizer) } : {}),
      ...rest,
      prompt: summaryOf ? { ...prompt, summaryOf } : prompt,
    });
  }
}

/** Any model folder loaded for generation. */
export interface AnyModel {
  /** The pair (without a Reasoner for plain folders and SFT outputs), with its Generator's folder. */
  model: PairModel & { generatorDir: string };
  tok: TextTokenizer;
  /** The prompt options of a training run (trained folders only). */
  trainedPrompt?: PromptBuildOptions;
  /** "model" for a plain HF folder, else the training method ("sft", "flythinker", ...). */
  kind: string;
  /** The trained folder (trained outputs only). */
  trained?: AnyTrainedModel;
}

/**
 * A model folder of any kind: a folder written by `flythinker train` (FlyThinker or SFT), a plain HF folder, or a
 * quantized copy of either; `options.quantize` quantizes the weights as they load (`flag` names the option in errors).
 */
export function loadAnyModel(dir: string, options: LoadOptions = {}, flag = "--quantize"): AnyModel {
  const quantized = <T extends AnyModel>(m: T): T =>
    options.quantize !== undefined ? { ...m, model: quantizePair(m.model, options.quantize, dir, flag) } : m;
  if (existsSync(join(dir, MANIFEST_FILE))) {
    const trained = readAnyTrainedModel(dir);
    const tok = TextTokenizer.fromDir(trained.generatorDir);
    // An LLM-TRSR folder's prompts need each record's summary: made as records come, as its training made them.
    const summaryOf = trained.manifest.method === "llm-trsr" ? lazyTrainedSummaries(trained, tok) : undefined;
    const prompt = trainedPromptOf(trained);
    const trainedPrompt = summaryOf ? { ...prompt, summaryOf } : prompt;
    return quantized({ model: trained, tok, trainedPrompt, kind: trained.manifest.method, trained });
  }
  const needTokenizer = () => {
    if (!existsSync(join(dir, "tokenizer.json"))) throw new UserError(`generation needs tokenizer files (tokenizer.json) in ${dir}`);
  };
  if (isQuantizedFolder(dir)) {
    const q = readQuantizedFolder(dir);
    needTokenizer();
    const model = { pair: { generator: q.config, fusion: DEFAULT_FUSION }, generator: q.tensors, quantization: q.scheme, generatorDir: dir };
    return quantized({ model, tok: TextTokenizer.fromDir(dir), kind: "model" });
  }
  if (options.quantize !== undefined) {
    // Quantized tensor by tensor as the checkpoint is read: the float32 model is never held whole.
    const scheme = quantScheme(options.quantize, flag);
    const q = loadQuantizedCheckpoint(dir, scheme);
    needTokenizer();
    const model = { pair: { generator: q.config, fusion: DEFAULT_FUSION }, generator: q.tensors, quantization: scheme, generatorDir: dir };
    return { model, tok: TextTokenizer.fromDir(dir), kind: "model" };
  }
  const ck = loadCheckpoint(dir);
  needTokenizer();
  return quantized({
    model: { pair: { generator: ck.config, fusion: DEFAULT_FUSION }, generator: ck.weights, generatorDir: dir },
    tok: TextTokenizer.fromDir(dir),
    kind: "model",
  });
}
