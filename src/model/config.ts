// Qwen2-family model configuration: read from / written to a Hugging Face `config.json`, validated, plus presets.
//
// Supported `model_type`s: "qwen2" (q/k/v projections carry biases) and "llama" (no biases unless
// `attention_bias: true`, which in Llama also gives o_proj a bias). Fields this code does not interpret are kept in
// `extra` and written back unchanged, so a config survives a load -> save round trip.

import { readFileSync } from "node:fs";
import { UserError } from "../util/errors.ts";

export type ModelType = "qwen2" | "llama";
export type TorchDtype = "float32" | "bfloat16" | "float16";

export interface ModelConfig {
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  /** Per-head size: `head_dim` when the file gives it, else hiddenSize / numHeads. */
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  tieWordEmbeddings: boolean;
  maxPositionEmbeddings: number;
  /** q_proj, k_proj and v_proj have biases. */
  qkvBias: boolean;
  /** o_proj has a bias (Llama with `attention_bias: true` only). */
  oProjBias: boolean;
  bosTokenId: number | null;
  /** As in the file: one id, a list of ids, or null. Use `eosTokenIds(config)` for a list. */
  eosTokenId: number | number[] | null;
  torchDtype: TorchDtype;
  initializerRange: number;
  /** Fields of config.json not interpreted here, written back unchanged. */
  extra: Record<string, unknown>;
}

/** Keys of config.json that `parseConfig` interprets (everything else goes to `extra`). */
const KNOWN_KEYS = new Set([
  "model_type",
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "num_key_value_heads",
  "head_dim",
  "intermediate_size",
  "rms_norm_eps",
  "rope_theta",
  "tie_word_embeddings",
  "max_position_embeddings",
  "attention_bias",
  "bos_token_id",
  "eos_token_id",
  "torch_dtype",
  "dtype",
  "initializer_range",
  "hidden_act",
  "mlp_bias",
]);

export function eosTokenIds(config: ModelConfig): number[] {
  const e = config.eosTokenId;
  return e === null ? [] : Array.isArray(e) ? [...e] : [e];
}

function fail(source: string, field: string, expected: string, got: unknown): never {
  throw new UserError(`${source}: field "${field}" must be ${expected}, got ${JSON.stringify(got)}`);
}

/**
 * Builds a validated config from the parsed JSON object of a HF `config.json`. `source` (a file path) is used in
 * error messages.
 */
