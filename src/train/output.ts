// The folder a training run produces, and reading it back:
//   OUT/generator/        HF checkpoint folder (config.json, model.safetensors, tokenizer files)
//   OUT/reasoner/         the same for the Reasoner (FlyThinker only)
//   OUT/fusion.safetensors  the learned projection "fusion.projection.weight" [d_G, d_R] (fuse = projection only)
//   OUT/flythinker.json   method, fusion options, embedding-norm constant, training config, tokenizer fingerprint
//   OUT/metrics.jsonl, OUT/loss.svg
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PairWeights } from "../flythinker/decode.ts";
import { type EnhanceMode, type FuseMode, type FusionOptions, PROJECTION_NAME, embeddingNormScaleOf } from "../flythinker/fusion.ts";
import { GENERATOR_PREFIX, REASONER_PREFIX, type PairConfig } from "../flythinker/graph.ts";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { readSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { UserError } from "../util/errors.ts";
import type { Method } from "./trainer.ts";

export const MANIFEST_FILE = "flythinker.json";
export const PROJECTION_FILE = "fusion.safetensors";
export const MANIFEST_FORMAT = "flythinker-model";

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: 1;
  method: Method;
  /** Folder names inside OUT. */
  generator: string;
  reasoner: string | null;
  /** Fusion options (null for SFT). */
  lambda: number | null;
  fuse: FuseMode | null;
  enhance: EnhanceMode | null;
  /** s: mean L2 norm of the rows of the trained Generator's embedding table (FlyThinker only). */
  embedding_norm_scale: number | null;
  /** File with the learned projection (fuse = projection only). */
  projection: string | null;
  /** sha256 fingerprint of the shared tokenizer (null when the model folder has none). */
  tokenizer_fingerprint: string | null;
  /** Training configuration and outcome. */
  training: Record<string, unknown>;
}

/** Splits weights keyed by graph input name into the models' HF-named maps. */
export function splitWeights(weights: ReadonlyMap<string, Float32Array>): {
  generator: Map<string, Float32Array>;
  reasoner: Map<string, Float32Array>;
  projection?: Float32Array;
} {
  const generator = new Map<string, Float32Array>();
  const reasoner = new Map<string, Float32Array>();
  for (const [k, v] of weights) {
    if (k.startsWith(GENERATOR_PREFIX)) generator.set(k.slice(GENERATOR_PREFIX.length), v);
    else if (k.startsWith(REASONER_PREFIX)) reasoner.set(k.slice(REASONER_PREFIX.length), v);
  }
  return { generator, reasoner, projection: weights.get(PROJECTION_NAME) };
}

export interface OutputSpec {
  pair: PairConfig;
  method: Method;
  /** Final weights by graph input name. */
  weights: ReadonlyMap<string, Float32Array>;
  /** Folders whose tokenizer files are copied into generator/ and reasoner/. */
  tokenizerFrom: { generator?: string; reasoner?: string };
  tokenizerFingerprint: string | null;
  training: Record<string, unknown>;
  metrics: string;
  svg: string;
}

/** Writes (or replaces) the model folders, manifest and logs in `out`; every file and folder atomically. */
export function writeTrainedModel(out: string, spec: OutputSpec): Manifest {
  const { generator, reasoner, projection } = splitWeights(spec.weights);
  const fly = spec.method === "flythinker";
  const tokDir = (d?: string) => (d !== undefined && existsSync(join(d, "tokenizer.json")) ? d : undefined);
  saveCheckpoint(join(out, "generator"), spec.pair.generator, generator, {
    overwrite: true,
    tokenizerFrom: tokDir(spec.tokenizerFrom.generator),
  });
  if (fly) {
    if (!spec.pair.reasoner) throw new Error("FlyThinker output without a Reasoner config");
    saveCheckpoint(join(out, "reasoner"), spec.pair.reasoner, reasoner, {
      overwrite: true,
      tokenizerFrom: tokDir(spec.tokenizerFrom.reasoner) ?? tokDir(spec.tokenizerFrom.generator),
    });
  }
  const hasProjection = fly && spec.pair.fusion.fuse === "projection";
  if (hasProjection) {
    if (!projection) throw new Error("projection fusion without a projection weight");
    const shape = [spec.pair.generator.hiddenSize, spec.pair.reasoner!.hiddenSize];
    writeSafetensors(join(out, PROJECTION_FILE), { [PROJECTION_NAME]: { shape, data: projection } });
  }
  const embed = generator.get("model.embed_tokens.weight")!;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: 1,
    method: spec.method,
    generator: "generator",
    reasoner: fly ? "reasoner" : null,
    lambda: fly ? spec.pair.fusion.lambda : null,
    fuse: fly ? spec.pair.fusion.fuse : null,
    enhance: fly ? spec.pair.fusion.enhance : null,
    embedding_norm_scale: fly ? embeddingNormScaleOf(embed, spec.pair.generator.hiddenSize) : null,
    projection: hasProjection ? PROJECTION_FILE : null,
    tokenizer_fingerprint: spec.tokenizerFingerprint,
    training: spec.training,
  };
  atomicWriteBytes(join(out, "metrics.jsonl"), spec.metrics);
  atomicWriteBytes(join(out, "loss.svg"), spec.svg);
  // Last: a folder with flythinker.json is complete.
  atomicWriteBytes(join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

export interface TrainedModel extends PairWeights {
  manifest: Manifest;
  /** The folder of the Generator (holds the tokenizer). */
  generatorDir: string;
}

/** Reads a folder written by `writeTrainedModel` (FlyThinker or SFT). */
export function readTrainedModel(dir: string): TrainedModel {
  const file = join(dir, MANIFEST_FILE);
  if (!existsSync(file)) throw new UserError(`${dir} has no ${MANIFEST_FILE}: not a folder written by "flythinker train"`);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(file, "utf8")) as Manifest;
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  if (m.format !== MANIFEST_FORMAT) throw new UserError(`${file}: field "format" must be "${MANIFEST_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.method !== "flythinker" && m.method !== "sft") throw new UserError(`${file}: field "method" must be "flythinker" or "sft"`);
  const generatorDir = join(dir, m.generator);
  const g = loadCheckpoint(generatorDir);
  if (m.method === "sft") {
    return { manifest: m, generatorDir, pair: { generator: g.config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } }, generator: g.weights };
  }
  if (m.reasoner === null) throw new UserError(`${file}: a FlyThinker model needs field "reasoner"`);
  const r = loadCheckpoint(join(dir, m.reasoner));
  for (const f of ["lambda", "fuse", "enhance"] as const) {
    if (m[f] === null || m[f] === undefined) throw new UserError(`${file}: a FlyThinker model needs field "${f}"`);
  }
  const fusion: FusionOptions = { lambda: m.lambda!, fuse: m.fuse!, enhance: m.enhance! };
  let projection: Float32Array | undefined;
  if (fusion.fuse === "projection") {
    if (!m.projection) throw new UserError(`${file}: fuse "projection" needs field "projection" (the weight file)`);
    const pf = join(dir, m.projection);
    const t = readSafetensors(pf).tensors.get(PROJECTION_NAME);
    const want = [g.config.hiddenSize, r.config.hiddenSize];
    if (!t || t.shape.join() !== want.join()) {
      throw new UserError(`${pf}: expected tensor "${PROJECTION_NAME}" of shape [${want.join(", ")}]`);
    }
    projection = t.data;
  }
  return {
    manifest: m,
    generatorDir,
    pair: { generator: g.config, reasoner: r.config, fusion },
    generator: g.weights,
    reasoner: r.weights,
    projection,
  };
}
