// Quantized FlyThinker pairs (docs/decoding.md, Quantized decoding): the Generator and the Reasoner both get
// block-quantized weights with one scheme; the Reasoner's thoughts come from its quantized model, while the fusion
// constant s, the thought vector and a learned projection stay float32 (s is taken from the float32 table before it is
// quantized). Trained output folders are written and read with quantized generator/ and reasoner/ folders.
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { type PairWeights, floatPair, pairThoughtScale } from "./decode.ts";
import { MANIFEST_FILE, readManifest } from "./manifest.ts";
import { readTrainedModel, type TrainedModel } from "./trained-folder.ts";
import { PROJECTION_NAME } from "./fusion.ts";
import { type QuantScheme, type QuantizeRequest, describeScheme, quantScheme, quantizeWeights, sameScheme } from "../model/quantize.ts";
import { isQuantizedFolder, readQuantizedFolder, saveQuantizedFolder } from "../model/quantized-folder.ts";
import { readSafetensors } from "../model/safetensors.ts";
import { atomicWriteDir } from "../util/files.ts";
import { UserError } from "../util/errors.ts";

/**
 * The pair with both models quantized. A pair quantized with the same scheme is returned as it is; another scheme is
 * refused (`source` names the model in the message).
 */
export function quantizePair<T extends PairWeights>(model: T, request: QuantizeRequest, source = "the model", what = "--quantize"): T {
  const scheme = quantScheme(request, what);
  if (model.quantization) {
    if (sameScheme(model.quantization, scheme)) return model;
    throw new UserError(
      `${source} is already quantized (${describeScheme(model.quantization)}); ${what} asked for ${describeScheme(scheme)}: ` +
        `quantize the float checkpoint instead, or drop ${what}`,
    );
  }
  const float = floatPair(model, "quantizing");
  const thoughtScale = pairThoughtScale(float);
  const generator = quantizeWeights(float.pair.generator, float.generator, scheme);
  const reasoner = float.reasoner && float.pair.reasoner ? quantizeWeights(float.pair.reasoner, float.reasoner, scheme) : undefined;
  return { ...model, generator, ...(reasoner ? { reasoner } : {}), quantization: scheme, thoughtScale };
}

/** A trained output folder, float32 or quantized (generator/ and reasoner/ written by `writeQuantizedTrained`). */
export type AnyTrainedModel = Omit<TrainedModel, "generator" | "reasoner"> & PairWeights;

/** Reads a folder written by `flythinker train` or by `flythinker quantize` of one. */
export function readAnyTrainedModel(dir: string): AnyTrainedModel {
  const m = readManifest(dir);
  const generatorDir = join(dir, m.generator);
  if (!isQuantizedFolder(generatorDir)) return readTrainedModel(dir);
  const g = readQuantizedFolder(generatorDir);
  if (m.reasoner === null) {
    return { manifest: m, dir, generatorDir, pair: { generator: g.config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } }, generator: g.tensors, quantization: g.scheme };
  }
  const r = readQuantizedFolder(join(dir, m.reasoner!));
  if (!sameScheme(g.scheme, r.scheme)) {
    throw new UserError(`${dir}: the Generator is quantized as ${describeScheme(g.scheme)} but the Reasoner as ${describeScheme(r.scheme)}`);
  }
  const fusion = { lambda: m.lambda!, fuse: m.fuse!, enhance: m.enhance! };
  let projection: Float32Array | undefined;
  if (fusion.fuse === "projection") {
    const t = readSafetensors(join(dir, m.projection!)).tensors.get(PROJECTION_NAME);
    if (!t) throw new UserError(`${join(dir, m.projection!)}: no tensor "${PROJECTION_NAME}"`);
    projection = t.data;
  }
  const scale = m.embedding_norm_scale;
  return {
    manifest: m,
    dir,
    generatorDir,
    pair: { generator: g.config, reasoner: r.config, fusion },
    generator: g.tensors,
    reasoner: r.tensors,
    quantization: g.scheme,
    ...(projection ? { projection } : {}),
    ...(typeof scale === "number" ? { thoughtScale: scale } : {}),
  };
}

/**
 * Writes a quantized copy of the trained output folder `src` (already loaded and quantized as `model`) to `out`:
 * the manifest and a projection file as they are, generator/ and reasoner/ as quantized folders, atomically.
 */
export function writeQuantizedTrained(out: string, src: string, model: AnyTrainedModel, scheme: QuantScheme, overwrite = false): void {
  const m = model.manifest;
  const done = atomicWriteDir(
    out,
    (tmp) => {
      copyFileSync(join(src, MANIFEST_FILE), join(tmp, MANIFEST_FILE));
      if (m.projection && existsSync(join(src, m.projection))) copyFileSync(join(src, m.projection), join(tmp, m.projection));
      saveQuantizedFolder(join(tmp, m.generator), model.pair.generator, scheme, model.generator, { tokenizerFrom: join(src, m.generator) });
      if (m.reasoner && model.reasoner && model.pair.reasoner) {
        saveQuantizedFolder(join(tmp, m.reasoner), model.pair.reasoner, scheme, model.reasoner, { tokenizerFrom: join(src, m.reasoner) });
      }
    },
    overwrite,
  );
  if (!done) throw new UserError(`output folder ${out} already exists (use --force to replace it)`);
}
