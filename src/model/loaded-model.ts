// A model ready to run: config + float32 or block-quantized weights (from a HF folder, a quantized folder, or given),
// its tokenizer when the folder has one, full forward passes and decoders that share the weights.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { CompileOptions } from "../runtime/session.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { expectedTensors, loadCheckpoint, validateTensors } from "./checkpoint.ts";
import type { ModelConfig } from "./config.ts";
import { Decoder, type DecoderOptions } from "./decode.ts";
import { type GenerateOptions, type GeneratedPiece, type GenerationResult, generate } from "./generate.ts";
import { readGenerationConfig, stopIds } from "./generation/stopping.ts";
import { type ModelTensors, type QuantScheme, type QuantizeRequest, describeScheme, quantScheme, quantizeWeights, sameScheme, validateQuantizedTensors } from "./quantize.ts";
import { isQuantizedFolder, readQuantizedFolder } from "./quantized-folder.ts";
import { loadQuantizedCheckpoint } from "./quantize-load.ts";

export interface LoadOptions {
  /**
   * Quantize the weights for decoding (model/quantize.ts): "int8", "int4" or a scheme. A folder that is already
   * quantized loads as it is when the scheme matches, and is refused when it does not.
   */
  quantize?: QuantizeRequest;
}

export interface ForwardResult {
  /** Per row: [n * vocab] logits of every position. */
  logits: Float32Array[];
  /** Per row: [n * hidden] final-norm hidden states of every position. */
  hidden: Float32Array[];
}

export class LoadedModel {
  private tok: TextTokenizer | null | undefined;

  /**
   * `weights` must hold exactly the tensors of `expectedTensors(config)` (float32), or with `quantization` those of
   * `quantizedTensorSpecs(config, quantization)`; they are shared, not copied.
   */
  constructor(
    readonly config: ModelConfig,
    readonly weights: ModelTensors,
    /** Folder the model was read from (tokenizer files are looked up there). */
    readonly dir?: string,
    tokenizer?: TextTokenizer | null,
    /** How the weights are quantized; undefined: float32. */
    readonly quantization?: QuantScheme,
  ) {
    this.tok = tokenizer;
    if (quantization) {
      validateQuantizedTensors(config, quantization, weights, dir ?? "model weights");
      return;
    }
    const shapes = new Map<string, number[]>();
    const specs = new Map(expectedTensors(config).map((s) => [s.name, s.shape]));
    for (const [name, w] of weights) {
      const shape = specs.get(name);
      const n = shape?.reduce((a, b) => a * b, 1);
      shapes.set(name, shape && n === w.length && w instanceof Float32Array ? shape : [w.length]);
    }
    validateTensors(config, shapes, dir ?? "model weights");
  }

  /**
   * Reads a HF checkpoint folder (config.json + safetensors; tokenizer files optional) or a quantized folder written
   * by `saveQuantizedFolder`; `options.quantize` quantizes a float checkpoint as it loads.
   */
  static fromDir(dir: string, options: LoadOptions = {}): LoadedModel {
    if (isQuantizedFolder(dir)) {
      const q = readQuantizedFolder(dir);
      const model = new LoadedModel(q.config, q.tensors, dir, undefined, q.scheme);
      return options.quantize !== undefined ? model.quantize(options.quantize) : model;
    }
    if (options.quantize !== undefined) {
      // Quantized tensor by tensor as the checkpoint is read: the float32 model is never held whole.
      const scheme = quantScheme(options.quantize);
      const q = loadQuantizedCheckpoint(dir, scheme);
      return new LoadedModel(q.config, q.tensors, dir, undefined, scheme);
    }
    const ck = loadCheckpoint(dir);
    return new LoadedModel(ck.config, ck.weights, dir);
  }

  /**
   * This model with block-quantized weights (a new LoadedModel; the float32 arrays are not kept by it). A model that
   * is already quantized returns itself for the same scheme; another scheme is refused (quantizing twice would
   * compound the rounding).
   */
  quantize(request: QuantizeRequest): LoadedModel {
    const scheme = quantScheme(request);
    if (this.quantization) {
      if (sameScheme(this.quantization, scheme)) return this;
      throw new UserError(
        `${this.dir ?? "the model"} is already quantized (${describeScheme(this.quantization)}); asked for ${describeScheme(scheme)}: ` +
          `quantize the float checkpoint instead, or load this folder without --quantize`,
      );
    }
    const weights = quantizeWeights(this.config, this.weights as ReadonlyMap<string, Float32Array>, scheme);
    return new LoadedModel(this.config, weights, this.dir, this.tok, scheme);
  }

  /** The folder's tokenizer (read on first use); null when there is none. */
  get tokenizer(): TextTokenizer | null {
    if (this.tok === undefined) {
      this.tok = this.dir !== undefined && existsSync(join(this.dir, "tokenizer.json")) ? TextTokenizer.fromDir(this.dir) : null;
    }
    return this.tok;
  }

  /** The tokenizer, or a UserError saying that this command needs one. */
  requireTokenizer(what = "this command"): TextTokenizer {
    const t = this.tokenizer;
    if (!t) throw new UserError(`${what} needs tokenizer files (tokenizer.json) in ${this.dir ?? "the model folder"}`);
    return t;
  }

  /**
   * The ids that end generation (see `stopIds`): the eos ids of config.json, generation_config.json and the
   * tokenizer, and <|im_end|> when `chat` (the prompt went through the chat template).
   */
  eosIds(chat = false): number[] {
    const generationConfig = this.dir !== undefined ? readGenerationConfig(this.dir) : undefined;
    return stopIds({ config: this.config, tokenizer: this.tokenizer, generationConfig, chat });
  }

  /** A decoder (its own cache) over these weights. */
  decoder(options: DecoderOptions = {}): Promise<Decoder> {
    return Decoder.create(this.config, this.weights, { ...(this.quantization ? { quantization: this.quantization } : {}), ...options });
  }

  /** Logits and final-norm hidden states of every position of each sequence (rows may differ in length). */
  async forward(rows: readonly (readonly number[])[], compileOptions?: CompileOptions): Promise<ForwardResult> {
    const dec = await this.decoder({ logits: "all", hidden: "all", compile: compileOptions });
    try {
      const out = await dec.prefill(rows);
      return { logits: out.logits, hidden: out.hidden };
    } finally {
      await dec.release();
    }
  }

  /**
   * Streams the generation for one prompt (ids) with a fresh decoder, this model's tokenizer (for the text and stop
   * strings) and, unless `opts.eosIds` is given, its end-of-sequence ids.
   */
  async *generate(prompt: readonly number[], opts: GenerateOptions = {}, decoderOptions: DecoderOptions = {}): AsyncGenerator<GeneratedPiece, GenerationResult> {
    const decoder = await this.decoder({ ...decoderOptions, input: "ids", logits: "last" });
    try {
      return yield* generate(decoder, prompt, { ...opts, eosIds: opts.eosIds ?? this.eosIds() }, this.tokenizer);
    } finally {
      await decoder.release();
    }
  }
}
