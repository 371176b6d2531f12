// The interface ops use to write ONNX nodes. Implemented by ./onnx.ts.
import type { DType } from "./dtype.ts";
import type { Dim } from "./dims.ts";
import type { Tensor } from "./graph.ts";

/** ONNX attribute values: plain numbers are ints; use {float} for floats. */
/** ONNX Runtime's contrib operator set (MatMulNBits, GatherBlockQuantized), version 1. */
export const CONTRIB_DOMAIN = "com.microsoft";

export type AttrValue = number | number[] | string | { float: number };

export interface Emitter {
  /** The ONNX value name carrying tensor `t`. */
  name(t: Tensor): string;
  /** A new unique value name. */
  fresh(hint: string): string;
  /**
   * Append an ONNX node; returns its first output name. `domain` names an operator set other than the standard one
   * (CONTRIB_DOMAIN for ONNX Runtime's contrib ops); an empty input name leaves an optional input out.
   */
  node(opType: string, inputs: string[], outputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string;
  /** Shorthand: node with one fresh output. */
  op(opType: string, inputs: string[], attrs?: Record<string, AttrValue>): string;
  /** A 1-D int64 initializer. */
  int64s(values: readonly number[]): string;
  /** A rank-0 initializer of the given dtype. */
  scalar(value: number, dtype: DType): string;
  /** Runtime value of a dim as a 1-D int64 tensor of length 1. */
  dim(d: Dim): string;
  /** Runtime value of a shape as a 1-D int64 tensor. Numeric -1 passes through (Reshape's "infer"). */
  shape(dims: readonly Dim[]): string;
}
