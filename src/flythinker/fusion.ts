// Fusion of the Reasoner's latent thoughts into the Generator's input embeddings (docs/method.md, Fusion).
//   e'_p = E_G[x_p] + mask_p * lambda * s * r_{p-1} / ||r_{p-1}||
// s = mean L2 norm of the Generator's embedding rows; both norms are constants for the gradient.
import { Tensor, ops } from "../graph/index.ts";

export type FuseMode = "prefix" | "projection";
export type EnhanceMode = "global" | "input" | "output";

export interface FusionOptions {
  /** Weight of the thought (default 0.5). lambda = 0 reproduces the plain Generator. */
  lambda: number;
  /** How a d_R thought reaches d_G: add to the first d_R dims, or a learned linear map (needed when d_R > d_G). */
  fuse: FuseMode;
  /** Which positions receive a thought: every position >= 1, prompt positions only, or response positions only. */
  enhance: EnhanceMode;
}

export const DEFAULT_FUSION: FusionOptions = { lambda: 0.5, fuse: "prefix", enhance: "global" };

/** Graph input name of the learned projection [d_G, d_R] (HF-style [out, in]). */
export const PROJECTION_NAME = "fusion.projection.weight";

/** stop_gradient(mean over rows of ||E[v]||_2): the scale s (docs/method.md, Fusion), from the current table. */
export function embeddingNormScale(table: Tensor): Tensor {
  return table.square().sum(-1).sqrt().mean().stopGradient();
}

/** Same constant in plain TypeScript (float64 accumulation), for decoding graphs that take s as an input. */
export function embeddingNormScaleOf(table: Float32Array | Float64Array, dim: number): number {
  const rows = table.length / dim;
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) sq += table[j]! * table[j]!;
    total += Math.sqrt(sq);
  }
  return total / rows;
}

/**
 * Thought used at each position: r shifted right by one, zero at position 0.
 * thoughts [batch, seq, d_R] -> [batch, seq, d_R].
 */
export function shiftThoughts(thoughts: Tensor): Tensor {
  return ops.pad(thoughts.slice(1, 0, -1), 1, 1, 0);
}

/**
 * What a thought adds to an embedding: lambda * s * r / ||r||, in the Generator's width (first d_R dims, or through
 * the learned projection). prevThoughts [batch, seq, d_R] -> [batch, seq, d_G]; scale: scalar s; projection [d_G, d_R]
 * when fuse = "projection"; norms [batch, seq, 1]: ||r|| held fixed (for gradient checks), default computed, detached.
 */
export function thoughtVector(
  prevThoughts: Tensor,
  scale: Tensor,
  options: FusionOptions,
  dG: number,
  projection?: Tensor,
  norms?: Tensor,
): Tensor {
  const dR = prevThoughts.shape[2] as number;
  const unit = prevThoughts.div(norms ?? thoughtNorms(prevThoughts)).mul(scale.mul(options.lambda));
  if (options.fuse === "projection") {
    if (!projection) throw new Error("fuse: projection mode needs the projection weight");
    return unit.matmul(projection.t());
  }
  if (dR > dG) {
    throw new Error(`fuse: the Reasoner's hidden size ${dR} exceeds the Generator's ${dG}; use fuse "projection"`);
  }
  return dR === dG ? unit : ops.pad(unit, -1, 0, dG - dR);
}

/**
 * Add thoughts to embeddings: embeds [batch, seq, d_G] + mask [batch, seq] (1 = add) * thoughtVector(...).
 * The other arguments are thoughtVector's.
 */
export function fuse(
  embeds: Tensor,
  prevThoughts: Tensor,
  mask: Tensor,
  scale: Tensor,
  options: FusionOptions,
  projection?: Tensor,
  norms?: Tensor,
): Tensor {
  const dG = embeds.shape[2] as number;
  return embeds.add(thoughtVector(prevThoughts, scale, options, dG, projection, norms).mul(mask.unsqueeze(-1)));
}

/** ||r|| over the last axis, floored at 1e-12 (position 0 has a zero thought), detached. [batch, seq, 1]. */
export function thoughtNorms(prevThoughts: Tensor): Tensor {
  return ops.maximum(prevThoughts.square().sum(-1, true).sqrt(), 1e-12).stopGradient();
}

/** Identity-like initial projection [d_G, d_R]: at start, projection fusion equals prefix fusion. */
export function initialProjection(dG: number, dR: number): Float32Array {
  const w = new Float32Array(dG * dR);
  for (let i = 0; i < Math.min(dG, dR); i++) w[i * dR + i] = 1;
  return w;
}

/**
 * Which positions receive a thought, for one sequence: promptLen prompt tokens followed by the response.
 * Position 0 never does (it has no previous thought).
 */
export function thoughtMask(length: number, promptLen: number, enhance: EnhanceMode): Float32Array {
  const m = new Float32Array(length);
  for (let p = 1; p < length; p++) {
    const isResponse = p >= promptLen;
    m[p] = enhance === "global" || (enhance === "input" && !isResponse) || (enhance === "output" && isResponse) ? 1 : 0;
  }
  return m;
}
