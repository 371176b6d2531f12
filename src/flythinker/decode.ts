// Staggered decoding (DESIGN.md section 1): the Generator consumes token x_t fused with the thought r_{t-1} while the
// Reasoner consumes the same x_t to produce r_t for the next step. In parallel mode the Reasoner runs in a worker
// thread with its own ONNX Runtime session, so a step costs max(l_G, l_R) instead of l_G + l_R.
import { availableParallelism } from "node:os";
import { Decoder, type Weights } from "../model/decode.ts";
import type { Feed } from "../runtime/session.ts";
import { type ReasonerHandle, LocalReasoner, WorkerReasoner } from "./reasoner.ts";
import { PROJECTION_NAME, embeddingNormScaleOf, fuse, thoughtMask } from "./fusion.ts";
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

/** The Generator's decoder; with a Reasoner its embeddings take the fused thoughts (inputs of the extra feeds). */
function generatorDecoder(model: PairWeights, threads: number): Promise<Decoder> {
  const { pair } = model;
  const compile = { threads };
  if (!pair.reasoner) return Decoder.create(pair.generator, model.generator, { compile });
  const dR = pair.reasoner.hiddenSize;
  const weights = new Map(model.generator);
  if (model.projection) weights.set(PROJECTION_NAME, model.projection);
  return Decoder.create(pair.generator, weights, {
    compile,
    embedHook: (embeds) => {
      const g = embeds.graph;
      const prev = g.input("prev_thoughts", "float32", ["rows", "seq", dR]);
      const mask = g.input("thought_mask", "float32", ["rows", "seq"]);
      const scale = g.input("thought_scale", "float32", []);
      const projection = pair.fusion.fuse === "projection"
        ? g.input(PROJECTION_NAME, "float32", [pair.generator.hiddenSize, dR])
        : undefined;
      return fuse(embeds, prev, mask, scale, pair.fusion, projection);
    },
  });
}

/**
 * Where the one-token steps of a pair spent their time (prefill excluded), summed since the decoder was made.
 * generatorMs: from handing the token to the Reasoner until the Generator's logits are back. reasonerMs: the time
 * after that until the thought is in: the whole Reasoner step when sequential, only the wait for the worker when
 * parallel.
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
    if (pair.reasoner) {
      if (!model.reasoner) throw new Error("PairDecoder: the pair has a Reasoner config but no Reasoner weights");
      const spec = { config: pair.reasoner, weights: model.reasoner, threads: options.reasonerThreads ?? (split ? 1 : cores) };
      reasoner = mode === "parallel" ? await WorkerReasoner.create(spec) : await LocalReasoner.create(spec);
    }
    const embed = model.generator.get("model.embed_tokens.weight")!;
    return new PairDecoder(model, generator, reasoner, embeddingNormScaleOf(embed, pair.generator.hiddenSize), mode);
  }

  private thoughtFeeds(prev: Float32Array, mask: Float32Array): Record<string, Feed> {
    const dR = this.model.pair.reasoner!.hiddenSize;
    return {
      prev_thoughts: { data: prev, dims: [1, mask.length, dR] },
      thought_mask: { data: mask, dims: [1, mask.length] },
      thought_scale: Float32Array.of(this.thoughtScale),
    };
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
    if (prompt.length === 0) throw new Error("decode: empty prompt");
    const P = prompt.length;
    const dR = this.model.pair.reasoner?.hiddenSize ?? 0;
    const enhance = this.model.pair.fusion.enhance;

    let lastThought: Float32Array | undefined;
    let logits: Float32Array;
    if (this.reasoner) {
      const thoughts = await this.reasoner.prefill(prompt);
      const prev = new Float32Array(P * dR);
      prev.set(thoughts.subarray(0, (P - 1) * dR), dR); // r_{p-1} at p; zero at p = 0
      lastThought = thoughts.slice((P - 1) * dR);
      logits = (await this.generator.prefill([prompt], this.thoughtFeeds(prev, thoughtMask(P, P, enhance)))).logits[0]!;
    } else {
      logits = (await this.generator.prefill([prompt])).logits[0]!;
    }

    const generated: number[] = [];
    // Every generated token sits at a response position.
    const responseMask = Float32Array.of(enhance === "input" ? 0 : 1);
    for (let t = 0; t < maxNewTokens; t++) {
      const id = next(logits, generated);
      generated.push(id);
      yield { id, logits };
      if (stop(id) || t === maxNewTokens - 1) break;
      if (!this.reasoner) {
        logits = (await this.generator.step([id])).logits[0]!;
        continue;
      }
      const fused = this.thoughtFeeds(lastThought!, responseMask);
      // Both models consume the same token; the Reasoner's thought is for the next step. A worker Reasoner gets its
      // token first and computes while this thread runs the Generator; a local one runs after it.
      const t0 = performance.now();
      this.reasoner.begin(id);
      logits = (await this.generator.step([id], fused)).logits[0]!;
      const t1 = performance.now();
      lastThought = await this.reasoner.thought();
      this.timing.steps++;
      this.timing.generatorMs += t1 - t0;
      this.timing.reasonerMs += performance.now() - t1;
    }
  }

  /** Stops the Reasoner worker and releases both sessions. */
  async close(): Promise<void> {
    await this.reasoner?.close();
    await this.generator.release();
  }
}
