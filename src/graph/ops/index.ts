// All ops. Each op's shape rule, ONNX emission and gradient live together in one of these files.
export * from "./elementwise.ts";
export * from "./composites.ts";
export * from "./shape.ts";
export * from "./reduce.ts";
export * from "./linalg.ts";
export * from "./indexing.ts";
export * from "./nn.ts";
export * from "./lm-head.ts";
export * from "./layer-norm.ts";
export * from "./padding-mask.ts";
export { defineOp, registeredOps, registeredOp, type Differentiation, type RegisteredOp } from "./registry.ts";
export * from "./quantized.ts";
