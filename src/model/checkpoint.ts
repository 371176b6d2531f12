// Hugging Face checkpoint folders: config.json + model.safetensors (or sharded model.safetensors.index.json, or
// PyTorch's pytorch_model.bin),
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
import { expectedTensors, namedLeaves, paramsFromFlat, paramsFromNamed } from "./hf-names.ts";
import { readTorchStateDict } from "./torch-checkpoint.ts";
import { type Qwen2Params, mapParams } from "./params.ts";

export { type TensorSpec, expectedTensors, validateTensors } from "./hf-names.ts";

export interface Checkpoint {
  config: ModelConfig;
  /** The parameters as float32. */
  params: Qwen2Params<Float32Array>;
  /** The same values keyed by HF name: exactly the tensors of `expectedTensors(config)`, in their order. */
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

const FLOAT_DTYPES: ReadonlySet<string> = new Set(["F32", "BF16", "F16", "F64"]);

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
  const bin = join(dir, "pytorch_model.bin");
  let loaded: LoadedSafetensors;
  let source: string;
  if (existsSync(single)) {
    loaded = readSafetensors(single);
    source = single;
  } else if (existsSync(index)) {
    loaded = readShardedSafetensors(index);
    source = index;
  } else if (existsSync(bin)) {
    // PyTorch's own format (torch.save of the state dict), read without running any of its pickle.
    loaded = { tensors: readTorchStateDict(bin).tensors, metadata: null };
    source = bin;
  } else {
    const found = readdirSync(dir).sort().join(", ") || "nothing";
    throw new UserError(
      `model folder ${dir} has none of model.safetensors, model.safetensors.index.json, pytorch_model.bin (found: ${found})`,
    );
  }
  const tensors = paramsFromNamed(config, loaded.tensors, (t) => t.shape, `${source} with ${configPath}`);
  const named = namedLeaves(tensors);
  // Integer or boolean storage for a weight would be cast silently to float; a real checkpoint never does that.
  for (const [name, t] of named) {
    if (!FLOAT_DTYPES.has(t.dtype)) {
      throw new UserError(`${source}: tensor "${name}" is stored as ${t.dtype}; model weights must be floating point (F32, BF16, F16 or F64)`);
    }
  }
  const tokenizerFiles = TOKENIZER_FILES.filter((f) => existsSync(join(dir, f)));
  return {
    config,
    params: mapParams(tensors, (t) => t.data),
    weights: new Map(named.map(([name, t]) => [name, t.data])),
    shapes: new Map(named.map(([name, t]) => [name, t.shape])),
    dtypes: new Map(named.map(([name, t]) => [name, t.dtype])),
    dir,
    tokenizerFiles,
  };
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

function isParamTree(w: ReadonlyMap<string, Float32Array> | Qwen2Params<Float32Array>): w is Qwen2Params<Float32Array> {
  return Array.isArray((w as Qwen2Params<Float32Array>).layers);
}

/**
 * Writes a HF checkpoint folder atomically: config.json, model.safetensors (or shards + index), tokenizer files.
 * `weights` is the parameter tree of `config`, or values keyed by HF name: exactly the tensors of
 * `expectedTensors(config)` with matching sizes (for a tied model, lm_head.weight may be present and is not written).
 */
export function saveCheckpoint(
  dir: string,
  config: ModelConfig,
  weights: ReadonlyMap<string, Float32Array> | Qwen2Params<Float32Array>,
  opts: SaveOptions = {},
): void {
  const source = `saving ${dir}`;
  // Sizes are checked against the config either way (a tree built in code may hold arrays of any length).
  const named = isParamTree(weights) ? new Map(namedLeaves(weights)) : weights;
  const params = paramsFromFlat(config, named, source);
  const shapes = new Map(expectedTensors(config).map((t) => [t.name, t.shape]));
  const tensors = new Map(namedLeaves(params).map(([name, data]) => [name, { shape: shapes.get(name)!, data }]));
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
