// Public API of the tensor-graph engine.
export { Graph, Tensor, ShapeError, GraphError, type OpDef, type Scalarish } from "./graph.ts";
export { grad, gradients, type Gradients } from "./autodiff.ts";
export { adamw, DEFAULT_ADAMW, type AdamWOptions, type AdamWStep } from "./optim.ts";
export { emitOnnx, neededTensors, OPSET } from "./onnx.ts";
export type { DType, AnyTypedArray } from "./dtype.ts";
export type { Dim, Shape } from "./dims.ts";
export * as ops from "./ops/index.ts";
