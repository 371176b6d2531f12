// Hugging Face tensor names of a Qwen2-family model, the one place they are spelled: a parameter tree to
// [name, leaf] pairs and back, with errors that name each missing, unexpected or wrongly shaped tensor.
import { UserError } from "../util/errors.ts";
import type { ModelConfig } from "./config.ts";
import { type LeafKey, type LinearField, type ParamSpec, type Qwen2Params, mapParams, paramEntries, paramSpecs } from "./params.ts";

const MODEL_NAMES = { embed: "model.embed_tokens.weight", norm: "model.norm.weight", head: "lm_head.weight" } as const;
const LAYER_NAMES: Record<LinearField | "inputNorm" | "postNorm", string> = {
  inputNorm: "input_layernorm",
  q: "self_attn.q_proj",
  k: "self_attn.k_proj",
  v: "self_attn.v_proj",
  o: "self_attn.o_proj",
  postNorm: "post_attention_layernorm",
  gate: "mlp.gate_proj",
  up: "mlp.up_proj",
  down: "mlp.down_proj",
};

/** The HF tensor name of a leaf, e.g. "model.layers.3.self_attn.q_proj.bias". */
export function hfName(key: LeafKey): string {
  if (!("layer" in key)) return MODEL_NAMES[key.field];
  const part = "part" in key ? key.part : "weight";
  return `model.layers.${key.layer}.${LAYER_NAMES[key.field]}.${part}`;
}

/** The HF name of the embedding table (read by code that needs the embedding-norm constant of a named map). */
export const EMBED_NAME = MODEL_NAMES.embed;

/** The tree with each leaf replaced by `f(leaf, hfName)`, in the fixed parameter order. */
export function mapNamed<A, B>(tree: Qwen2Params<A>, f: (leaf: A, name: string) => B): Qwen2Params<B> {
  return mapParams(tree, (leaf, key) => f(leaf, hfName(key)));
}

/** [hfName, leaf] for every leaf, in the fixed parameter order. */
export function namedLeaves<T>(tree: Qwen2Params<T>): [string, T][] {
  return paramEntries(tree).map(([key, leaf]) => [hfName(key), leaf]);
}

export interface TensorSpec extends ParamSpec {
  name: string;
}

/**
 * Every tensor a model with this config has, with HF names and shapes ([out, in] for projection weights), in the
 * fixed order: embeddings, then layer by layer, final norm, lm_head (only when untied).
 */
export function expectedTensors(config: ModelConfig): TensorSpec[] {
  return namedLeaves(paramSpecs(config)).map(([name, spec]) => ({ name, ...spec }));
}

/** Tensors some exporters add that carry no parameters (recomputed from the config). */
function isIgnorable(name: string): boolean {
  return name.endsWith(".rotary_emb.inv_freq");
}

const LIST_LIMIT = 12;
function listNames(names: string[]): string {
  const shown = names.slice(0, LIST_LIMIT).join(", ");
  return names.length > LIST_LIMIT ? `${shown}, ... (${names.length} in all)` : shown;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Checks named tensor shapes against the config. Throws one UserError (prefixed by `source`, the file) listing every
 * missing, unexpected and wrongly shaped tensor. Tied models may carry lm_head.weight with the embedding's shape.
 */
export function validateTensors(config: ModelConfig, shapes: ReadonlyMap<string, readonly number[]>, source: string): void {
  const expected = expectedTensors(config);
  const want = new Map<string, readonly number[]>(expected.map((t) => [t.name, t.shape]));
  if (config.tieWordEmbeddings) want.set(MODEL_NAMES.head, [config.vocabSize, config.hiddenSize]);
  const missing = expected.filter((t) => !shapes.has(t.name)).map((t) => t.name);
  const unexpected = [...shapes.keys()].filter((n) => !want.has(n) && !isIgnorable(n)).sort();
  const wrong: string[] = [];
  for (const [name, shape] of shapes) {
    const w = want.get(name);
    if (w && !sameShape(w, shape)) wrong.push(`${name} is [${shape.join(", ")}], expected [${w.join(", ")}]`);
  }
  if (missing.length || unexpected.length || wrong.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing tensors: ${listNames(missing)}`);
    if (unexpected.length) parts.push(`unexpected tensors: ${listNames(unexpected)}`);
    if (wrong.length) parts.push(`wrong shapes: ${listNames(wrong)}`);
    throw new UserError(`${source}: the weights do not match the config:\n  ${parts.join("\n  ")}`);
  }
}

/**
 * The parameter tree of `config` from tensors keyed by HF name, after `validateTensors` on their shapes
 * (`shapeOf`); `source` names the file in errors. Extra tensors the check allows (a tied lm_head, rotary buffers)
 * are dropped.
 */
export function paramsFromNamed<T>(
  config: ModelConfig,
  named: ReadonlyMap<string, T>,
  shapeOf: (leaf: T) => readonly number[],
  source: string,
): Qwen2Params<T> {
  const shapes = new Map<string, readonly number[]>();
  for (const [name, leaf] of named) shapes.set(name, shapeOf(leaf));
  validateTensors(config, shapes, source);
  return mapNamed(paramSpecs(config), (_, name) => named.get(name)!);
}

/**
 * Flat float32 values keyed by HF name (sizes only, no shapes) as the tree of `config`. A value whose size matches
 * its tensor is taken to have the tensor's shape; others are reported with their size.
 */
export function paramsFromFlat(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, source: string): Qwen2Params<Float32Array> {
  const specs = new Map(expectedTensors(config).map((t) => [t.name, t.shape]));
  const shapeOf = (name: string, data: Float32Array): readonly number[] => {
    const shape = specs.get(name);
    return shape && shape.reduce((a, b) => a * b, 1) === data.length ? shape : [data.length];
  };
  const shaped = new Map([...weights].map(([name, data]) => [name, { data, shape: shapeOf(name, data) }]));
  return mapParams(paramsFromNamed(config, shaped, (t) => t.shape, source), (t) => t.data);
}

/**
 * Checks that a tree has exactly the leaves `config` declares (with their shapes when `shapeOf` gives them); throws
 * naming the first missing, unexpected or wrongly shaped parameter, e.g. "model.layers.3.self_attn.q_proj.bias".
 */
export function checkParams<T>(
  config: ModelConfig,
  tree: Qwen2Params<T>,
  what: string,
  shapeOf?: (leaf: T) => readonly (number | string)[],
): void {
  const want = new Map(namedLeaves(paramSpecs(config)));
  const have = new Map(namedLeaves(tree));
  for (const name of want.keys()) {
    if (!have.has(name)) throw new Error(`${what}: parameter ${name} is missing (the config declares it)`);
  }
  for (const [name, leaf] of have) {
    const spec = want.get(name);
    if (!spec) throw new Error(`${what}: parameter ${name} is not part of this config`);
    const shape = shapeOf?.(leaf);
    if (shape && !sameShape(spec.shape, shape as number[])) {
      throw new Error(`${what}: parameter ${name} is [${shape.join(", ")}], expected [${spec.shape.join(", ")}]`);
    }
  }
}
