// Elementwise functions written from primitive ops. They add no op of their own: autodiff differentiates the
// composition (no hand-written gradient rule), and each emits the node pattern ONNX Runtime fuses. A function belongs
// here only when its composition costs no more than an op of its own would, forward and backward; Sigmoid, SiLU and
// Rsqrt stay ops (elementwise.ts says why).
import type { Tensor } from "../graph.ts";
import { mul } from "./elementwise.ts";

/** x * x. */
export function square(x: Tensor): Tensor {
  return mul(x, x);
}
