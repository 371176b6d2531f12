// Hugging Face checkpoint folders: config.json + model.safetensors (or sharded model.safetensors.index.json),
// optionally tokenizer files. Loading validates every tensor name and shape against the config; saving writes the
// same layout with HF tensor names into a temporary folder that is then renamed into place.

import { copyFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { type ModelConfig, readConfig, serializeConfig } from "./config.ts";
import { atomicWriteBytes, atomicWriteDir } from "../util/files.ts";
import {
  type LoadedSafetensors,
  type SafetensorsDtype,
  readSafetensors,
  readShardedSafetensors,
  writeSafetensorsShards,
} from "./safetensors.ts";

export interface TensorSpec {
  name: string;
  shape: number[];
  /** How a fresh model initialises it: normal(0, initializer_range), ones (norm weights) or zeros (biases). */
  init: "normal" | "ones" | "zeros";
}

/**
 * Every tensor a model with this config has, with HF names and shapes ([out, in] for projection weights), in a fixed
 * order: embeddings, then layer by layer, final norm, lm_head (only when untied).
 */
export function expectedTensors(config: ModelConfig): TensorSpec[] {
  const { vocabSize: V, hiddenSize: D, numHeads: H, numKvHeads: KV, headDim: hd, intermediateSize: F } = config;
  const out: TensorSpec[] = [{ name: "model.embed_tokens.weight", shape: [V, D], init: "normal" }];
  for (let i = 0; i < config.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [D], init: "ones" });
    out.push({ name: `${p}.self_attn.q_proj.weight`, shape: [H * hd, D], init: "normal" });
    if (config.qkvBias) out.push({ name: `${p}.self_attn.q_proj.bias`, shape: [H * hd], init: "zeros" });
    out.push({ name: `${p}.self_attn.k_proj.weight`, shape: [KV * hd, D], init: "normal" });
    if (config.qkvBias) out.push({ name: `${p}.self_attn.k_proj.bias`, shape: [KV * hd], init: "zeros" });
    out.push({ name: `${p}.self_attn.v_proj.weight`, shape: [KV * hd, D], init: "normal" });
    if (config.qkvBias) out.push({ name: `${p}.self_attn.v_proj.bias`, shape: [KV * hd], init: "zeros" });
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [D, H * hd], init: "normal" });
    if (config.oProjBias) out.push({ name: `${p}.self_attn.o_proj.bias`, shape: [D], init: "zeros" });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [D], init: "ones" });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [F, D], init: "normal" });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [F, D], init: "normal" });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [D, F], init: "normal" });
  }
  out.push({ name: "model.norm.weight", shape: [D], init: "ones" });
  if (!config.tieWordEmbeddings) out.push({ name: "lm_head.weight", shape: [V, D], init: "normal" });
  return out;
}

export interface Checkpoint {
  config: ModelConfig;
  /** Exactly the tensors of `expectedTensors(config)`, as float32. */
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  /** dtype each tensor had on disk. */
  dtypes: Map<string, SafetensorsDtype>;
  /** The folder it was read from. */
  dir: string;
  /** Tokenizer files present in the folder (names relative to `dir`). */
  tokenizerFiles: string[];
}

/** Files that belong to a tokenizer; copied along when a checkpoint is saved from another folder's tokenizer. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.json",
  "merges.txt",
  "added_tokens.json",
  "generation_config.json",
] as const;

/** Tensors some exporters add that carry no parameters (recomputed from the config). */
function isIgnorable(name: string): boolean {
  return name.endsWith(".rotary_emb.inv_freq");
}

const LIST_LIMIT = 12;
function listNames(names: string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(", ");
  return names.length > LIST_LIMIT ? `${shown}, ... (${names.length} in all)` : shown;
}

/**
 * Checks loaded tensors against the config. Throws one UserError listing every missing, unexpected and wrongly
 * shaped tensor. Tied models may carry lm_head.weight (it must then have the embedding's shape; it is dropped).
 */
