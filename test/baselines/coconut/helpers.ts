// Tiny random models and stage examples for the Coconut tests.
import { initWeights } from "../../../src/model/init.ts";
import type { ModelConfig } from "../../../src/model/config.ts";
import type { Feed } from "../../../src/runtime/session.ts";
import { stageExample, type CoconutExample, type LatentTokens, type StageOptions } from "../../../src/baselines/coconut/layout.ts";
import { tinyConfig, randomIds } from "../../flythinker/helpers.ts";

export { tinyConfig, randomIds };

export const TOKENS: LatentTokens = { bot: 93, eot: 94, latent: 95 };
export const EOS = 2;

export function tinyModel(seed = 3, overrides: Partial<ModelConfig> = {}): { config: ModelConfig; weights: Map<string, Float32Array> } {
  const config = tinyConfig(overrides);
  return { config, weights: initWeights(config, { seed, std: 0.2 }) };
}

/** Question, steps and answer of random ids below 90 (clear of the markers). */
export function sample(seed: number, qLen: number, stepLens: number[], aLen: number) {
  return {
    q: randomIds(qLen, 90, seed).map((x) => x + 3),
    steps: stepLens.map((n, i) => randomIds(n, 90, seed * 10 + i).map((x) => x + 3)),
    a: randomIds(aLen, 90, seed + 77).map((x) => x + 3),
  };
}

export function example(seed: number, qLen: number, stepLens: number[], aLen: number, o: Omit<StageOptions, "eosId">): CoconutExample {
  const s = sample(seed, qLen, stepLens, aLen);
  return stageExample(s.q, s.steps, s.a, TOKENS, { ...o, eosId: EOS }, `ex${seed}`);
}

/** Weight feeds by HF name (optionally prefixed). */
export function weightFeeds(weights: ReadonlyMap<string, Float32Array>, f64 = false, prefix = ""): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [k, v] of weights) out[prefix + k] = f64 ? Float64Array.from(v) : v;
  return out;
}
