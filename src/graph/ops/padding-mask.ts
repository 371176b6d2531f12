// The additive attention bias of a padding mask without causality (encoders: every query sees every real key).
import { type Tensor, ShapeError } from "../graph.ts";
import { shapeToString } from "../dims.ts";
import { type DType, ONNX_TYPE } from "../dtype.ts";
import { defineOp } from "./registry.ts";

interface PaddingBiasAttrs {
  dtype: DType;
}

/** The most negative finite value of a float dtype (what HF adds at padded keys: (1 - mask) * finfo.min). */
export function mostNegative(dtype: DType): number {
  if (dtype === "float32") return -3.4028234663852886e38;
  if (dtype === "float64") return -Number.MAX_VALUE;
  throw new ShapeError(`PaddingBias: the bias dtype must be float32 or float64, got ${dtype}`);
}

/**
 * mask [batch, keys] (1 = real token, 0 = padding; int64, int32, bool or float) -> bias [batch, 1, 1, keys]: 0 at
 * real keys, the dtype's most negative value at padded ones. Added to scores [batch, heads, queries, keys] before
 * the softmax. No causal part, no gradient (a mask is data).
 */
export const paddingBiasOp = defineOp<PaddingBiasAttrs>("none", {
  type: "PaddingBias",
  infer: ([mask], { dtype }) => {
    if (mask!.rank !== 2) {
      throw new ShapeError(`PaddingBias: the mask must be [batch, keys], got ${shapeToString(mask!.shape)}`);
    }
    mostNegative(dtype);
    return { dtype, shape: [mask!.shape[0]!, 1, 1, mask!.shape[1]!] };
  },
  emit: (e, out) => {
    const mask = out.inputs[0]!;
    const keep = mask.dtype === "bool" ? e.name(mask) : e.op("Cast", [e.name(mask)], { to: ONNX_TYPE.bool });
    const bias = e.op("Where", [keep, e.scalar(0, out.attrs.dtype), e.scalar(mostNegative(out.attrs.dtype), out.attrs.dtype)]);
    e.node("Unsqueeze", [bias, e.int64s([1, 2])], [e.name(out)]);
  },
});

/** The additive bias [batch, 1, 1, keys] of a padding mask [batch, keys], as `dtype`. */
export function paddingBias(mask: Tensor, dtype: DType): Tensor {
  return mask.graph.add(paddingBiasOp, [mask], { dtype });
}
