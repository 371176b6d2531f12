// Staggered decoding (DESIGN.md section 1): the Generator consumes token x_t fused with the thought r_{t-1} while the
// Reasoner consumes the same x_t to produce r_t for the next step. In parallel mode the Reasoner runs in a worker
// thread with its own ONNX Runtime session, so a step costs max(l_G, l_R) instead of l_G + l_R.
import { CachedRunner, type Weights } from "./runner.ts";
import { type ReasonerHandle, LocalReasoner, WorkerReasoner } from "./reasoner.ts";
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
  /** ONNX Runtime threads of the Generator and the Reasoner sessions (default 1 each). */
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

export class PairDecoder {
  private constructor(
    private readonly model: PairWeights,
    private readonly generator: CachedRunner,
    private readonly reasoner: ReasonerHandle | undefined,
    private readonly scale: number,
    readonly mode: DecodeMode,
  ) {}

  static async create(model: PairWeights, options: DecoderOptions = {}): Promise<PairDecoder> {
    const { pair } = model;
    const mode = options.mode ?? "parallel";
    const generator = await CachedRunner.create({
      config: pair.generator,
      weights: model.generator,
      fusion: pair.reasoner
        ? { options: pair.fusion, thoughtSize: pair.reasoner.hiddenSize, projection: model.projection }
        : undefined,
      wantLogits: true,
      threads: options.generatorThreads ?? 1,
    });
    let reasoner: ReasonerHandle | undefined;
    if (pair.reasoner) {
      if (!model.reasoner) throw new Error("PairDecoder: the pair has a Reasoner config but no Reasoner weights");
      const spec = { config: pair.reasoner, weights: model.reasoner, threads: options.reasonerThreads ?? 1 };
      reasoner = mode === "parallel" ? await WorkerReasoner.create(spec) : await LocalReasoner.create(spec);
    }
    const embed = model.generator.get("model.embed_tokens.weight")!;
    return new PairDecoder(model, generator, reasoner, embeddingNormScaleOf(embed, pair.generator.hiddenSize), mode);
  }

  /** The embedding-norm constant s used for fusion. */
  get thoughtScale(): number {
    return this.scale;
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
    this.generator.reset();
    this.reasoner?.reset();

    let lastThought: Float32Array | undefined;
    let logits: Float32Array;
    if (this.reasoner) {
      const thoughts = await this.reasoner.run([...prompt]);
      const prev = new Float32Array(P * dR);
      prev.set(thoughts.subarray(0, (P - 1) * dR), dR); // r_{p-1} at p; zero at p = 0
      lastThought = thoughts.slice((P - 1) * dR);
      const mask = thoughtMask(P, P, enhance);
      logits = (await this.generator.run(prompt, { prev, mask, scale: this.scale })).logits!;
    } else {
      logits = (await this.generator.run(prompt)).logits!;
    }

    const generated: number[] = [];
    for (let t = 0; t < maxNewTokens; t++) {
      const id = next(logits, generated);
      generated.push(id);
      yield { id, logits };
      if (stop(id) || t === maxNewTokens - 1) break;
      if (this.reasoner) {
        // Position P + t holds a response token.
        const mask = Float32Array.of(enhance === "input" ? 0 : 1);
        const fusedInput = { prev: lastThought!, mask, scale: this.scale };
        if (this.mode === "parallel") {
          // Both models consume the same token at once; the Reasoner's answer is for the next step.
          const [g, r] = await Promise.all([this.generator.run([id], fusedInput), this.reasoner.run([id])]);
          logits = g.logits!;
          lastThought = r;
        } else {
          logits = (await this.generator.run([id], fusedInput)).logits!;
          lastThought = await this.reasoner.run([id]);
        }
      } else {
        logits = (await this.generator.run([id])).logits!;
      }
    }
  }

  async close(): Promise<void> {
    await this.reasoner?.close();
  }
}
