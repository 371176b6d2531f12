// Element-wise ops with numpy broadcasting: arithmetic, unary maths, comparisons, where.
import { type OpDef, type Tensor, type Scalarish, ShapeError } from "../graph.ts";
import { broadcastShapes, shapeToString } from "../dims.ts";
import type { Emitter } from "../emitter.ts";
import type { DType } from "../dtype.ts";
import { pair, sameDType, requireFloat } from "./util.ts";
import { defineOp } from "./registry.ts";

type NoAttrs = Record<string, never>;

function broadcastInfer(type: string, boolOut = false) {
  return (inputs: readonly Tensor[]) => {
    sameDType(type, ...inputs);
    let shape = inputs[0]!.shape.slice();
    for (const t of inputs.slice(1)) {
      const b = broadcastShapes(shape, t.shape);
      if (!b) {
        throw new ShapeError(
          `${type}: shapes ${inputs.map((x) => shapeToString(x.shape)).join(" and ")} do not broadcast`,
        );
      }
      shape = b;
    }
    return { dtype: boolOut ? ("bool" as const) : inputs[0]!.dtype, shape };
  };
}

/** A broadcasting binary op. Its rule gives both gradients in the output's shape; autodiff sums them to each input's. */
function binary(
  type: string,
  onnx: string,
  grad: (out: Tensor<NoAttrs>, g: Tensor, a: Tensor, b: Tensor) => [Tensor | null, Tensor | null],
): OpDef<NoAttrs> {
  return {
    type,
    infer: broadcastInfer(type),
    emit: (e, out) => void e.node(onnx, out.inputs.map((t) => e.name(t)), [e.name(out)]),
    grad: (out, g) => grad(out, g, out.inputs[0]!, out.inputs[1]!),
  };
}

export const addOp = defineOp("rule", binary("Add", "Add", (_o, g) => [g, g]));
export const subOp = defineOp("rule", binary("Sub", "Sub", (_o, g) => [g, neg(g)]));
export const mulOp = defineOp("rule", binary("Mul", "Mul", (_o, g, a, b) => [mul(g, b), mul(g, a)]));
export const divOp = defineOp("rule", binary("Div", "Div", (o, g, _a, b) => [div(g, b), neg(mul(g, div(o, b)))]));
/** The value of a one-element constant tensor, else undefined. */
function constantValue(t: Tensor): number | undefined {
  if (t.op.type !== "Constant") return undefined;
  const value = (t.attrs as { value?: ArrayLike<number> }).value;
  return value && value.length === 1 ? Number(value[0]) : undefined;
}

/** Pow takes float operands only. */
export const powOp = defineOp("rule", checkFloat(binary("Pow", "Pow", (o, g, a, b) => {
  const exponent = constantValue(b);
  // d(a^2)/da = 2a: no Pow in the backward pass for the common square.
  const ga = exponent === 2 ? mul(g, mul(a, 2)) : mul(g, mul(b, pow(a, sub(b, 1))));
  return [ga, exponent === undefined ? mul(g, mul(o, log(a))) : null];
})));
export const maximumOp = defineOp("rule", binary("Max", "Max", (_o, g, a, b) => {
  const aWins = ge(a, b);
  const zero = g.graph.scalar(0, g.dtype);
  return [where(aWins, g, zero), where(aWins, zero, g)];
}));

function checkFloat(op: OpDef<NoAttrs>): OpDef<NoAttrs> {
  return {
    ...op,
    infer: (inputs, attrs) => {
      for (const t of inputs) requireFloat(op.type, t);
      return op.infer(inputs, attrs);
    },
  };
}

function compare(type: string, onnx: string): OpDef<NoAttrs> {
  return defineOp("none", {
    type,
    infer: broadcastInfer(type, true),
    emit: (e, out) => void e.node(onnx, out.inputs.map((t) => e.name(t)), [e.name(out)]),
  });
}
export const equalOp = compare("Equal", "Equal");
export const lessOp = compare("Less", "Less");
export const greaterOp = compare("Greater", "Greater");
export const greaterOrEqualOp = compare("GreaterOrEqual", "GreaterOrEqual");
export const andOp = compare("And", "And");
export const notOp = defineOp<NoAttrs>("none", {
  type: "Not",
  infer: ([x]) => ({ dtype: "bool", shape: x!.shape.slice() }),
  emit: (e, out) => void e.node("Not", [e.name(out.inputs[0]!)], [e.name(out)]),
});

