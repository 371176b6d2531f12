// Random initialisation of a fresh model, as transformers initialises Qwen2/Llama: every projection and embedding
// weight ~ normal(0, initializer_range), RMSNorm weights = 1, biases = 0. Deterministic for a given seed: tensors are
// filled in the fixed parameter order (model/params.ts) from one generator.

import { Rng } from "../util/random.ts";
import type { ModelConfig } from "./config.ts";
import { namedLeaves } from "./hf-names.ts";
import { type Qwen2Params, mapParams, numel, paramSpecs } from "./params.ts";

export interface InitOptions {
  seed?: number;
  /** Standard deviation of the normal weights (default: config.initializerRange). */
  std?: number;
}

/** Fresh parameters of `config`, each leaf by its init rule. */
export function initParams(config: ModelConfig, opts: InitOptions = {}): Qwen2Params<Float32Array> {
  const rng = new Rng(opts.seed ?? 0);
  const std = opts.std ?? config.initializerRange;
  return mapParams(paramSpecs(config), (spec) => {
    const data = new Float32Array(numel(spec.shape));
    if (spec.init === "normal") rng.fillNormal(data, std);
    else if (spec.init === "ones") data.fill(1);
    return data;
  });
}

/** `initParams` keyed by HF name. */
export function initWeights(config: ModelConfig, opts: InitOptions = {}): Map<string, Float32Array> {
  return new Map(namedLeaves(initParams(config, opts)));
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
