// Staggered decoding (docs/method.md, Decoding): the Generator consumes token x_t fused with the thought r_{t-1}
// while the Reasoner consumes the same x_t to produce r_t for the next step. In parallel mode the Reasoner runs in a
// worker thread with its own ONNX Runtime session, so a step costs max(l_G, l_R) instead of l_G + l_R.
import { availableParallelism } from "node:os";
import { Decoder, type Weights } from "../model/decode.ts";
import { EMBED_NAME } from "../model/hf-names.ts";
import { type ModelTensors, type QuantScheme, getQuantized } from "../model/quantize.ts";
import { dequantize } from "../graph/quant.ts";
import { UserError } from "../util/errors.ts";
import type { Feed } from "../runtime/session.ts";
import { type ReasonerHandle, type ReasonerSpec, LocalReasoner, WorkerReasoner } from "./reasoner.ts";
import { embeddingNormScaleOf, thoughtMask } from "./fusion.ts";
import { sharedVocab, type PairConfig } from "./graph.ts";
import { decodeLoop, type JoinableStepModel } from "../model/generation/step-model.ts";

export type DecodeMode = "sequential" | "parallel";

export interface PairWeights {
  pair: PairConfig;
  /** float32 weights, or with `quantization` block-quantized ones (model/quantize.ts). */
  generator: ModelTensors;
  reasoner?: ModelTensors;
  projection?: Float32Array;
  /** How both models' weights are quantized (flythinker/quantize-pair.ts); undefined: float32. */
  quantization?: QuantScheme;
  /**
   * The fusion constant s (the mean row norm of the Generator's float32 embedding table); computed from the table
   * when absent (from its dequantized values for quantized weights).
   */
  thoughtScale?: number;
}

/** A pair with float32 weights (what training graphs and the training-graph path of `verify` need). */
export type FloatPairWeights = PairWeights & { generator: Weights; reasoner?: Weights; quantization?: undefined };

/** The pair as float32 weights; a quantized pair is refused (`what` names who needs float32). */
export function floatPair(model: PairWeights, what: string): FloatPairWeights {
  const float = (w: ModelTensors | undefined) => w === undefined || [...w.values()].every((t) => t instanceof Float32Array);
  if (model.quantization || !float(model.generator) || !float(model.reasoner)) {
    throw new UserError(`${what} needs float32 weights; this pair is quantized`);
  }
  return model as FloatPairWeights;
}

/** The fusion constant s of a pair (see PairWeights.thoughtScale). */
export function pairThoughtScale(model: PairWeights): number {
  if (model.thoughtScale !== undefined) return model.thoughtScale;
  const { vocabSize: V, hiddenSize: dG } = model.pair.generator;
  const table = model.quantization ? dequantize(getQuantized(model.generator, EMBED_NAME, V, dG, model.quantization)) : model.generator.get(EMBED_NAME);
  if (!(table instanceof Float32Array)) throw new Error(`the Generator's weights have no float32 ${EMBED_NAME}`);
  return embeddingNormScaleOf(table, dG);
}

export interface DecoderOptions {
  mode?: DecodeMode;
  /**
   * ONNX Runtime threads of the Generator and the Reasoner sessions. Default: parallel mode gives the Reasoner one
   * core of its own and the Generator the rest; otherwise (one model at a time) each uses every core.
   */
  generatorThreads?: number;
  reasonerThreads?: number;
  /** ONNX Runtime execution providers of both sessions (default ["cpu"]). */
  providers?: string[];
}

/** Chooses the next token from the logits at the current position. */
export type TokenPicker = (logits: Float32Array, generated: readonly number[]) => number;

export interface DecodeStep {
  id: number;
  /** The logits the token was chosen from ([vocab]). */
  logits: Float32Array;
}

/** Graph input of the Generator's decoder: what the thoughts add to the input embeddings [rows, seq, d_G]. */
const THOUGHT_ADD = "thought_add";

/**
 * The Generator's decoder. With a Reasoner its embeddings take `thought_add`, the fused thought vectors the Reasoner
 * computes (already masked), so fusion costs the Generator one addition.
 */
function generatorDecoder(model: PairWeights, threads: number, providers?: string[]): Promise<Decoder> {
  const { pair } = model;
  const compile = { threads, ...(providers ? { providers } : {}) };
  const quantization = model.quantization ? { quantization: model.quantization } : {};
  if (!pair.reasoner) return Decoder.create(pair.generator, model.generator, { compile, ...quantization });
  const dG = pair.generator.hiddenSize;
  return Decoder.create(pair.generator, model.generator, {
    compile,
    ...quantization,
    embedHook: (embeds) => embeds.add(embeds.graph.input(THOUGHT_ADD, "float32", ["rows", "seq", dG])),
  });
}

/**
 * Where the one-token steps spent their time (prefill excluded), summed since the decoder was made.
 * generatorMs: from handing the token to the Reasoner (if it runs) until the Generator's logits are back.
 * reasonerMs: the time after that until the thought is in: the whole Reasoner step when sequential, only the wait for
 * the worker when parallel.
 */
