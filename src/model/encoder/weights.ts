// The weights of a BERT-family encoder by their Hugging Face names (without the `bert.` / `roberta.` /
// `distilbert.` prefix), what each one's shape must be, and reading them from a folder's safetensors.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../util/errors.ts";
import { type LoadedTensor, readSafetensors, readShardedSafetensors } from "../safetensors.ts";
import type { EncoderConfig } from "./config.ts";

/** A projection's names: `${name}.weight` [out, in] and `${name}.bias` [out]. */
export interface EncoderLayerNames {
  q: string;
  k: string;
  v: string;
  o: string;
  attnNorm: string;
  up: string;
  down: string;
  ffnNorm: string;
}

export interface EncoderNames {
  word: string;
  position: string;
  /** Absent for DistilBERT. */
  tokenType?: string;
  embedNorm: string;
  layers: EncoderLayerNames[];
}

/** The HF names (prefix stripped) of every weight an encoder with this config reads. */
export function encoderNames(config: EncoderConfig): EncoderNames {
  const distil = config.modelType === "distilbert";
  const layers = Array.from({ length: config.numLayers }, (_, i): EncoderLayerNames => {
    if (distil) {
      const a = `transformer.layer.${i}`;
      return {
        q: `${a}.attention.q_lin`,
        k: `${a}.attention.k_lin`,
        v: `${a}.attention.v_lin`,
        o: `${a}.attention.out_lin`,
        attnNorm: `${a}.sa_layer_norm`,
        up: `${a}.ffn.lin1`,
        down: `${a}.ffn.lin2`,
        ffnNorm: `${a}.output_layer_norm`,
      };
    }
    const a = `encoder.layer.${i}`;
    return {
      q: `${a}.attention.self.query`,
      k: `${a}.attention.self.key`,
      v: `${a}.attention.self.value`,
      o: `${a}.attention.output.dense`,
      attnNorm: `${a}.attention.output.LayerNorm`,
      up: `${a}.intermediate.dense`,
      down: `${a}.output.dense`,
      ffnNorm: `${a}.output.LayerNorm`,
    };
  });
  return {
    word: "embeddings.word_embeddings.weight",
    position: "embeddings.position_embeddings.weight",
    tokenType: distil ? undefined : "embeddings.token_type_embeddings.weight",
    embedNorm: "embeddings.LayerNorm",
    layers,
  };
}

/** Every tensor name and its shape. */
export function encoderTensorShapes(config: EncoderConfig): Map<string, number[]> {
  const { vocabSize: V, hiddenSize: D, intermediateSize: F, maxPositionEmbeddings: P, typeVocabSize: T } = config;
  const n = encoderNames(config);
  const out = new Map<string, number[]>();
  const linear = (name: string, o: number, i: number) => {
    out.set(`${name}.weight`, [o, i]);
    out.set(`${name}.bias`, [o]);
  };
  const norm = (name: string) => {
    out.set(`${name}.weight`, [D]);
    out.set(`${name}.bias`, [D]);
  };
  out.set(n.word, [V, D]);
  out.set(n.position, [P, D]);
  if (n.tokenType) out.set(n.tokenType, [T, D]);
  norm(n.embedNorm);
  for (const l of n.layers) {
    for (const p of [l.q, l.k, l.v, l.o]) linear(p, D, D);
    norm(l.attnNorm);
    linear(l.up, F, D);
    linear(l.down, D, F);
    norm(l.ffnNorm);
  }
  return out;
}

const PREFIXES: Record<EncoderConfig["modelType"], string> = { bert: "bert.", roberta: "roberta.", distilbert: "distilbert." };

/**
 * The name a stored tensor has here: without the model's prefix, and with the old LayerNorm names `gamma` / `beta`
 * read as `weight` / `bias`.
 */
export function canonicalName(config: EncoderConfig, stored: string): string {
  const prefix = PREFIXES[config.modelType];
  let name = stored.startsWith(prefix) ? stored.slice(prefix.length) : stored;
  if (name.endsWith(".gamma")) name = `${name.slice(0, -6)}.weight`;
  else if (name.endsWith(".beta")) name = `${name.slice(0, -5)}.bias`;
  return name;
}

/**
 * Reads the encoder's weights from `dir` (model.safetensors or a sharded index). Tensors it does not use (pooler,
 * LM or classification heads) are skipped; a missing tensor or a wrong shape is an error naming the file.
 */
export function readEncoderWeights(dir: string, config: EncoderConfig): Map<string, Float32Array> {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  let tensors: Map<string, LoadedTensor>;
  let source: string;
  if (existsSync(single)) {
    tensors = readSafetensors(single).tensors;
    source = single;
  } else if (existsSync(index)) {
    tensors = readShardedSafetensors(index).tensors;
    source = index;
  } else {
    throw new UserError(`encoder folder ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  }
  const byName = new Map<string, LoadedTensor>();
  for (const [stored, t] of tensors) byName.set(canonicalName(config, stored), t);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of encoderTensorShapes(config)) {
    const t = byName.get(name);
    if (!t) {
      throw new UserError(`${source}: missing tensor "${name}" (also looked for "${PREFIXES[config.modelType]}${name}" and gamma/beta names)`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${source}: tensor "${name}" has shape [${t.shape}], the config says [${shape}]`);
    }
    out.set(name, t.data);
  }
  return out;
}
