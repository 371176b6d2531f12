// Quantizing a float checkpoint as it is read: tensor by tensor, each converted to float32 (from f32, bf16 or f16),
// quantized and dropped, so the float32 model is never held whole (the peak is the quantized model plus one tensor).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../util/errors.ts";
import { type ModelConfig, readConfig } from "./config.ts";
import { expectedTensors, validateTensors } from "./hf-names.ts";
import { type QuantScheme, isQuantizedShape, setQuantized } from "./quantize.ts";
import { readSafetensors, readSafetensorsHeader, readSafetensorsIndex } from "./safetensors.ts";
import { quantizeMatrix } from "../graph/quant.ts";

/** Reads the HF checkpoint folder `dir` and returns its weights quantized with `scheme` (see model/quantize.ts). */
export function loadQuantizedCheckpoint(
  dir: string,
  scheme: QuantScheme,
  onTensor?: (name: string, done: number, total: number) => void,
): { config: ModelConfig; tensors: Map<string, Float32Array | Uint8Array> } {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new UserError(`model folder ${dir} has no config.json`);
  const config = readConfig(configPath);
  const single = join(dir, "model.safetensors");
  const indexPath = join(dir, "model.safetensors.index.json");
  const fileOf = new Map<string, string>();
  const shapes = new Map<string, number[]>();
  const addHeader = (file: string) => {
    for (const t of readSafetensorsHeader(file).tensors) {
      fileOf.set(t.name, file);
      shapes.set(t.name, t.shape);
    }
  };
  let source: string;
  if (existsSync(single)) {
    addHeader(single);
    source = single;
  } else if (existsSync(indexPath)) {
    const shards = new Set(readSafetensorsIndex(indexPath).weightMap.values());
    for (const shard of shards) addHeader(join(dirname(indexPath), shard));
    source = indexPath;
  } else {
    throw new UserError(`model folder ${dir} has neither model.safetensors nor model.safetensors.index.json`);
  }
  validateTensors(config, shapes, `${source} with ${configPath}`);
  const specs = expectedTensors(config);
  const tensors = new Map<string, Float32Array | Uint8Array>();
  specs.forEach((spec, i) => {
    const data = readSafetensors(fileOf.get(spec.name)!, [spec.name]).tensors.get(spec.name)!.data;
    if (isQuantizedShape(spec.shape)) setQuantized(tensors, spec.name, quantizeMatrix(data, spec.shape[0]!, spec.shape[1]!, scheme));
    else tensors.set(spec.name, data);
    onTensor?.(spec.name, i + 1, specs.length);
  });
  return { config, tensors };
}
