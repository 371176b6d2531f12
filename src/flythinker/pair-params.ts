// The parameters of a FlyThinker pair as one value: the Generator's tree, the Reasoner's (FlyThinker only) and the
// learned projection (fuse = projection only). This file is the one place where they meet graph-input names:
// "generator." + HF name, "reasoner." + HF name, and PROJECTION_NAME.
import type { DType, Graph, Tensor } from "../graph/index.ts";
import type { ModelConfig } from "../model/config.ts";
import { mapNamed, namedLeaves, paramsFromFlat } from "../model/hf-names.ts";
import { type Qwen2Params, paramLeaves, paramSpecs } from "../model/params.ts";
import { declareParams } from "../model/qwen2.ts";
import { PROJECTION_NAME } from "./fusion.ts";

/** Graph-input prefixes of the two models' parameters. */
export const GENERATOR_PREFIX = "generator.";
export const REASONER_PREFIX = "reasoner.";

export interface PairParams<T> {
  generator: Qwen2Params<T>;
  /** Absent: SFT (the Generator alone). */
  reasoner?: Qwen2Params<T>;
  /** [d_G, d_R] (HF-style [out, in]). */
  projection?: T;
}

/** What a pair's parameter layout depends on. */
export interface PairShape {
  generator: ModelConfig;
  reasoner?: ModelConfig;
  fusion: { fuse: "prefix" | "projection" };
}

export type PairPart = "generator" | "reasoner";
const PREFIX: Record<PairPart, string> = { generator: GENERATOR_PREFIX, reasoner: REASONER_PREFIX };

/** One model of the pair declared as graph inputs ("generator." / "reasoner." + HF name). */
export function declarePairPart(g: Graph, part: PairPart, config: ModelConfig, dtype: DType = "float32"): Qwen2Params<Tensor> {
  return declareParams(g, config, PREFIX[part], dtype);
}

/** The projection [d_G, d_R] declared as a graph input. */
export function declareProjection(g: Graph, generator: ModelConfig, reasoner: ModelConfig, dtype: DType = "float32"): Tensor {
  return g.input(PROJECTION_NAME, dtype, [generator.hiddenSize, reasoner.hiddenSize]);
}

/** Every leaf in the fixed order: Generator, Reasoner (unless `withoutReasoner`), projection. */
export function pairLeaves<T>(p: PairParams<T>, options: { withoutReasoner?: boolean } = {}): T[] {
  const list = paramLeaves(p.generator);
  if (p.reasoner && !options.withoutReasoner) list.push(...paramLeaves(p.reasoner));
  if (p.projection !== undefined) list.push(p.projection);
  return list;
}

/** The pair keyed by graph-input name, in the order of `pairLeaves`. */
export function flattenPair<T>(p: PairParams<T>): Map<string, T> {
  const out = new Map<string, T>();
  for (const [name, leaf] of namedLeaves(p.generator)) out.set(GENERATOR_PREFIX + name, leaf);
  if (p.reasoner) for (const [name, leaf] of namedLeaves(p.reasoner)) out.set(REASONER_PREFIX + name, leaf);
  if (p.projection !== undefined) out.set(PROJECTION_NAME, p.projection);
  return out;
}

/**
 * The pair of `shape` from values keyed by graph-input name (other names are ignored). Throws naming the first
 * parameter that is missing.
 */
export function unflattenPair<T>(shape: PairShape, named: ReadonlyMap<string, T>, source = "pair weights"): PairParams<T> {
  const take = (name: string): T => {
    const v = named.get(name);
    if (v === undefined) throw new Error(`${source}: no value for the parameter "${name}"`);
    return v;
  };
  const part = (which: PairPart, config: ModelConfig) => mapNamed(paramSpecs(config), (_, name) => take(PREFIX[which] + name));
  const out: PairParams<T> = { generator: part("generator", shape.generator) };
  if (shape.reasoner) {
    out.reasoner = part("reasoner", shape.reasoner);
    if (shape.fusion.fuse === "projection") out.projection = take(PROJECTION_NAME);
  }
  return out;
}

/** A pair from HF-named maps (as checkpoints and PairWeights hold them), sizes checked against the configs. */
export function pairFromNamed(
  shape: PairShape,
  weights: { generator: ReadonlyMap<string, Float32Array>; reasoner?: ReadonlyMap<string, Float32Array>; projection?: Float32Array },
  source = "pair weights",
): PairParams<Float32Array> {
  const out: PairParams<Float32Array> = { generator: paramsFromFlat(shape.generator, weights.generator, `${source} (Generator)`) };
  if (shape.reasoner && weights.reasoner) {
    out.reasoner = paramsFromFlat(shape.reasoner, weights.reasoner, `${source} (Reasoner)`);
  }
  if (weights.projection) out.projection = weights.projection;
  return out;
}
