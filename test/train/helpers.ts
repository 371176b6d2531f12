// Tiny random models and examples for trainer tests.
import { presetConfig, type ModelConfig } from "../../src/model/config.ts";
import { initParams } from "../../src/model/init.ts";
import type { PairConfig } from "../../src/flythinker/graph.ts";
import { initialProjection, type FusionOptions } from "../../src/flythinker/fusion.ts";
import { flattenPair } from "../../src/flythinker/pair-params.ts";
import type { Example } from "../../src/train/batching.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from "../../src/train/trainer.ts";
import { Rng } from "../../src/util/random.ts";

export function tiny(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    ...presetConfig("tiny"),
    vocabSize: 64,
    hiddenSize: 16,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 8,
    intermediateSize: 32,
    bosTokenId: null,
    eosTokenId: 63,
    ...overrides,
  };
}

/** Weights by graph input name for a pair (projection included when fuse = projection). */
export function pairWeights(pair: PairConfig, seed = 1, std = 0.1): Map<string, Float32Array> {
  const r = pair.reasoner;
  return flattenPair({
    generator: initParams(pair.generator, { seed, std }),
    reasoner: r && initParams(r, { seed: seed + 100, std }),
    projection: r && pair.fusion.fuse === "projection" ? initialProjection(pair.generator.hiddenSize, r.hiddenSize) : undefined,
  });
}

export function fusion(patch: Partial<FusionOptions> = {}): FusionOptions {
  return { lambda: 0.5, fuse: "prefix", enhance: "global", ...patch };
}

/** Random examples: prompt 2..maxPrompt tokens, target 1..maxTarget tokens. */
export function randomExamples(n: number, vocab: number, seed: number, maxPrompt = 8, maxTarget = 8): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `ex${i}`,
    promptIds: Array.from({ length: 2 + rng.int(maxPrompt - 1) }, () => rng.int(vocab)),
    targetIds: Array.from({ length: 1 + rng.int(maxTarget) }, () => rng.int(vocab)),
  }));
}

/** Examples of a learnable pattern: the target repeats the prompt's tokens shifted by one id. */
export function patternExamples(n: number, vocab: number, seed: number, len = 6): Example[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const prompt = Array.from({ length: len }, () => rng.int(vocab - 1));
    return { id: `p${i}`, promptIds: prompt, targetIds: prompt.map((t) => (t + 1) % (vocab - 1)) };
  });
}

export function config(patch: Partial<TrainConfig> = {}): TrainConfig {
  return { ...DEFAULT_TRAIN_CONFIG, lr: 1e-2, batchTokens: 64, warmupRatio: 0.1, epochs: 2, seed: 3, ...patch };
}
