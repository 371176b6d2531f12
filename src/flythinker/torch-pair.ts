// The checkpoint bridge to the PyTorch stack FlyThinker was published with (HF Transformers + DeepSpeed): its
// training module holds the pair as attributes `Generator` and `Reasoner` (both Qwen2ForCausalLM), so its state dict
// has keys "Generator.model.embed_tokens.weight", ..., "Reasoner.lm_head.weight" (a tied head is listed, sharing the
// embedding's storage). Their inference scripts build that module from the two base model folders and
// load_state_dict(strict=False) from CKPT/model.safetensors, else CKPT/pytorch_model.bin; lambda is a flag there.
//
// import: such a checkpoint (pytorch_model.bin, a prefixed model.safetensors, sharded indexes of either, or a
// DeepSpeed ZeRO folder) -> a trained folder of this toolkit (flythinker/trained-folder.ts layout, prefix fusion at
// every position, as their training does). export: a trained folder -> model.safetensors (or pytorch_model.bin) with
// their key names, the tokenizer files, both configs and a README line with the lambda to pass.

import { copyFileSync, existsSync, readdirSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "../util/errors.ts";
import { atomicWriteBytes, atomicWriteDir } from "../util/files.ts";
import { TOKENIZER_FILES, saveCheckpoint } from "../model/checkpoint.ts";
import { type ModelConfig, readConfig, serializeConfig } from "../model/config.ts";
import { isDeepSpeedCheckpoint, readDeepSpeedCheckpoint } from "../model/deepspeed.ts";
import { EMBED_NAME, expectedTensors, validateTensors } from "../model/hf-names.ts";
import {
  type LoadedTensor,
  type SafetensorsDtype,
  readSafetensors,
  readSafetensorsIndex,
  readShardedSafetensors,
  writeSafetensors,
} from "../model/safetensors.ts";
import { readTorchStateDict, writeTorchStateDict } from "../model/torch-checkpoint.ts";
import { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { DEFAULT_FUSION, embeddingNormScaleOf } from "./fusion.ts";
import { checkPair } from "./graph.ts";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest, writeManifest } from "./manifest.ts";
import { readTrainedModel } from "./trained-folder.ts";

/** Key prefixes of the two models in the authors' training module. */
export const TORCH_GENERATOR = "Generator.";
export const TORCH_REASONER = "Reasoner.";
/** Config files `export pytorch` writes next to the weights, read back by `import pytorch` when no flag is given. */
export const GENERATOR_CONFIG_FILE = "generator_config.json";
export const REASONER_CONFIG_FILE = "reasoner_config.json";

const LM_HEAD = "lm_head.weight";

export interface PrefixedWeights {
  tensors: Map<string, LoadedTensor>;
  /** The file (or folder) the tensors came from, and its kind. */
  source: string;
  format: "pytorch_model.bin" | "model.safetensors" | "deepspeed";
}

/** Reads the weights of a checkpoint folder or file in the order their inference scripts try them. */
export function readPrefixedWeights(ckpt: string): PrefixedWeights {
  if (!existsSync(ckpt)) throw new UserError(`checkpoint ${ckpt} does not exist`);
  if (statSync(ckpt).isFile()) {
    if (ckpt.endsWith(".safetensors")) return { tensors: readSafetensors(ckpt).tensors, source: ckpt, format: "model.safetensors" };
    return { tensors: readTorchStateDict(ckpt).tensors, source: ckpt, format: "pytorch_model.bin" };
  }
  const at = (f: string) => join(ckpt, f);
  if (existsSync(at("model.safetensors"))) {
    return { tensors: readSafetensors(at("model.safetensors")).tensors, source: at("model.safetensors"), format: "model.safetensors" };
  }
  if (existsSync(at("model.safetensors.index.json"))) {
    const src = at("model.safetensors.index.json");
    return { tensors: readShardedSafetensors(src).tensors, source: src, format: "model.safetensors" };
  }
  if (existsSync(at("pytorch_model.bin"))) {
    return { tensors: readTorchStateDict(at("pytorch_model.bin")).tensors, source: at("pytorch_model.bin"), format: "pytorch_model.bin" };
  }
  if (existsSync(at("pytorch_model.bin.index.json"))) {
    const src = at("pytorch_model.bin.index.json");
    const index = readSafetensorsIndex(src);
    const tensors = new Map<string, LoadedTensor>();
    for (const shard of new Set(index.weightMap.values())) {
      for (const [name, t] of readTorchStateDict(join(ckpt, shard)).tensors) if (index.weightMap.get(name) === shard) tensors.set(name, t);
    }
    const lost = [...index.weightMap.keys()].filter((n) => !tensors.has(n));
    if (lost.length) throw new UserError(`${src}: tensors missing from their shards: ${lost.slice(0, 12).join(", ")}`);
    return { tensors, source: src, format: "pytorch_model.bin" };
  }
  if (isDeepSpeedCheckpoint(ckpt)) {
    const ds = readDeepSpeedCheckpoint(ckpt);
    return { tensors: ds.tensors, source: ds.dir, format: "deepspeed" };
  }
  const found = readdirSync(ckpt).sort().join(", ") || "nothing";
  throw new UserError(
    `${ckpt}: no model.safetensors, pytorch_model.bin (or their .index.json) and no DeepSpeed checkpoint (latest, ` +
      `global_step*/); found: ${found}`,
  );
}

export interface ImportOptions {
  /** Weight of the thought recorded in the manifest (their scripts take it as a flag; default 0.5). */
  lambda?: number;
  /** Base model folders (or config.json files) of the two models; default: the configs an export wrote. */
  generatorConfig?: string;
  reasonerConfig?: string;
  overwrite?: boolean;
  /** Progress lines (reading, writing each model). */
  log?: (line: string) => void;
}

export interface ImportResult {
  manifest: Manifest;
  source: string;
  format: PrefixedWeights["format"];
  /** Stored dtypes and how many tensors had each. */
  dtypes: Record<string, number>;
  /** Set when the Reasoner's table was padded to the Generator's vocabulary (its own size). */
  reasonerVocabPadded: number | null;
}

function configFrom(path: string | undefined, fallback: string, flag: string): { config: ModelConfig; dir: string | null; file: string } {
  const p = path ?? fallback;
  const file = existsSync(p) && statSync(p).isDirectory() ? join(p, "config.json") : p;
  if (!existsSync(file)) {
    throw new UserError(
      path === undefined
        ? `no ${basename(fallback)} in the checkpoint folder: pass ${flag} DIR (the base model folder the pair was trained from)`
        : `${flag} ${path}: no config.json there`,
    );
  }
  return { config: readConfig(file), dir: existsSync(p) && statSync(p).isDirectory() ? p : null, file };
}

/** One model's tensors (prefix removed) checked against its config, the tied head checked to equal the embedding. */
function splitPart(
  all: Map<string, LoadedTensor>,
  prefix: string,
  config: ModelConfig,
  source: string,
): { weights: Map<string, Float32Array>; problem: string | null } {
  const part = new Map<string, LoadedTensor>();
  for (const [name, t] of all) if (name.startsWith(prefix)) part.set(name.slice(prefix.length), t);
  try {
    validateTensors(config, new Map([...part].map(([n, t]) => [n, t.shape])), `${source}, keys "${prefix}*"`);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { weights: new Map(), problem: e.message };
  }
  if (config.tieWordEmbeddings && part.has(LM_HEAD)) {
    const head = part.get(LM_HEAD)!.data;
    const embed = part.get(EMBED_NAME)!.data;
    let diff = 0;
    for (let i = 0; i < head.length; i++) diff = Math.max(diff, Math.abs(head[i]! - embed[i]!));
    if (diff !== 0) {
      return {
        weights: new Map(),
        problem: `${source}: "${prefix}${LM_HEAD}" differs from "${prefix}${EMBED_NAME}" (max ${diff}) but the config ties them (tie_word_embeddings)`,
      };
    }
  }
  const weights = new Map<string, Float32Array>();
  for (const t of expectedTensors(config)) weights.set(t.name, part.get(t.name)!.data);
  return { weights, problem: null };
}

/**
 * Imports a checkpoint of the authors' training module into a trained folder at `out`. Missing, unexpected and
 * wrongly shaped keys are all listed in one error. A Reasoner whose embedding table is smaller than the Generator's
 * (Qwen2.5-1.5B's 151,936 rows beside 7B's 152,064: the same tokenizer, padded differently) gets zero rows up to
 * the Generator's size, which no id of the shared tokenizer reaches; export cuts them off again.
 */
export function importTorchPair(ckpt: string, out: string, opts: ImportOptions = {}): ImportResult {
  const ckptDir = existsSync(ckpt) && statSync(ckpt).isDirectory() ? ckpt : join(ckpt, "..");
  const g = configFrom(opts.generatorConfig, join(ckptDir, GENERATOR_CONFIG_FILE), "--generator-config");
  const r = configFrom(opts.reasonerConfig, join(ckptDir, REASONER_CONFIG_FILE), "--reasoner-config");
  const lambda = opts.lambda ?? DEFAULT_FUSION.lambda;
  const log = opts.log ?? (() => {});
  log(`reading ${ckpt}`);
  const started = Date.now();
  const read = readPrefixedWeights(ckpt);
  log(`read ${read.tensors.size} tensors from ${read.source} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const gp = splitPart(read.tensors, TORCH_GENERATOR, g.config, read.source);
  const rp = splitPart(read.tensors, TORCH_REASONER, r.config, read.source);
  const stray = [...read.tensors.keys()].filter((n) => !n.startsWith(TORCH_GENERATOR) && !n.startsWith(TORCH_REASONER));
  const problems = [gp.problem, rp.problem].filter((p): p is string => p !== null);
  if (stray.length) {
    const shown = stray.slice(0, 12).join(", ") + (stray.length > 12 ? `, ... (${stray.length} in all)` : "");
    problems.push(`${read.source}: unexpected keys outside "${TORCH_GENERATOR}*" and "${TORCH_REASONER}*": ${shown}`);
  }
  if (problems.length) throw new UserError(problems.join("\n"));

  let rConfig = r.config;
  let rWeights = rp.weights;
  let padded: number | null = null;
  if (rConfig.vocabSize < g.config.vocabSize) {
    padded = rConfig.vocabSize;
    rConfig = { ...rConfig, vocabSize: g.config.vocabSize };
    rWeights = new Map(rWeights);
    for (const name of [EMBED_NAME, ...(rConfig.tieWordEmbeddings ? [] : [LM_HEAD])]) {
      const src = rWeights.get(name)!;
      const grown = new Float32Array(g.config.vocabSize * rConfig.hiddenSize);
      grown.set(src);
      rWeights.set(name, grown);
    }
  }
  const fusion = { ...DEFAULT_FUSION, lambda };
  try {
    checkPair({ generator: g.config, reasoner: rConfig, fusion });
  } catch (e) {
    throw new UserError(`${read.source}: ${(e as Error).message}`);
  }

  const dtypes: Record<string, number> = {};
  for (const t of read.tensors.values()) dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
  // bf16 values are exact in bf16 files; anything else is kept as f32 (f16 converts exactly).
  const stored: "F32" | "BF16" = Object.keys(dtypes).every((d: string) => (d as SafetensorsDtype) === "BF16") ? "BF16" : "F32";
  const tokDir = [ckptDir, g.dir, r.dir].find((d): d is string => d !== null && existsSync(join(d, "tokenizer.json")));
  const fingerprint = tokDir !== undefined ? TextTokenizer.fromDir(tokDir).fingerprint : null;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    method: "flythinker",
    generator: "generator",
    reasoner: "reasoner",
    lambda,
    fuse: fusion.fuse,
    enhance: fusion.enhance,
    embedding_norm_scale: embeddingNormScaleOf(gp.weights.get(EMBED_NAME)!, g.config.hiddenSize),
    projection: null,
    tokenizer_fingerprint: fingerprint,
    training: {
      imported_from: { format: read.format, path: resolve(read.source), generator_config: resolve(g.file), reasoner_config: resolve(r.file) },
      ...(padded !== null ? { reasoner_vocab_size: padded } : {}),
    },
  };
  const done = atomicWriteDir(
    out,
    (tmp) => {
      log(`writing ${join(out, "generator")} (${stored})`);
      saveCheckpoint(join(tmp, "generator"), g.config, gp.weights, { dtype: stored, tokenizerFrom: tokDir });
      log(`writing ${join(out, "reasoner")} (${stored})`);
      saveCheckpoint(join(tmp, "reasoner"), rConfig, rWeights, { dtype: stored, tokenizerFrom: tokDir });
      writeManifest(tmp, manifest);
    },
    opts.overwrite ?? false,
  );
  if (!done) throw new UserError(`output folder ${out} already exists (choose another folder, or pass --force)`);
  return { manifest, source: read.source, format: read.format, dtypes, reasonerVocabPadded: padded };
}

export interface ExportOptions {
  /** Stored dtype (default "BF16", as their models run; "F32" keeps every bit of an f32 run). */
  dtype?: "F32" | "BF16";
  /** Write pytorch_model.bin (torch.save format) instead of model.safetensors. */
  format?: "safetensors" | "bin";
  overwrite?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** Their key -> tensor for one model: every tensor of the config, and lm_head.weight for a tied head too. */
function prefixed(prefix: string, config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, vocab: number) {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const cut = (name: string, shape: number[], data: Float32Array) =>
    name === EMBED_NAME || name === LM_HEAD ? { shape: [vocab, shape[1]!], data: data.subarray(0, vocab * shape[1]!) } : { shape, data };
  for (const t of expectedTensors(config)) out.set(prefix + t.name, cut(t.name, t.shape, weights.get(t.name)!));
  if (config.tieWordEmbeddings) {
    // Their module lists the tied head in its state dict; without it load_state_dict reports it missing.
    out.set(prefix + LM_HEAD, cut(LM_HEAD, [config.vocabSize, config.hiddenSize], weights.get(EMBED_NAME)!));
  }
  return out;
}

/** Exports a FlyThinker trained folder for the authors' inference scripts. Returns the files written. */
export function exportTorchPair(run: string, out: string, opts: ExportOptions = {}): { files: string[]; lambda: number } {
  const log = opts.log ?? (() => {});
  log(`reading ${run}`);
  const m = readTrainedModel(run);
  const { manifest } = m;
  if (manifest.method !== "flythinker" || !m.reasoner || !m.pair.reasoner) {
    throw new UserError(`${run}: export pytorch needs a FlyThinker folder (Generator + Reasoner), this one is "${manifest.method}"`);
  }
  if (manifest.fuse !== "prefix" || manifest.enhance !== "global") {
    throw new UserError(
      `${run}: fuse "${manifest.fuse}", enhance "${manifest.enhance}": their scripts add the thought to the first d_R ` +
        `dims at every position (fuse "prefix", enhance "global") and have no learned projection`,
    );
  }
  const rVocab = typeof manifest.training.reasoner_vocab_size === "number" ? manifest.training.reasoner_vocab_size : m.pair.reasoner.vocabSize;
  const gc = m.pair.generator;
  const rc = { ...m.pair.reasoner, vocabSize: rVocab };
  const tensors = new Map([
    ...prefixed(TORCH_GENERATOR, gc, m.generator, gc.vocabSize),
    ...prefixed(TORCH_REASONER, m.pair.reasoner, m.reasoner, rVocab),
  ]);
  const dtype = opts.dtype ?? "BF16";
  const weightsFile = opts.format === "bin" ? "pytorch_model.bin" : "model.safetensors";
  const lambda = manifest.lambda!;
  const files: string[] = [];
  const done = atomicWriteDir(
    out,
    (tmp) => {
      log(`writing ${join(out, weightsFile)} (${tensors.size} tensors, ${dtype})`);
      if (weightsFile === "model.safetensors") writeSafetensors(join(tmp, weightsFile), tensors, { dtype });
      else writeTorchStateDict(join(tmp, weightsFile), tensors, { dtype });
      files.push(weightsFile);
      const tokDir = m.generatorDir;
      for (const f of TOKENIZER_FILES) {
        if (existsSync(join(tokDir, f))) {
          copyFileSync(join(tokDir, f), join(tmp, f));
          files.push(f);
        }
      }
      const withDtype = (c: ModelConfig): ModelConfig => ({ ...c, torchDtype: dtype === "BF16" ? "bfloat16" : "float32" });
      atomicWriteBytes(join(tmp, GENERATOR_CONFIG_FILE), serializeConfig(withDtype(gc)));
      atomicWriteBytes(join(tmp, REASONER_CONFIG_FILE), serializeConfig(withDtype(rc)));
      files.push(GENERATOR_CONFIG_FILE, REASONER_CONFIG_FILE);
      const readme =
        `# FlyThinker pair for the PyTorch inference scripts\n\n` +
        `Weights: ${weightsFile} (${dtype === "BF16" ? "bfloat16" : "float32"}), keys "Generator.*" and "Reasoner.*".\n` +
        `Build the module from base models with the configs ${GENERATOR_CONFIG_FILE} and ${REASONER_CONFIG_FILE}, ` +
        `then pass --ckpt_path to this folder and --lambda_diff ${lambda} (lambda is not stored in the weights).\n`;
      atomicWriteBytes(join(tmp, "README.md"), readme);
      files.push("README.md");
    },
    opts.overwrite ?? false,
  );
  if (!done) throw new UserError(`output folder ${out} already exists (choose another folder, or pass --force)`);
  return { files, lambda };
}