export interface PairTiming {
  steps: number;
  generatorMs: number;
  reasonerMs: number;
}

/** FlyThinker's decoder: a step model over the Generator and (in this thread or a worker) the Reasoner. */
export class PairDecoder implements JoinableStepModel {
  readonly timing: PairTiming = { steps: 0, generatorMs: 0, reasonerMs: 0 };
  /** Each live row's latest thought vector [rows * d_G] (the Generator's extra input at its next step). */
  private thoughts: Float32Array = new Float32Array(0);
  /** Whether the Reasoner is stepped with the Generator (it has nothing to do with "input" enhancement). */
  private reason = false;

  private constructor(
    private readonly model: PairWeights,
    private readonly generator: Decoder,
    private readonly reasoner: ReasonerHandle | undefined,
    /** The embedding-norm constant s used for fusion. */
    readonly thoughtScale: number,
    readonly mode: DecodeMode,
  ) {}

  static async create(model: PairWeights, options: DecoderOptions = {}): Promise<PairDecoder> {
    const { pair } = model;
    const mode = options.mode ?? "parallel";
    const cores = availableParallelism();
    const split = mode === "parallel" && pair.reasoner !== undefined;
    const generator = await generatorDecoder(model, options.generatorThreads ?? (split ? Math.max(1, cores - 1) : cores), options.providers);
    let reasoner: ReasonerHandle | undefined;
    const dG = pair.generator.hiddenSize;
    const scale = pairThoughtScale(model);
    if (pair.reasoner) {
      if (!model.reasoner) throw new Error("PairDecoder: the pair has a Reasoner config but no Reasoner weights");
      const spec: ReasonerSpec = {
        config: pair.reasoner,
        weights: model.reasoner,
        threads: options.reasonerThreads ?? (split ? 1 : cores),
        ...(model.quantization ? { quantization: model.quantization } : {}),
        ...(options.providers ? { providers: options.providers } : {}),
        fusion: { options: pair.fusion, generatorHidden: dG, scale, ...(model.projection ? { projection: model.projection } : {}) },
      };
      reasoner = mode === "parallel" ? await WorkerReasoner.create(spec) : await LocalReasoner.create(spec);
    }
    return new PairDecoder(model, generator, reasoner, scale, mode);
  }

  /** The Generator's extra feed: thought vectors [rows * n * d_G] (zero rows where the mask is 0). */
  private thoughtFeeds(add: Float32Array, rows: number): Record<string, Feed> {
    const dG = this.model.pair.generator.hiddenSize;
    return { [THOUGHT_ADD]: { data: add, dims: [rows, add.length / (rows * dG), dG] } };
  }

  /**
   * Decode after `prompt`. `next` picks each token (sampling) or, for teacher forcing, returns a given token.
   * Stops after maxNewTokens or when `stop(id)` is true (the stop token is yielded).
   */
  async *decode(
    prompt: readonly number[],
    next: TokenPicker,
    maxNewTokens: number,
    stop: (id: number) => boolean = () => false,
  ): AsyncGenerator<DecodeStep> {
    for await (const steps of this.decodeBatch([prompt], (_row, logits, generated) => next(logits, generated), maxNewTokens, stop)) {
      yield steps[0]!;
    }
  }

  /**
   * Decodes a batch of prompts (of any lengths; left-padded) together, with `next` choosing every token (teacher
   * forcing, benches): each step yields one DecodeStep per row still going, with `row` its index in `prompts`. A row
   * ends after maxNewTokens or when `stop(id)` (that token is yielded); the others go on, and both models drop the
   * finished rows from their caches. Row by row, the result equals decoding that prompt alone (up to float rounding
   * of the batched products). Generation with sampling goes through the generation session instead.
   */
  async *decodeBatch(
    prompts: readonly (readonly number[])[],
    next: (row: number, logits: Float32Array, generated: readonly number[]) => number,
    maxNewTokens: number,
    stop: (id: number) => boolean = () => false,
  ): AsyncGenerator<(DecodeStep & { row: number })[]> {
    const V = this.vocabSize;
    const generated: number[][] = prompts.map(() => []);
    const steps = decodeLoop(this, prompts, {
      choose: (logits, live, ids) => {
        live.forEach((row, i) => (ids[i] = next(row, logits.subarray(i * V, (i + 1) * V), generated[row]!)));
      },
      ends: (row, id) => {
        generated[row]!.push(id);
        return stop(id) || generated[row]!.length >= maxNewTokens;
      },
    });
    for await (const { live, ids, logits } of steps) {
      yield live.map((row, i) => ({ row, id: ids[i]!, logits: logits.subarray(i * V, (i + 1) * V) }));
    }
  }

  /** Width of a logits row (the Generator's vocabulary). */
  get vocabSize(): number {
    return this.model.pair.generator.vocabSize;
  }

  /** Ids the Reasoner can embed too (graph.ts, sharedVocab): generation never picks one past them. */
  get usableVocab(): number {
    return sharedVocab(this.model.pair);
  }

