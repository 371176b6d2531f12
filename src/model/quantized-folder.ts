// Folders of quantized models: config.json (the model's config plus "quantization_config", which says what the folder
// holds), model.safetensors with the tensors of model/quantize.ts (U8 codes, F32 scales, norms and biases) and the
// tokenizer files. Loading gives back the same bytes, so a quantized folder decodes exactly as the model it was
// written from.
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import { atomicWriteBytes, atomicWriteDir } from "../util/files.ts";
import { TOKENIZER_FILES } from "./checkpoint.ts";
import { type ModelConfig, readConfig, serializeConfig } from "./config.ts";
import { type ModelTensors, type QuantScheme, quantScheme, quantizedTensorSpecs, validateQuantizedTensors } from "./quantize.ts";
import { type RawTensor, readRawSafetensors, writeRawSafetensors } from "./safetensors.ts";

/** quantization_config.quant_method of folders written here. */
export const QUANT_METHOD = "flythinker-blockwise";
const WEIGHTS_FILE = "model.safetensors";

interface QuantizationConfig {
  quant_method: string;
  bits: number;
  block_size: number;
  symmetric: boolean;
  /** How the codes are laid out (see graph/quant.ts). */
  layout: string;
}

/** The quantization a config.json declares, or undefined for a float checkpoint. */
export function declaredQuantization(config: ModelConfig, source: string): QuantScheme | undefined {
  const q = config.extra.quantization_config as Partial<QuantizationConfig> | undefined | null;
  if (q === undefined || q === null) return undefined;
  if (typeof q !== "object" || q.quant_method !== QUANT_METHOD) {
    throw new UserError(
      `${source}: quantization_config.quant_method is ${JSON.stringify((q as { quant_method?: unknown }).quant_method)}; ` +
        `only folders written by \`flythinker quantize\` ("${QUANT_METHOD}") can be read`,
    );
  }
  if (typeof q.symmetric !== "boolean") throw new UserError(`${source}: quantization_config.symmetric must be true or false`);
  return quantScheme({ bits: q.bits as 4 | 8, blockSize: q.block_size, symmetric: q.symmetric }, `${source}: quantization_config`);
}

/** The config without its quantization_config (the model's own config). */
export function withoutQuantization(config: ModelConfig): ModelConfig {
  const { quantization_config: _, ...extra } = config.extra;
  return { ...config, extra };
}

/** Whether `dir` holds a quantized model (its config.json declares a quantization_config). */
export function isQuantizedFolder(dir: string): boolean {
  const path = join(dir, "config.json");
  if (!existsSync(path)) return false;
  try {
    const json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
    return json.quantization_config !== undefined && json.quantization_config !== null;
  } catch {
    return false;
  }
}

export interface QuantizedFolder {
  config: ModelConfig;
  scheme: QuantScheme;
  tensors: Map<string, Float32Array | Uint8Array>;
}

/** Reads a quantized model folder (checking every tensor against the config and scheme). */
export function readQuantizedFolder(dir: string): QuantizedFolder {
  const configPath = join(dir, "config.json");
  if (!existsSync(configPath)) throw new UserError(`model folder ${dir} has no config.json`);
  const declared = readConfig(configPath);
  const scheme = declaredQuantization(declared, configPath);
  if (!scheme) throw new UserError(`${configPath} declares no quantization_config: ${dir} is not a quantized model folder`);
  const file = join(dir, WEIGHTS_FILE);
  if (!existsSync(file)) throw new UserError(`quantized model folder ${dir} has no ${WEIGHTS_FILE}`);
  const raw = readRawSafetensors(file);
  const tensors = new Map([...raw.tensors].map(([name, t]) => [name, t.data]));
  const config = withoutQuantization(declared);
  validateQuantizedTensors(config, scheme, tensors, file);
  return { config, scheme, tensors };
}

export interface SaveQuantizedOptions {
  overwrite?: boolean;
  /** Copy the tokenizer files (those of TOKENIZER_FILES that exist) from this folder. */
  tokenizerFrom?: string;
}

/** Writes a quantized model folder atomically (a temporary folder renamed into place). */
export function saveQuantizedFolder(dir: string, config: ModelConfig, scheme: QuantScheme, tensors: ModelTensors, opts: SaveQuantizedOptions = {}): void {
  validateQuantizedTensors(config, scheme, tensors, `saving ${dir}`);
  const quantization: QuantizationConfig = {
    quant_method: QUANT_METHOD,
    bits: scheme.bits,
    block_size: scheme.blockSize,
    symmetric: scheme.symmetric,
    layout: "onnxruntime MatMulNBits: codes [rows, blocks, blockSize*bits/8] packed low bits first, scales [rows, blocks]",
  };
  const out: ModelConfig = { ...config, extra: { ...config.extra, quantization_config: quantization } };
  const raw = new Map<string, RawTensor>(quantizedTensorSpecs(config, scheme).map((s) => [s.name, { shape: s.shape, data: tensors.get(s.name)! }]));
  const done = atomicWriteDir(
    dir,
    (tmp) => {
      atomicWriteBytes(join(tmp, "config.json"), serializeConfig(out));
      writeRawSafetensors(join(tmp, WEIGHTS_FILE), raw, { quantization: QUANT_METHOD });
      if (opts.tokenizerFrom !== undefined) {
        for (const f of TOKENIZER_FILES) {
          const src = join(opts.tokenizerFrom, f);
          if (existsSync(src)) copyFileSync(src, join(tmp, f));
        }
      }
    },
    opts.overwrite ?? false,
  );
  if (!done) throw new UserError(`output folder ${dir} already exists (choose another folder, or allow overwriting)`);
}
