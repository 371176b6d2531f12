// One model with a KV cache, compiled once for prefill and single-token steps (same graph, symbolic past length).
// Used for the Reasoner (returns thoughts) and for the Generator (takes thoughts to fuse, returns next-token logits).
import { Graph, type Tensor } from "../graph/index.ts";
import { compile, type CompiledGraph, type Feed } from "../runtime/session.ts";
import type { ModelConfig } from "../model/config.ts";
import { declareParams, embedTokens, forward, type KVCache } from "../model/qwen2.ts";
import { type FusionOptions, PROJECTION_NAME, fuse } from "./fusion.ts";

export type Weights = ReadonlyMap<string, Float32Array>;

export interface RunnerSpec {
  config: ModelConfig;
  weights: Weights;
  /** Generator side of FlyThinker: fuse thoughts of this size into the embeddings. */
  fusion?: { options: FusionOptions; thoughtSize: number; projection?: Float32Array };
  /** Also output final-norm hidden states of every position (the Reasoner's thoughts). */
  wantHidden?: boolean;
  /** Output logits of the last position (the Generator). */
  wantLogits?: boolean;
  threads?: number;
}

export interface RunResult {
  /** [seq * hiddenSize] hidden states of the fed positions (when wantHidden). */
  hidden?: Float32Array;
  /** [vocab] logits at the last fed position (when wantLogits). */
  logits?: Float32Array;
}

/** Inputs of a fused step: the thought r_{p-1} for each fed position p and whether to add it. */
export interface StepThoughts {
  prev: Float32Array; // [seq * thoughtSize]
  mask: Float32Array; // [seq]
  scale: number;
}

export class CachedRunner {
  private past: Float32Array[] = [];
  private pastLen = 0;
  private readonly feedsBase: Record<string, Feed> = {};

  private constructor(
    private readonly spec: RunnerSpec,
    private readonly compiled: CompiledGraph,
  ) {
    for (const [name, w] of spec.weights) this.feedsBase[name] = w;
    if (spec.fusion?.projection) this.feedsBase[PROJECTION_NAME] = spec.fusion.projection;
    this.reset();
  }

  static async create(spec: RunnerSpec): Promise<CachedRunner> {
    const { config } = spec;
    const g = new Graph();
    const params = declareParams(g, config);
    const ids = g.input("ids", "int64", [1, "seq"]);
    const past: KVCache = { keys: [], values: [] };
    for (let i = 0; i < config.numLayers; i++) {
      past.keys.push(g.input(`past.${i}.key`, "float32", [1, config.numKvHeads, "past", config.headDim]));
      past.values.push(g.input(`past.${i}.value`, "float32", [1, config.numKvHeads, "past", config.headDim]));
    }
    let embeds = embedTokens(params, ids);
    if (spec.fusion) {
      const prev = g.input("prev_thoughts", "float32", [1, "seq", spec.fusion.thoughtSize]);
      const mask = g.input("thought_mask", "float32", [1, "seq"]);
      const scale = g.input("thought_scale", "float32", []);
      const projection = spec.fusion.options.fuse === "projection"
        ? g.input(PROJECTION_NAME, "float32", [config.hiddenSize, spec.fusion.thoughtSize])
        : undefined;
      embeds = fuse(embeds, prev, mask, scale, spec.fusion.options, projection);
    }
    const out = forward(config, params, { embeds, past, lastOnly: true });
    const outputs: Record<string, Tensor> = {};
    out.present.keys.forEach((k, i) => (outputs[`present.${i}.key`] = k));
    out.present.values.forEach((v, i) => (outputs[`present.${i}.value`] = v));
    if (spec.wantHidden) outputs.hidden = out.hidden;
    if (spec.wantLogits) outputs.logits = out.logits;
    const compiled = await compile(g, outputs, { threads: spec.threads });
    return new CachedRunner(spec, compiled);
  }

  /** Forget the cache (start a new sequence). */
  reset(): void {
    const { numLayers } = this.spec.config;
    this.past = Array.from({ length: 2 * numLayers }, () => new Float32Array(0));
    this.pastLen = 0;
  }

  get length(): number {
    return this.pastLen;
  }

  /** Feed `ids` (the next positions of the sequence); the cache grows by ids.length. */
  async run(ids: readonly number[], thoughts?: StepThoughts): Promise<RunResult> {
    const { config } = this.spec;
    const seq = ids.length;
    const feeds: Record<string, Feed> = {
      ...this.feedsBase,
      ids: { data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [1, seq] },
    };
    const kvDims = [1, config.numKvHeads, this.pastLen, config.headDim];
    for (let i = 0; i < config.numLayers; i++) {
      feeds[`past.${i}.key`] = { data: this.past[2 * i]!, dims: kvDims };
      feeds[`past.${i}.value`] = { data: this.past[2 * i + 1]!, dims: kvDims };
    }
    if (this.spec.fusion) {
      if (!thoughts) throw new Error("CachedRunner: a fused model needs thoughts for every step");
      feeds.prev_thoughts = { data: thoughts.prev, dims: [1, seq, this.spec.fusion.thoughtSize] };
      feeds.thought_mask = { data: thoughts.mask, dims: [1, seq] };
      feeds.thought_scale = Float32Array.of(thoughts.scale);
    }
    const out = await this.compiled.run(feeds);
    for (let i = 0; i < config.numLayers; i++) {
      this.past[2 * i] = out[`present.${i}.key`]!.data as Float32Array;
      this.past[2 * i + 1] = out[`present.${i}.value`]!.data as Float32Array;
    }
    this.pastLen += seq;
    return {
      hidden: out.hidden?.data as Float32Array | undefined,
      logits: out.logits?.data as Float32Array | undefined,
    };
  }
}