  /**
   * Starts a batch (StepModel): both models read the prompts; each row's latest thought is kept for its next step.
   * Returns the Generator's logits [rows, vocab].
   */
  async prefillLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    return this.enter(prompts, false);
  }

  /**
   * Adds rows to the running batch (JoinableStepModel, continuous batching): both models read the new prompts, whose
   * rows come after the live ones. Returns the Generator's logits of the new rows [new rows, vocab].
   */
  async addRowsLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    return this.enter(prompts, this.generator.rows > 0);
  }

  /** Prefill (join false) or join: the prompts' thoughts, then the Generator's logits of their last positions. */
  private async enter(prompts: readonly (readonly number[])[], join: boolean): Promise<Float32Array> {
    if (prompts.length === 0) throw new Error("decode: no prompts");
    prompts.forEach((p, r) => {
      if (p.length === 0) throw new Error(`decode: prompt ${r} is empty`);
    });
    const dG = this.model.pair.generator.hiddenSize;
    const enhance = this.model.pair.fusion.enhance;
    const rows = prompts.length;
    const seq = Math.max(...prompts.map((p) => p.length));
    // `thoughts` holds each row's latest thought vector ([rows * d_G], the Generator's input at the next position);
    // with "input" enhancement no generated position gets one, so it stays zero and the Reasoner, which has nothing
    // left to do, is not stepped.
    this.reason = this.reasoner !== undefined && enhance !== "input";
    const fresh = new Float32Array(rows * dG);
    const joined = () => {
      if (!join) return fresh;
      const all = new Float32Array(this.thoughts.length + fresh.length);
      all.set(this.thoughts);
      all.set(fresh, this.thoughts.length);
      return all;
    };
    if (!this.reasoner) {
      const logits = join ? await this.generator.addRowsLogits(prompts) : await this.generator.prefillLogits(prompts);
      this.thoughts = joined();
      return logits;
    }
    const vectors = join ? await this.reasoner.addRows(prompts) : await this.reasoner.prefill(prompts);
    const add = new Float32Array(rows * seq * dG);
    prompts.forEach((prompt, r) => {
      const P = prompt.length;
      const mask = thoughtMask(P, P, enhance);
      const at = (r * seq + seq - P) * dG; // left padding
      for (let p = 1; p < P; p++) if (mask[p]) add.set(vectors[r]!.subarray((p - 1) * dG, p * dG), at + p * dG); // v_{p-1} at p
      if (this.reason) fresh.set(vectors[r]!.subarray((P - 1) * dG), r * dG);
    });
    const feeds = this.thoughtFeeds(add, rows);
    const logits = join ? await this.generator.addRowsLogits(prompts, feeds) : await this.generator.prefillLogits(prompts, feeds);
    this.thoughts = joined();
    return logits;
  }

  /**
   * What the Generator would predict for these tokens (one per live row) without its thoughts: logits [rows, vocab]
   * of the same step with zero thought vectors, on the same cache, which is left as it was (one extra Generator step;
   * call it before `stepLogits` of the same tokens). The gap to `stepLogits` is how much the thoughts changed the
   * prediction.
   */
  async unthoughtLogits(tokens: readonly number[]): Promise<Float32Array> {
    const extra = this.reasoner ? this.thoughtFeeds(new Float32Array(tokens.length * this.model.pair.generator.hiddenSize), tokens.length) : {};
    return this.generator.peekLogits(tokens, extra);
  }

  /** Keeps only these rows (StepModel) in both caches and in the thoughts. */
  async keepRows(rows: readonly number[]): Promise<void> {
    const dG = this.model.pair.generator.hiddenSize;
    this.generator.keepRows(rows);
    await this.reasoner?.keepRows(rows);
    const kept = new Float32Array(rows.length * dG);
    rows.forEach((i, r) => kept.set(this.thoughts.subarray(i * dG, (i + 1) * dG), r * dG));
    this.thoughts = kept;
  }

  /**
   * One token per row (StepModel) through the Generator (with the rows' thoughts added to its embeddings when there
   * is a Reasoner) and, when the Reasoner reasons, through the Reasoner too, whose new thoughts are kept for the next
   * step. Returns the Generator's logits [rows, vocab].
   */
  async stepLogits(tokens: readonly number[]): Promise<Float32Array> {
    const reason = this.reason;
    const extra = this.reasoner ? this.thoughtFeeds(this.thoughts, tokens.length) : {};
    const t0 = performance.now();
    // Both models consume the same tokens; the Reasoner's thoughts are for the next step. A worker Reasoner gets its
    // tokens first and computes while this thread runs the Generator; a local one runs after it.
    if (reason) this.reasoner!.begin(tokens);
    const logits = await this.generator.stepLogits(tokens, extra);
    const t1 = performance.now();
    if (reason) this.thoughts = await this.reasoner!.thought();
    this.timing.steps++;
    this.timing.generatorMs += t1 - t0;
    if (reason) this.timing.reasonerMs += performance.now() - t1;
    return logits;
  }

  /** Stops the Reasoner worker and releases both sessions. */
  async close(): Promise<void> {
    await this.reasoner?.close();
    await this.generator.release();
  }
}
