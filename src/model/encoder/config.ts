// Configuration of a BERT-family encoder (BERT, RoBERTa, DistilBERT), read from a Hugging Face config.json.
import { readFileSync } from "node:fs";
import { UserError } from "../../util/errors.ts";

export const ENCODER_TYPES = ["bert", "roberta", "distilbert"] as const;
export type EncoderType = (typeof ENCODER_TYPES)[number];

export interface EncoderConfig {
  modelType: EncoderType;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  /** Rows of the token-type table (0 for DistilBERT, which has none); every token uses type 0. */
  typeVocabSize: number;
  layerNormEps: number;
  /** The padding id; RoBERTa's positions start after it (`padding_idx`). */
  padTokenId: number;
}

/** Builds an encoder config from the parsed JSON of a config.json (`source` names the file in messages). */
export function parseEncoderConfig(json: unknown, source = "config.json"): EncoderConfig {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new UserError(`${source}: expected a JSON object at the top level`);
  }
  const o = json as Record<string, unknown>;
  const mt = o.model_type;
  if (!(ENCODER_TYPES as readonly unknown[]).includes(mt)) {
    throw new UserError(
      `${source}: model_type ${JSON.stringify(mt ?? null)} is not a supported encoder (supported: ${ENCODER_TYPES.join(", ")})`,
    );
  }
  const modelType = mt as EncoderType;
  const field = (name: string, dflt?: number, min = 1): number => {
    const v = o[name];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw new UserError(`${source}: missing required field "${name}" (an integer >= ${min})`);
    }
    if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
      throw new UserError(`${source}: field "${name}" must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const activation = (name: string): void => {
    const v = o[name];
    if (v !== undefined && v !== "gelu") {
      throw new UserError(`${source}: field "${name}" must be "gelu" (the exact erf GELU), got ${JSON.stringify(v)}`);
    }
  };
  const eps = (): number => {
    const v = o.layer_norm_eps;
    if (v === undefined || v === null) return 1e-12;
    if (typeof v !== "number" || !(v > 0)) throw new UserError(`${source}: field "layer_norm_eps" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  let config: EncoderConfig;
  if (modelType === "distilbert") {
    activation("activation");
    if (o.sinusoidal_pos_embds === true) {
      throw new UserError(`${source}: "sinusoidal_pos_embds": true is not supported (learned positions only)`);
    }
    config = {
      modelType,
      vocabSize: field("vocab_size"),
      hiddenSize: field("dim"),
      numLayers: field("n_layers"),
      numHeads: field("n_heads"),
      intermediateSize: field("hidden_dim"),
      maxPositionEmbeddings: field("max_position_embeddings", 512),
      typeVocabSize: 0,
      layerNormEps: 1e-12, // fixed in DistilBERT's code
      padTokenId: field("pad_token_id", 0, 0),
    };
  } else {
    activation("hidden_act");
    const pet = o.position_embedding_type;
    if (pet !== undefined && pet !== null && pet !== "absolute") {
      throw new UserError(`${source}: field "position_embedding_type" must be "absolute", got ${JSON.stringify(pet)}`);
    }
    config = {
      modelType,
      vocabSize: field("vocab_size"),
      hiddenSize: field("hidden_size"),
      numLayers: field("num_hidden_layers"),
      numHeads: field("num_attention_heads"),
      intermediateSize: field("intermediate_size"),
      maxPositionEmbeddings: field("max_position_embeddings", 512),
      typeVocabSize: field("type_vocab_size", 2),
      layerNormEps: eps(),
      padTokenId: field("pad_token_id", modelType === "roberta" ? 1 : 0, 0),
    };
  }
  if (config.hiddenSize % config.numHeads !== 0) {
    throw new UserError(`${source}: the hidden size ${config.hiddenSize} is not divisible by the ${config.numHeads} heads`);
  }
  return config;
}

/** Reads and parses an encoder's config.json. */
export function readEncoderConfig(path: string): EncoderConfig {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`cannot read ${path} as JSON: ${(e as Error).message}`);
  }
  return parseEncoderConfig(json, path);
}

/**
 * Position ids of one row of token ids: 0..n-1 (BERT, DistilBERT), or for RoBERTa padding_idx + the running count
 * of non-padding tokens at real tokens and padding_idx at padding (the first real token gets padding_idx + 1).
 */
export function positionIds(config: EncoderConfig, ids: readonly number[]): number[] {
  if (config.modelType !== "roberta") return ids.map((_, i) => i);
  let count = 0;
  return ids.map((id) => (id === config.padTokenId ? config.padTokenId : config.padTokenId + ++count));
}
