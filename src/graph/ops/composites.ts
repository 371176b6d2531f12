// Elementwise functions written from primitive ops. They add no op of their own: autodiff differentiates the
// composition (no hand-written gradient rule), and each emits the node pattern ONNX Runtime fuses.
import type { Tensor } from "../graph.ts";
import { mul } from "./elementwise.ts";

/** x * x. */
export function square(x: Tensor): Tensor {
  return mul(x, x);
}