function lifted(op: OpDef<NoAttrs>) {
  return (a: Scalarish, b: Scalarish): Tensor => {
    const [x, y] = pair(a, b, op.type);
    return x.graph.add(op, [x, y], {});
  };
}
export const add = lifted(addOp);
export const sub = lifted(subOp);
export const mul = lifted(mulOp);
export const div = lifted(divOp);
export const pow = lifted(powOp);
export const maximum = lifted(maximumOp);
export const equal = lifted(equalOp);
export const less = lifted(lessOp);
export const greater = lifted(greaterOp);
export const ge = lifted(greaterOrEqualOp);
export const and = lifted(andOp);
export const not = (x: Tensor): Tensor => x.graph.add(notOp, [x], {});

/** where(cond, a, b): a where cond is true, else b (broadcasting). */
export const whereOp = defineOp<NoAttrs>("rule", {
  type: "Where",
  infer: (inputs) => {
    const [c, a, b] = inputs as [Tensor, Tensor, Tensor];
    if (c.dtype !== "bool") throw new ShapeError(`Where: condition must be bool, got ${c}`);
    sameDType("Where", a, b);
    const s = broadcastShapes(c.shape, a.shape);
    const shape = s && broadcastShapes(s, b.shape);
    if (!shape) {
      throw new ShapeError(
        `Where: shapes ${shapeToString(c.shape)}, ${shapeToString(a.shape)}, ${shapeToString(b.shape)} do not broadcast`,
      );
    }
    return { dtype: a.dtype, shape };
  },
  emit: (e, out) => void e.node("Where", out.inputs.map((t) => e.name(t)), [e.name(out)]),
  grad: (out, g) => {
    const c = out.inputs[0]!;
    const zero = g.graph.scalar(0, g.dtype);
    return [null, where(c, g, zero), where(c, zero, g)];
  },
});
export function where(cond: Tensor, a: Scalarish, b: Scalarish): Tensor {
  const [x, y] = pair(a, b, "Where");
  return cond.graph.add(whereOp, [cond, x, y], {});
}

// Unary ops: `emit` writes ONNX for x -> out; `grad` maps (x, out, g) -> dx.
function unary(
  type: string,
  emit: (e: Emitter, x: string, out: string, dtype: DType) => void,
  grad?: (x: Tensor, out: Tensor, g: Tensor) => Tensor,
  float = true,
): (x: Tensor) => Tensor {
  const def = defineOp<NoAttrs>(grad ? "rule" : "none", {
    type,
    infer: ([x]) => {
      if (float) requireFloat(type, x!);
      return { dtype: x!.dtype, shape: x!.shape.slice() };
    },
    emit: (e, out) => emit(e, e.name(out.inputs[0]!), e.name(out), out.dtype),
    grad: grad ? (out, g) => [grad(out.inputs[0]!, out, g)] : undefined,
  });
  return (x: Tensor) => x.graph.add(def, [x], {});
}
const simple = (onnx: string) => (e: Emitter, x: string, out: string) => void e.node(onnx, [x], [out]);

