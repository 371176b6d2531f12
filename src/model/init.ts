// Random initialisation of a fresh model, as transformers initialises Qwen2/Llama: every projection and embedding
// weight ~ normal(0, initializer_range), RMSNorm weights = 1, biases = 0. Deterministic for a given seed: tensors are
// filled in the order of `expectedTensors(config)` from one generator.

import { Rng } from "../util/random.ts";
import type { ModelConfig } from "./config.ts";
import { expectedTensors } from "./checkpoint.ts";

export interface InitOptions {
  seed?: number;
  /** Standard deviation of the normal weights (default: config.initializerRange). */
  std?: number;
}

export function initWeights(config: ModelConfig, opts: InitOptions = {}): Map<string, Float32Array> {
  const rng = new Rng(opts.seed ?? 0);
  const std = opts.std ?? config.initializerRange;
  const weights = new Map<string, Float32Array>();
  for (const spec of expectedTensors(config)) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    if (spec.init === "normal") rng.fillNormal(data, std);
    else if (spec.init === "ones") data.fill(1);
    weights.set(spec.name, data);
  }
  return weights;
}