export function validateTensors(
  config: ModelConfig,
  shapes: Map<string, readonly number[]>,
  source: string,
): void {
  const expected = expectedTensors(config);
  const want = new Map(expected.map((t) => [t.name, t.shape]));
  if (config.tieWordEmbeddings) want.set("lm_head.weight", [config.vocabSize, config.hiddenSize]);
  const missing = expected.filter((t) => !shapes.has(t.name)).map((t) => t.name);
  const unexpected = [...shapes.keys()].filter((n) => !want.has(n) && !isIgnorable(n)).sort();
  const wrong: string[] = [];
  for (const [name, shape] of shapes) {
    const w = want.get(name);
    if (w && (w.length !== shape.length || w.some((v, i) => v !== shape[i]))) {
      wrong.push(`${name} is [${shape.join(", ")}], expected [${w.join(", ")}]`);
    }
  }
  if (missing.length || unexpected.length || wrong.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing tensors: ${listNames(missing)}`);
    if (unexpected.length) parts.push(`unexpected tensors: ${listNames(unexpected)}`);
    if (wrong.length) parts.push(`wrong shapes: ${listNames(wrong)}`);
    throw new UserError(`${source}: the weights do not match the config:\n  ${parts.join("\n  ")}`);
  }
}

/** Reads a HF checkpoint folder (config.json + model.safetensors or model.safetensors.index.json). */
export function loadCheckpoint(dir: string): Checkpoint {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`model folder ${dir} does not exist or is not a folder`);
  }
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new UserError(`model folder ${dir} has no config.json`);
  const config = readConfig(configPath);
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  let loaded: LoadedSafetensors;
  let source: string;
  if (existsSync(single)) {
    loaded = readSafetensors(single);
    source = single;
  } else if (existsSync(index)) {
    loaded = readShardedSafetensors(index);
    source = index;
  } else {
    const found = readdirSync(dir).sort().join(", ") || "nothing";
    throw new UserError(
      `model folder ${dir} has neither model.safetensors nor model.safetensors.index.json (found: ${found}); ` +
        `PyTorch .bin checkpoints are not read, convert them to safetensors first`,
    );
  }
  const shapes = new Map<string, number[]>();
  for (const [name, t] of loaded.tensors) shapes.set(name, t.shape);
  validateTensors(config, shapes, `${source} with ${configPath}`);
  const weights = new Map<string, Float32Array>();
  const outShapes = new Map<string, number[]>();
  const dtypes = new Map<string, SafetensorsDtype>();
  for (const spec of expectedTensors(config)) {
    const t = loaded.tensors.get(spec.name)!;
    weights.set(spec.name, t.data);
    outShapes.set(spec.name, t.shape);
    dtypes.set(spec.name, t.dtype);
  }
  const tokenizerFiles = TOKENIZER_FILES.filter((f) => existsSync(join(dir, f)));
  return { config, weights, shapes: outShapes, dtypes, dir, tokenizerFiles };
}

export interface SaveOptions {
  /** Replace `dir` when it exists (default: refuse). */
  overwrite?: boolean;
  /** Stored dtype (default "F32"; "BF16" rounds to nearest even). config.json's torch_dtype is set to match. */
  dtype?: "F32" | "BF16";
  /** Copy these tokenizer files (those of TOKENIZER_FILES that exist) from this folder. */
  tokenizerFrom?: string;
  /** Extra files to write, name -> contents (e.g. a freshly trained tokenizer.json). */
  files?: Record<string, string | Uint8Array>;
  /** Split into shards above this many bytes (default 5 GB). */
  maxShardBytes?: number;
}

/**
 * Writes a HF checkpoint folder atomically: config.json, model.safetensors (or shards + index), tokenizer files.
 * `weights` must hold exactly the tensors of `expectedTensors(config)` with matching sizes (for a tied model,
 * lm_head.weight may be present and is not written).
 */
export function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  weights: Map<string, Float32Array>,
  opts: SaveOptions = {},
): void {
  const expected = expectedTensors(config);
  const specs = new Map(expected.map((t) => [t.name, t]));
  const sizes = new Map<string, number[]>();
  for (const [name, data] of weights) {
    const spec = specs.get(name);
    // Report sizes as 1-D when the tensor is not expected; shapes of expected tensors are checked by element count.
    if (spec) {
      const count = spec.shape.reduce((a, b) => a * b, 1);
      sizes.set(name, data.length === count ? spec.shape : [data.length]);
    } else {
      sizes.set(name, [data.length]);
    }
  }
  validateTensors(config, sizes, `saving ${dir}`);
  const tensors = new Map(expected.map((t) => [t.name, { shape: t.shape, data: weights.get(t.name)! }]));
  const dtype = opts.dtype ?? "F32";
  const outConfig: ModelConfig = { ...config, torchDtype: dtype === "BF16" ? "bfloat16" : "float32" };
  if (opts.tokenizerFrom !== undefined && !existsSync(join(opts.tokenizerFrom, "tokenizer.json"))) {
    throw new UserError(`tokenizer folder ${opts.tokenizerFrom} has no tokenizer.json`);
  }
  const done = atomicWriteDir(
    dir,
    (tmp) => {
      atomicWriteBytes(join(tmp, "config.json"), serializeConfig(outConfig));
      writeSafetensorsShards(tmp, tensors, { dtype, maxShardBytes: opts.maxShardBytes });
      if (opts.tokenizerFrom !== undefined) {
        for (const f of TOKENIZER_FILES) {
          const src = join(opts.tokenizerFrom, f);
          if (existsSync(src)) copyFileSync(src, join(tmp, f));
        }
      }
      for (const [name, contents] of Object.entries(opts.files ?? {})) {
        if (name.includes("/") || name.includes("\\") || name.startsWith(".")) {
          throw new UserError(`saveCheckpoint: extra file name must be a plain file name, got "${name}"`);
        }
        atomicWriteBytes(join(tmp, name), contents);
      }
    },
    opts.overwrite ?? false,
  );
  if (!done) throw new UserError(`output folder ${dir} already exists (choose another folder, or allow overwriting)`);
}