export const neg = unary("Neg", simple("Neg"), (_x, _o, g) => neg(g), false);
export const exp = unary("Exp", simple("Exp"), (_x, o, g) => mul(g, o));
export const log = unary("Log", simple("Log"), (x, _o, g) => div(g, x));
export const sqrt = unary("Sqrt", simple("Sqrt"), (_x, o, g) => div(mul(g, 0.5), o));
// Kept as one op with its own rule: written as reciprocal(sqrt(x)), its gradient would take 5 elementwise nodes
// instead of these 4.
export const rsqrt = unary(
  "Rsqrt",
  (e, x, out) => void e.node("Reciprocal", [e.op("Sqrt", [x])], [out]),
  (_x, o, g) => mul(g, mul(mul(o, mul(o, o)), -0.5)),
);
export const reciprocal = unary("Reciprocal", simple("Reciprocal"), (_x, o, g) => neg(mul(g, mul(o, o))));
export const tanh = unary("Tanh", simple("Tanh"), (_x, o, g) => mul(g, sub(1, mul(o, o))));
// ONNX's own Sigmoid node (the one ONNX Runtime fuses); as 1 / (1 + exp(-x)) it would emit 4 nodes instead of 1 and
// its gradient 5 instead of 3.
export const sigmoid = unary("Sigmoid", simple("Sigmoid"), (_x, o, g) => mul(g, mul(o, sub(1, o))));
// Kept as one op with its own rule: emitted as Mul(x, Sigmoid(x)), which ONNX Runtime fuses into one kernel. Written
// as mul(x, sigmoid(x)) in the graph, its gradient would keep sigmoid(x) [..., intermediate] alive from forward to
// backward (same node count, more peak memory in a training step); recomputing that composition in the backward pass
// instead costs one more elementwise node than this rule.
export const silu = unary(
  "Silu",
  (e, x, out) => void e.node("Mul", [x, e.op("Sigmoid", [x])], [out]),
  (x, _o, g) => {
    const s = sigmoid(x);
    return mul(g, mul(s, add(1, mul(x, sub(1, s)))));
  },
);
export const relu = unary("Relu", simple("Relu"), (x, _o, g) => where(greater(x, 0), g, 0));
export const sign = unary("Sign", simple("Sign"));
export const abs = unary("Abs", simple("Abs"), (x, _o, g) => mul(g, sign(x)));
export const sin = unary("Sin", simple("Sin"), (x, _o, g) => mul(g, cos(x)));
export const cos = unary("Cos", simple("Cos"), (x, _o, g) => neg(mul(g, sin(x))));

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
/** Terms of the float64 erf series; with |x| clamped to 6 its truncation error is below double rounding. */
const ERF_SERIES_TERMS = 100;

/**
 * Writes erf(x) into `out`. ONNX `Erf` for float32/float16; ONNX Runtime's CPU provider has no float64 Erf kernel, so
 * float64 graphs (the gradient checks) get the everywhere-positive series
 *   erf(x) = 2/sqrt(pi) e^(-x^2) x sum_n (2x^2)^n / (1*3*...*(2n+1)),
 * in Horner form (s = 1 + 2x^2/(2n+1) s from the last term down) on x clamped to [-6, 6], where erf is +-1 to 2e-17.
 */
function emitErf(e: Emitter, x: string, out: string, dtype: DType): void {
  if (dtype !== "float64") {
    e.node("Erf", [x], [out]);
    return;
  }
  const c = e.op("Clip", [x, e.scalar(-6, "float64"), e.scalar(6, "float64")]);
  const c2 = e.op("Mul", [c, c]);
  const t = e.op("Add", [c2, c2]);
  let s = e.scalar(1, "float64");
  for (let n = ERF_SERIES_TERMS; n >= 1; n--) {
    const term = e.op("Mul", [e.op("Mul", [t, s]), e.scalar(1 / (2 * n + 1), "float64")]);
    s = e.op("Add", [term, e.scalar(1, "float64")]);
  }
  const scaled = e.op("Mul", [e.op("Exp", [e.op("Neg", [c2])]), e.scalar(TWO_OVER_SQRT_PI, "float64")]);
  e.node("Mul", [e.op("Mul", [scaled, c]), s], [out]);
}

/** erf(x); d/dx = 2/sqrt(pi) e^(-x^2). */
export const erf = unary("Erf", emitErf, (x, _o, g) => mul(g, mul(exp(neg(mul(x, x))), TWO_OVER_SQRT_PI)));

/**
 * Exact GELU: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) (BERT's "gelu"). Emitted as Div, Erf, Add, Mul, Mul, the
 * pattern ONNX Runtime fuses into one Gelu kernel. Its own rule: d/dx = Phi(x) + x phi(x), phi the normal density.
 */
export const gelu = unary(
  "Gelu",
  (e, x, out, dtype) => {
    const z = e.fresh("gelu_erf");
    emitErf(e, e.op("Div", [x, e.scalar(Math.SQRT2, dtype)]), z, dtype);
    const half = e.op("Mul", [x, e.op("Add", [z, e.scalar(1, dtype)])]);
    e.node("Mul", [half, e.scalar(0.5, dtype)], [out]);
  },
  (x, _o, g) => {
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return mul(g, add(cdf, mul(x, pdf)));
  },
);

