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

/** What `withTokenizer` needs of a tokenizer (TextTokenizer has all of it). */
export interface TokenizerIds {
  vocabSize: number;
  eosId: number | null;
  bosId: number | null;
  endOfTextId?: number | null;
}

/**
 * A config fitted to a tokenizer: vocab_size = the tokenizer's vocabulary size (or the config's, when larger and
 * `keepLargerVocab` is set, as Qwen2.5 pads its embedding table), bos = the tokenizer's bos (else <|endoftext|>),
 * eos = the tokenizer's eos.
 */
export function withTokenizer(config: ModelConfig, tok: TokenizerIds, opts: { keepLargerVocab?: boolean } = {}): ModelConfig {
  const vocabSize = opts.keepLargerVocab ? Math.max(config.vocabSize, tok.vocabSize) : tok.vocabSize;
  return {
    ...config,
    vocabSize,
    bosTokenId: tok.bosId ?? tok.endOfTextId ?? null,
    eosTokenId: tok.eosId,
  };
}
