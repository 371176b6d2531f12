// The folder a training run produces, and reading it back:
//   OUT/generator/        HF checkpoint folder (config.json, model.safetensors, tokenizer files)
//   OUT/reasoner/         the same for the Reasoner (FlyThinker only)
//   OUT/fusion.safetensors  the learned projection "fusion.projection.weight" [d_G, d_R] (fuse = projection only)
//   OUT/flythinker.json   the manifest (flythinker/manifest.ts): method, fusion options, embedding-norm constant,
//                         training config, tokenizer fingerprint
//   OUT/metrics.jsonl, OUT/loss.svg
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { PairWeights } from "./decode.ts";
import type { Weights } from "../model/decode.ts";
import { type FusionOptions, PROJECTION_NAME, embeddingNormScaleOf } from "./fusion.ts";
import type { PairConfig } from "./graph.ts";
import { MANIFEST_FORMAT, MANIFEST_VERSION, type Manifest, type Method, readManifest, writeManifest } from "./manifest.ts";
import { unflattenPair } from "./pair-params.ts";
import { loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { readSafetensors, writeSafetensors } from "../model/safetensors.ts";
import { UserError } from "../util/errors.ts";

export { MANIFEST_FILE, type Manifest, type Method } from "./manifest.ts";
export const PROJECTION_FILE = "fusion.safetensors";

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
  const fly = spec.method === "flythinker";
  if (fly && !spec.pair.reasoner) throw new Error("FlyThinker output without a Reasoner config");
  const shape: PairConfig = fly ? spec.pair : { generator: spec.pair.generator, fusion: spec.pair.fusion };
  const { generator, reasoner, projection } = unflattenPair(shape, spec.weights, "trained weights");
  const tokDir = (d?: string) => (d !== undefined && existsSync(join(d, "tokenizer.json")) ? d : undefined);
  saveCheckpoint(join(out, "generator"), spec.pair.generator, generator, {
    overwrite: true,
    tokenizerFrom: tokDir(spec.tokenizerFrom.generator),
  });
  if (fly) {
    saveCheckpoint(join(out, "reasoner"), spec.pair.reasoner!, reasoner!, {
      overwrite: true,
      tokenizerFrom: tokDir(spec.tokenizerFrom.reasoner) ?? tokDir(spec.tokenizerFrom.generator),
    });
  }
  const hasProjection = fly && spec.pair.fusion.fuse === "projection";
  if (hasProjection) {
    const dims = [spec.pair.generator.hiddenSize, spec.pair.reasoner!.hiddenSize];
    writeSafetensors(join(out, PROJECTION_FILE), { [PROJECTION_NAME]: { shape: dims, data: projection! } });
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    method: spec.method,
    generator: "generator",
    reasoner: fly ? "reasoner" : null,
    lambda: fly ? spec.pair.fusion.lambda : null,
    fuse: fly ? spec.pair.fusion.fuse : null,
    enhance: fly ? spec.pair.fusion.enhance : null,
    embedding_norm_scale: fly ? embeddingNormScaleOf(generator.embed, spec.pair.generator.hiddenSize) : null,
    projection: hasProjection ? PROJECTION_FILE : null,
    tokenizer_fingerprint: spec.tokenizerFingerprint,
    training: spec.training,
  };
  atomicWriteBytes(join(out, "metrics.jsonl"), spec.metrics);
  atomicWriteBytes(join(out, "loss.svg"), spec.svg);
  // Last: a folder with flythinker.json is complete.
  writeManifest(out, manifest);
  return manifest;
}

export interface TrainedModel extends PairWeights {
  generator: Weights;
  reasoner?: Weights;
  manifest: Manifest;
  /** The trained folder. */
  dir: string;
  /** The folder of the Generator (holds the tokenizer). */
  generatorDir: string;
}

/** Reads a folder written by `writeTrainedModel` (FlyThinker, or a Generator trained alone by any other method). */
export function readTrainedModel(dir: string): TrainedModel {
  const m = readManifest(dir);
  const generatorDir = join(dir, m.generator);
  const g = loadCheckpoint(generatorDir);
  if (m.method !== "flythinker") {
    return { manifest: m, dir, generatorDir, pair: { generator: g.config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } }, generator: g.weights };
  }
  const r = loadCheckpoint(join(dir, m.reasoner!));
  const fusion: FusionOptions = { lambda: m.lambda!, fuse: m.fuse!, enhance: m.enhance! };
  let projection: Float32Array | undefined;
  if (fusion.fuse === "projection") {
    const pf = join(dir, m.projection!);
    const t = readSafetensors(pf).tensors.get(PROJECTION_NAME);
    const want = [g.config.hiddenSize, r.config.hiddenSize];
    if (!t || t.shape.join() !== want.join()) {
      throw new UserError(`${pf}: expected tensor "${PROJECTION_NAME}" of shape [${want.join(", ")}]`);
    }
    projection = t.data;
  }
  return {
    manifest: m,
    dir,
    generatorDir,
    pair: { generator: g.config, reasoner: r.config, fusion },
    generator: g.weights,
    reasoner: r.weights,
    projection,
  };
}
