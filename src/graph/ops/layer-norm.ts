// LayerNorm with a bias over the last axis (BERT-family encoders): one ONNX LayerNormalization node, its own rule.
import { type Tensor, ShapeError } from "../graph.ts";
import { shapeToString } from "../dims.ts";
import { defineOp } from "./registry.ts";
import { requireFloat, sameDType } from "./util.ts";
import { add, mul, sub, rsqrt } from "./elementwise.ts";
import { reduceMean } from "./reduce.ts";

interface LayerNormAttrs {
  eps: number;
}

/** (x - mean) / sqrt(var + eps) of x [..., D] over the last axis, recomputed from graph ops for the gradient. */
function normalized(x: Tensor, eps: number): { n: Tensor; r: Tensor } {
  const centred = sub(x, reduceMean(x, -1, true));
  const r = rsqrt(add(reduceMean(mul(centred, centred), -1, true), eps)); // [..., 1]
  return { n: mul(centred, r), r };
}

/**
 * y = (x - mean) / sqrt(var + eps) * weight + bias over the last axis (biased variance); x [..., D], weight and
 * bias [D]. Gradient, with n the normalised x, r = 1 / sqrt(var + eps) and dn = g * weight:
 *   dx = r (dn - mean(dn) - n mean(dn * n)),  dweight = sum(g * n),  dbias = sum(g)  (sums over the leading axes).
 */
export const layerNormOp = defineOp<LayerNormAttrs>("rule", {
  type: "LayerNorm",
  infer: (inputs) => {
    const [x, w, b] = inputs as [Tensor, Tensor, Tensor];
    requireFloat("LayerNorm", x);
    sameDType("LayerNorm", x, w, b);
    const d = x.shape[x.rank - 1];
    for (const p of [w, b]) {
      if (x.rank < 1 || p.rank !== 1 || p.shape[0] !== d) {
        throw new ShapeError(
          `LayerNorm: weight and bias must be [${d ?? "?"}] for x ${shapeToString(x.shape)}, got ${shapeToString(p.shape)}`,
        );
      }
    }
    return { dtype: x.dtype, shape: x.shape.slice() };
  },
  emit: (e, out) =>
    void e.node("LayerNormalization", out.inputs.map((t) => e.name(t)), [e.name(out)], {
      axis: -1,
      epsilon: { float: out.attrs.eps },
    }),
  grad: (out, g) => {
    const [x, w] = out.inputs as [Tensor, Tensor];
    // ONNX carries epsilon as a float32 attribute; the rule uses the same value.
    const { n, r } = normalized(x, Math.fround(out.attrs.eps));
    const dn = mul(g, w);
    const dx = mul(r, sub(sub(dn, reduceMean(dn, -1, true)), mul(n, reduceMean(mul(dn, n), -1, true))));
    return [dx, mul(g, n), g];
  },
});

/** LayerNorm of x [..., D] with weight and bias [D]. */
export function layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
  return x.graph.add(layerNormOp, [x, weight, bias], { eps });
}
