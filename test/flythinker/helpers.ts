// Tiny random Generator/Reasoner pairs and feeds for FlyThinker tests.
import { presetConfig, type ModelConfig } from "../../src/model/config.ts";
import { initWeights } from "../../src/model/init.ts";
import type { PairConfig } from "../../src/flythinker/graph.ts";
import { initialProjection, type FusionOptions } from "../../src/flythinker/fusion.ts";
import type { PairWeights } from "../../src/flythinker/decode.ts";
import { Rng } from "../../src/util/random.ts";

export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  const base = presetConfig("tiny");
  const c = { ...base, vocabSize: 96, hiddenSize: 32, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 48, numLayers: 2, ...overrides };
  if (overrides.hiddenSize && !overrides.headDim) c.headDim = c.hiddenSize / c.numHeads;
  return c;
}

export function makePair(
  fusion: FusionOptions,
  sizes: { gen?: Partial<ModelConfig>; rsn?: Partial<ModelConfig> | null } = {},
  seed = 1,
): PairWeights {
  const generator = tinyConfig(sizes.gen);
  const reasoner = sizes.rsn === null ? undefined : tinyConfig({ hiddenSize: 16, numHeads: 2, numKvHeads: 1, ...sizes.rsn });
  const pair: PairConfig = { generator, reasoner, fusion };
  const weights: PairWeights = {
    pair,
    generator: initWeights(generator, { seed, std: 0.2 }),
    reasoner: reasoner ? initWeights(reasoner, { seed: seed + 100, std: 0.2 }) : undefined,
  };
  if (reasoner && fusion.fuse === "projection") {
    const p = initialProjection(generator.hiddenSize, reasoner.hiddenSize);
    const rng = new Rng(seed + 7);
    for (let i = 0; i < p.length; i++) p[i] = p[i]! + rng.normal() * 0.1;
    weights.projection = p;
  }
  return weights;
}

export function randomIds(n: number, vocab: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.int(vocab));
}

/** Feeds for buildLossGraph with one row: prompt + target, labels on the target tokens. */
export { teacherForcedFeeds as lossFeeds } from "../../src/flythinker/verify.ts";
