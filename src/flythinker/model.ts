// A trained FlyThinker (or SFT) output folder as one object: load it, stream text for a prompt or a record, predict a
// whole dataset split. The library face of `flythinker generate`.
import { PairDecoder, type DecodeMode } from "./decode.ts";
import { generateForRecords, PAPER_SAMPLING, type RecordPrediction, type RecordGenerationOptions } from "./generate-records.ts";
import { readTrainedModel, type TrainedModel } from "./trained-folder.ts";
import { recordPrompt, endOfTargetId, type PromptBuildOptions } from "../train/examples.ts";
import { Sampler, type SamplingOptions } from "../model/sampling.ts";
import { TextAssembler } from "../model/generate.ts";
import { eosTokenIds } from "../model/config.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { PersonalRecord } from "../data/index.ts";

export interface TextOptions extends SamplingOptions {
  maxNewTokens?: number;
  seed?: number;
  mode?: DecodeMode;
  /** Prompt-builder options for records (default: those the model was trained with). */
  prompt?: PromptBuildOptions;
}

export interface TextPiece {
  id: number;
  /** Text that became final with this token (may be empty inside a multi-byte character). */
  text: string;
}

export class FlyThinker {
  private constructor(
    readonly model: TrainedModel,
    readonly tokenizer: TextTokenizer,
  ) {}

  /** Loads a folder written by `flythinker train` (FlyThinker or SFT). */
  static load(dir: string): FlyThinker {
    const model = readTrainedModel(dir);
    return new FlyThinker(model, TextTokenizer.fromDir(model.generatorDir));
  }

  get method(): string {
    return this.model.manifest.method;
  }

  /** The prompt options training used (generation reuses them by default). */
  get trainedPrompt(): PromptBuildOptions {
    return (this.model.manifest.training as { prompt?: PromptBuildOptions }).prompt ?? {};
  }

  private stopIds(): Set<number> {
    const ids = new Set(eosTokenIds(this.model.pair.generator));
    const end = endOfTargetId(this.tokenizer, this.model.pair.generator);
    if (end !== null) ids.add(end);
    return ids;
  }

  /**
   * Streams the response to a record (its history, query and the trained prompt format) or to a plain user message
   * (wrapped in the chat template when the tokenizer has one).
   */
  async *generate(input: string | PersonalRecord, options: TextOptions = {}): AsyncGenerator<TextPiece> {
    const prompt = typeof input === "string"
      ? this.tokenizer.chatTemplate !== null
        ? this.tokenizer.encodeChat([{ role: "user", content: input }], { addGenerationPrompt: true })
        : this.tokenizer.encode(input)
      : recordPrompt(input, this.tokenizer, options.prompt ?? this.trainedPrompt).promptIds;
    const sampling = { ...PAPER_SAMPLING, ...options };
    const sampler = new Sampler(sampling, options.seed ?? 0);
    const stop = this.stopIds();
    const text = new TextAssembler(this.tokenizer);
    const history = [...prompt];
    const decoder = await PairDecoder.create(this.model, { mode: options.mode ?? "parallel" });
    try {
      const pick = (logits: Float32Array) => sampler.next(logits, history);
      for await (const step of decoder.decode(prompt, pick, options.maxNewTokens ?? 256, (id) => stop.has(id))) {
        history.push(step.id);
        if (stop.has(step.id)) break;
        yield { id: step.id, text: text.push(step.id) };
      }
      const rest = text.flush();
      if (rest) yield { id: -1, text: rest };
    } finally {
      await decoder.close();
    }
  }

  /** Predictions for records (one JSON-able object each, as `flythinker generate --data` writes them). */
  predict(records: readonly PersonalRecord[], options: Partial<RecordGenerationOptions> = {}): AsyncGenerator<RecordPrediction> {
    return generateForRecords(this.model, this.tokenizer, records, {
      ...PAPER_SAMPLING,
      maxNewTokens: 256,
      seed: 0,
      mode: "parallel",
      batch: 8,
      prompt: this.trainedPrompt,
      ...options,
    });
  }
}
