// Composite neural-network functions built from primitive ops (their gradients follow automatically).
import { type Tensor, ShapeError } from "../graph.ts";
import { logSoftmax, reduceSum, reduceMean } from "./reduce.ts";
import { equal, not, where, mul, div, neg, maximum, sqrt, pow, add } from "./elementwise.ts";
import { cast, range, unsqueeze, squeeze } from "./shape.ts";
import { gatherElements } from "./indexing.ts";
import type { DType } from "../dtype.ts";

/** one_hot(ids)[..., v] = 1 where ids == v, as `dtype`; ids [...] -> [..., depth]. */
export function oneHot(ids: Tensor, depth: number, dtype: DType = "float32"): Tensor {
  const hits = equal(unsqueeze(ids, -1), range(ids.graph, depth, ids.dtype));
  return cast(hits, dtype);
}

export interface CrossEntropyResult {
  /** Mean negative log-likelihood over counted positions (0 when none are counted). Scalar. */
  loss: Tensor;
  /** Negative log-likelihood at every position (0 where ignored). Shape of labels. */
  nll: Tensor;
  /** Number of counted positions, as the logits' dtype. Scalar. */
  count: Tensor;
}

/**
 * Cross-entropy of logits [..., V] against integer labels [...]; positions whose label equals `ignoreIndex`
 * do not count. The mean is over counted positions.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, ignoreIndex = -100): CrossEntropyResult {
  if (labels.dtype !== "int64" && labels.dtype !== "int32") {
    throw new ShapeError(`crossEntropy: labels must be int64 or int32, got ${labels}`);
  }
  if (logits.rank !== labels.rank + 1 || labels.shape.some((d, i) => d !== logits.shape[i])) {
    throw new ShapeError(`crossEntropy: logits ${logits} must have the labels' shape ${labels} plus a vocabulary axis`);
  }
  const g = logits.graph;
  const ignored = equal(labels, g.scalar(ignoreIndex, labels.dtype));
  const safe = where(ignored, g.scalar(0, labels.dtype), labels);
  const logp = squeeze(gatherElements(logSoftmax(logits, -1), unsqueeze(safe, -1), -1), -1);
  const keep = cast(not(ignored), logits.dtype);
  const nll = mul(neg(logp), keep);
  const count = reduceSum(keep);
  const loss = div(reduceSum(nll), maximum(count, 1));
  return { loss, nll, count };
}

/**
 * RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight. Written in the form ONNX Runtime fuses into one
 * SimplifiedLayerNormalization kernel when nothing else reads the intermediates (inference graphs).
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  return mul(div(x, sqrt(add(reduceMean(pow(x, 2), -1, true), eps))), weight);
}
