// Element types of graph tensors and their ONNX / typed-array counterparts. "uint8" holds packed block-quantized
// weights (graph/quant.ts); like "bool" its values live in a Uint8Array.
export type DType = "float32" | "float64" | "int64" | "int32" | "bool" | "uint8";

export type TypedArrayFor<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "int64"
      ? BigInt64Array
      : D extends "int32"
        ? Int32Array
        : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** ONNX TensorProto.DataType codes. */
export const ONNX_TYPE: Record<DType, number> = {
  float32: 1,
  bool: 9,
  int32: 6,
  int64: 7,
  float64: 11,
  uint8: 2,
};

/** onnxruntime-common's names for the same types. */
export const ORT_TYPE: Record<DType, string> = {
  float32: "float32",
  float64: "float64",
  int64: "int64",
  int32: "int32",
  bool: "bool",
  uint8: "uint8",
};

/** The typed array that holds each type's values. */
export const ARRAY_OF: Record<DType, string> = {
  float32: "Float32Array",
  float64: "Float64Array",
  int64: "BigInt64Array",
  int32: "Int32Array",
  bool: "Uint8Array",
  uint8: "Uint8Array",
};

export function isFloat(d: DType): boolean {
  return d === "float32" || d === "float64";
}

/** The dtype of a typed array; a Uint8Array reads as "bool" (it holds "uint8" values too). */
export function typedArrayDType(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Int32Array) return "int32";
  return "bool";
}

export function allocate(dtype: DType, length: number): AnyTypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(length);
    case "float64":
      return new Float64Array(length);
    case "int64":
      return new BigInt64Array(length);
    case "int32":
      return new Int32Array(length);
    case "bool":
    case "uint8":
      return new Uint8Array(length);
  }
}
