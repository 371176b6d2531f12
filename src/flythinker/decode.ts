// Staggered decoding (docs/method.md, Decoding): the Generator consumes token x_t fused with the thought r_{t-1}
// while the Reasoner consumes the same x_t to produce r_t for the next step. In parallel mode the Reasoner runs in a
// worker thread with its own ONNX Runtime session, so a step costs max(l_G, l_R) instead of l_G + l_R.
import { availableParallelism } from "node:os";
import { Decoder, type Weights } from "../model/decode.ts";
import type { Feed } from "../runtime/session.ts";
import { type ReasonerHandle, type ReasonerSpec, LocalReasoner, WorkerReasoner } from "./reasoner.ts";
import { embeddingNormScaleOf, thoughtMask } from "./fusion.ts";
import type { PairConfig } from "./graph.ts";

export type DecodeMode = "sequential" | "parallel";

export interface PairWeights {
  pair: PairConfig;
  generator: Weights;
  reasoner?: Weights;
  projection?: Float32Array;
}

export interface DecoderOptions {
  mode?: DecodeMode;
  /**
   * ONNX Runtime threads of the Generator and the Reasoner sessions. Default: parallel mode gives the Reasoner one
   * core of its own and the Generator the rest; otherwise (one model at a time) each uses every core.
   */
  generatorThreads?: number;
  reasonerThreads?: number;
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
function generatorDecoder(model: PairWeights, threads: number): Promise<Decoder> {
  const { pair } = model;
  const compile = { threads };
  if (!pair.reasoner) return Decoder.create(pair.generator, model.generator, { compile });
  const dG = pair.generator.hiddenSize;
  return Decoder.create(pair.generator, model.generator, {
    compile,
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

export class PairDecoder {
  readonly timing: PairTiming = { steps: 0, generatorMs: 0, reasonerMs: 0 };

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
    const generator = await generatorDecoder(model, options.generatorThreads ?? (split ? Math.max(1, cores - 1) : cores));
    let reasoner: ReasonerHandle | undefined;
    const dG = pair.generator.hiddenSize;
    const scale = embeddingNormScaleOf(model.generator.get("model.embed_tokens.weight")!, dG);
    if (pair.reasoner) {
      if (!model.reasoner) throw new Error("PairDecoder: the pair has a Reasoner config but no Reasoner weights");
      const spec: ReasonerSpec = {
        config: pair.reasoner,
        weights: model.reasoner,
        threads: options.reasonerThreads ?? (split ? 1 : cores),
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
   * Decodes a batch of prompts (of any lengths; left-padded) together: each step yields one DecodeStep per row still
   * going, with `row` its index in `prompts`. A row ends after maxNewTokens or when `stop(id)` (that token is yielded);
   * the others go on, and both models drop the finished rows from their caches. Row by row, the result equals
   * decoding that prompt alone (up to float rounding of the batched products).
   */
  async *decodeBatch(
    prompts: readonly (readonly number[])[],
    next: (row: number, logits: Float32Array, generated: readonly number[]) => number,
    maxNewTokens: number,
    stop: (id: number) => boolean = () => false,
  ): AsyncGenerator<(DecodeStep & { row: number })[]> {
    if (prompts.length === 0) throw new Error("decode: no prompts");
    prompts.forEach((p, r) => {
      if (p.length === 0) throw new Error(`decode: prompt ${r} is empty`);
    });
    const dG = this.model.pair.generator.hiddenSize;
    const enhance = this.model.pair.fusion.enhance;
    const rows = prompts.length;
    const seq = Math.max(...prompts.map((p) => p.length));

    // Per row still going: its index in `prompts` and its tokens so far. `thoughts` holds each row's latest thought
    // vector ([rows * d_G], the Generator's input at the next position); with "input" enhancement no generated
    // position gets one, so it stays zero and the Reasoner, which has nothing left to do, is not stepped.
    let active = prompts.map((_, r) => r);
    const generated: number[][] = prompts.map(() => []);
    const reason = this.reasoner !== undefined && enhance !== "input";
    let thoughts: Float32Array = new Float32Array(rows * dG);
    let logits: Float32Array[];
    if (this.reasoner) {
      const vectors = await this.reasoner.prefill(prompts);
      const add = new Float32Array(rows * seq * dG);
      prompts.forEach((prompt, r) => {
        const P = prompt.length;
        const mask = thoughtMask(P, P, enhance);
        const at = (r * seq + seq - P) * dG; // left padding
        for (let p = 1; p < P; p++) if (mask[p]) add.set(vectors[r]!.subarray((p - 1) * dG, p * dG), at + p * dG); // v_{p-1} at p
        if (reason) thoughts.set(vectors[r]!.subarray((P - 1) * dG), r * dG);
      });
      logits = (await this.generator.prefill(prompts, this.thoughtFeeds(add, rows))).logits;
    } else {
      logits = (await this.generator.prefill(prompts)).logits;
    }

    for (let t = 0; ; t++) {
      const ids = active.map((row, i) => next(row, logits[i]!, generated[row]!));
      const steps = active.map((row, i) => ({ row, id: ids[i]!, logits: logits[i]! }));
      ids.forEach((id, i) => generated[active[i]!]!.push(id));
      yield steps;
      const keep = active.map((_, i) => i).filter((i) => !stop(ids[i]!) && t < maxNewTokens - 1);
      if (keep.length === 0) return;
      if (keep.length < active.length) {
        this.generator.keepRows(keep);
        await this.reasoner?.keepRows(keep);
        active = keep.map((i) => active[i]!);
        const kept = new Float32Array(keep.length * dG);
        keep.forEach((i, r) => kept.set(thoughts.subarray(i * dG, (i + 1) * dG), r * dG));
        thoughts = kept;
      }
      const out = await this.step(keep.map((i) => ids[i]!), thoughts, reason);
      logits = out.logits;
      if (out.thoughts) thoughts = out.thoughts;
    }
  }

  /**
   * One token per row through the Generator (with `thoughts` [rows * d_G] added to its embeddings when there is a
   * Reasoner) and, if `reason`, through the Reasoner too: the logits per row and the Reasoner's new thought vectors.
   */
  private async step(
    tokens: number[],
    thoughts: Float32Array,
    reason: boolean,
  ): Promise<{ logits: Float32Array[]; thoughts?: Float32Array }> {
    const extra = this.reasoner ? this.thoughtFeeds(thoughts, tokens.length) : {};
    const t0 = performance.now();
    // Both models consume the same tokens; the Reasoner's thoughts are for the next step. A worker Reasoner gets its
    // tokens first and computes while this thread runs the Generator; a local one runs after it.
    if (reason) this.reasoner!.begin(tokens);
    const logits = (await this.generator.step(tokens, extra)).logits;
    const t1 = performance.now();
    const next = reason ? await this.reasoner!.thought() : undefined;
    this.timing.steps++;
    this.timing.generatorMs += t1 - t0;
    if (reason) this.timing.reasonerMs += performance.now() - t1;
    return { logits, thoughts: next };
  }

  /** Stops the Reasoner worker and releases both sessions. */
  async close(): Promise<void> {
    await this.reasoner?.close();
    await this.generator.release();
  }
}