export function parseConfig(json: unknown, source = "config.json"): ModelConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UserError(`${source}: expected a JSON object at the top level`);
  }
  const o = json as Record<string, unknown>;

  const posInt = (field: string, required = true, dflt?: number): number => {
    const v = o[field];
    if (v === undefined || v === null) {
      if (!required && dflt !== undefined) return dflt;
      throw new UserError(`${source}: missing required field "${field}" (a positive integer)`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(source, field, "a positive integer", v);
    return v;
  };
  const posNum = (field: string, dflt: number): number => {
    const v = o[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(source, field, "a positive number", v);
    return v;
  };
  const bool = (field: string, dflt: boolean): boolean => {
    const v = o[field];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") fail(source, field, "true or false", v);
    return v;
  };
  const tokenId = (field: string): number | null => {
    const v = o[field];
    if (v === undefined || v === null) return null;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) fail(source, field, "a non-negative integer or null", v);
    return v;
  };

  const mt = o.model_type;
  if (mt !== "qwen2" && mt !== "llama") {
    fail(source, "model_type", '"qwen2" or "llama" (the Qwen2 family this toolkit runs)', mt);
  }
  const modelType: ModelType = mt;

  const vocabSize = posInt("vocab_size");
  const hiddenSize = posInt("hidden_size");
  const numLayers = posInt("num_hidden_layers");
  const numHeads = posInt("num_attention_heads");
  const numKvHeads = posInt("num_key_value_heads", false, numHeads);
  const intermediateSize = posInt("intermediate_size");
  const maxPositionEmbeddings = posInt("max_position_embeddings", false, modelType === "qwen2" ? 32768 : 2048);

  let headDim: number;
  if (o.head_dim !== undefined && o.head_dim !== null) {
    headDim = posInt("head_dim");
  } else {
    if (hiddenSize % numHeads !== 0) {
      throw new UserError(
        `${source}: "hidden_size" (${hiddenSize}) must be divisible by "num_attention_heads" (${numHeads}) ` +
          `when "head_dim" is not given`,
      );
    }
    headDim = hiddenSize / numHeads;
  }
  if (headDim % 2 !== 0) {
    throw new UserError(`${source}: the head size (${headDim}) must be even for rotary embeddings`);
  }
  if (numHeads % numKvHeads !== 0) {
    throw new UserError(
      `${source}: "num_attention_heads" (${numHeads}) must be a multiple of "num_key_value_heads" (${numKvHeads})`,
    );
  }

  const rmsNormEps = posNum("rms_norm_eps", 1e-6);
  const ropeTheta = posNum("rope_theta", 10000);
  const initializerRange = posNum("initializer_range", 0.02);
  const tieWordEmbeddings = bool("tie_word_embeddings", false);

  // q/k/v biases: Qwen2 always has them in the reference implementation; Llama only with attention_bias.
  const attentionBias = bool("attention_bias", modelType === "qwen2");
  const qkvBias = attentionBias;
  const oProjBias = modelType === "llama" && attentionBias;

  if (bool("mlp_bias", false)) {
    throw new UserError(`${source}: "mlp_bias": true is not supported (gate/up/down projections without biases only)`);
  }
  const act = o.hidden_act;
  if (act !== undefined && act !== null && act !== "silu") {
    fail(source, "hidden_act", '"silu" (SwiGLU MLP)', act);
  }
  const rs = o.rope_scaling;
  if (rs !== undefined && rs !== null) {
    const type = typeof rs === "object" && !Array.isArray(rs) ? (rs as Record<string, unknown>).rope_type ?? (rs as Record<string, unknown>).type : undefined;
    if (type !== "default") {
      fail(source, "rope_scaling", 'null (rotary scaling variants are not supported)', rs);
    }
  }
  if (bool("use_sliding_window", false)) {
    throw new UserError(`${source}: "use_sliding_window": true is not supported (full causal attention only)`);
  }

  const bosTokenId = tokenId("bos_token_id");
  let eosTokenId: number | number[] | null;
  const eos = o.eos_token_id;
  if (Array.isArray(eos)) {
    if (!eos.every((v) => typeof v === "number" && Number.isInteger(v) && v >= 0)) {
      fail(source, "eos_token_id", "a non-negative integer, a list of them, or null", eos);
    }
    eosTokenId = eos as number[];
  } else {
    eosTokenId = tokenId("eos_token_id");
  }
  for (const id of [bosTokenId, ...(Array.isArray(eosTokenId) ? eosTokenId : [eosTokenId])]) {
    if (id !== null && id >= vocabSize) {
      throw new UserError(`${source}: special token id ${id} is outside the vocabulary (vocab_size ${vocabSize})`);
    }
  }

  let torchDtype: TorchDtype = "float32";
  const td = o.torch_dtype ?? o.dtype;
  if (td !== undefined && td !== null) {
    if (td !== "float32" && td !== "bfloat16" && td !== "float16") {
      fail(source, "torch_dtype", '"float32", "bfloat16" or "float16"', td);
    }
    torchDtype = td;
  }

  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (!KNOWN_KEYS.has(k)) extra[k] = v;
  // Fields transformers writes that this code does not use: filled with their defaults, so that a config read from
  // a minimal file and one read from its own saved copy are equal.
  extra.architectures ??= [modelType === "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"];
  extra.rope_scaling ??= null;
  extra.use_cache ??= true;
  extra.attention_dropout ??= 0.0;
  if (modelType === "qwen2") {
    extra.use_sliding_window ??= false;
    extra.sliding_window ??= maxPositionEmbeddings;
    extra.max_window_layers ??= numLayers;
  }

  return {
    modelType,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    rmsNormEps,
    ropeTheta,
    tieWordEmbeddings,
    maxPositionEmbeddings,
    qkvBias,
    oProjBias,
    bosTokenId,
    eosTokenId,
    torchDtype,
    initializerRange,
    extra,
  };
}

/** Reads and validates a HF `config.json` file. */
export function readConfig(path: string): ModelConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`cannot read model config ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(json, path);
}

/** The config as the JSON object of a HF `config.json` (keys sorted, as transformers writes them). */
export function configToJson(config: ModelConfig): Record<string, unknown> {
  const o: Record<string, unknown> = { ...config.extra };
  o.model_type = config.modelType;
  o.vocab_size = config.vocabSize;
  o.hidden_size = config.hiddenSize;
  o.num_hidden_layers = config.numLayers;
  o.num_attention_heads = config.numHeads;
  o.num_key_value_heads = config.numKvHeads;
  if (config.headDim * config.numHeads !== config.hiddenSize) o.head_dim = config.headDim;
  o.intermediate_size = config.intermediateSize;
  o.rms_norm_eps = config.rmsNormEps;
  o.rope_theta = config.ropeTheta;
  o.tie_word_embeddings = config.tieWordEmbeddings;
  o.max_position_embeddings = config.maxPositionEmbeddings;
  o.hidden_act = "silu";
  o.initializer_range = config.initializerRange;
  o.bos_token_id = config.bosTokenId;
  o.eos_token_id = config.eosTokenId;
  o.torch_dtype = config.torchDtype;
  if (config.modelType === "llama") {
    o.attention_bias = config.qkvBias;
    o.mlp_bias = false;
  } else if (!config.qkvBias) {
    o.attention_bias = false;
  }
  const sorted: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) sorted[k] = o[k];
  return sorted;
}

/** The text of a HF-style config.json (2-space indent, sorted keys, trailing newline). */
export function serializeConfig(config: ModelConfig): string {
  return JSON.stringify(configToJson(config), null, 2) + "\n";
}

export type PresetName = "tiny" | "reference" | "qwen2.5-0.5b-shape";
export const PRESET_NAMES: readonly PresetName[] = ["tiny", "reference", "qwen2.5-0.5b-shape"];

function base(): Omit<ModelConfig, "vocabSize" | "hiddenSize" | "numLayers" | "numHeads" | "numKvHeads" | "headDim" | "intermediateSize"> {
  return {
    modelType: "qwen2",
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
    tieWordEmbeddings: false,
    maxPositionEmbeddings: 2048,
    qkvBias: true,
    oProjBias: false,
    bosTokenId: null,
    eosTokenId: null,
    torchDtype: "float32",
    initializerRange: 0.02,
    extra: {},
  };
}

/**
 * Named configs. `tiny` and `reference` put the special tokens where this toolkit's BPE trainer puts them (the last
 * three ids: <|endoftext|> = V-3 as bos, <|im_end|> = V-1 as eos); `qwen2.5-0.5b-shape` uses Qwen2.5's ids.
 */
export function presetConfig(name: string): ModelConfig {
  const raw = rawPreset(name);
  return parseConfig(configToJson(raw), `preset "${name}"`);
}

function rawPreset(name: string): ModelConfig {
  switch (name) {
    case "tiny":
      return { ...base(), vocabSize: 512, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 172, bosTokenId: 509, eosTokenId: 511 };
    case "reference":
      return { ...base(), vocabSize: 4096, hiddenSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 64, intermediateSize: 688, bosTokenId: 4093, eosTokenId: 4095 };
    case "qwen2.5-0.5b-shape":
      return {
        ...base(),
        vocabSize: 151936,
        hiddenSize: 896,
        numLayers: 24,
        numHeads: 14,
        numKvHeads: 2,
        headDim: 64,
        intermediateSize: 4864,
        ropeTheta: 1000000,
        rmsNormEps: 1e-6,
        tieWordEmbeddings: true,
        maxPositionEmbeddings: 32768,
        bosTokenId: 151643,
        eosTokenId: 151643,
        torchDtype: "bfloat16",
      };
    default:
      throw new UserError(`unknown model preset "${name}" (known: ${PRESET_NAMES.join(", ")})`);
  }
}

/**
 * Checks a config built in code (presets edited by hand, options from the CLI) with the same rules as a file.
 * Returns the config as `parseConfig` rebuilds it from its own JSON.
 */
export function validateConfig(config: ModelConfig, source = "model config"): ModelConfig {
  return parseConfig(configToJson(config), source);
}

/** Number of parameters of a model with this config (lm_head counted only when untied). */
export function parameterCount(config: ModelConfig): number {
  const { vocabSize: V, hiddenSize: D, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: F } = config;
  const attn = D * H * hd + 2 * D * KV * hd + H * hd * D + (config.qkvBias ? H * hd + 2 * KV * hd : 0) + (config.oProjBias ? D : 0);
  const layer = attn + 3 * D * F + 2 * D;
  return V * D + config.numLayers * layer + D + (config.tieWordEmbeddings ? 0 : V * D);
}
