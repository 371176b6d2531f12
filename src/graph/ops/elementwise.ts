// Element-wise ops with numpy broadcasting: arithmetic, unary maths, comparisons, where.
import { type OpDef, type Tensor, type Scalarish, ShapeError } from "../graph.ts";
import { broadcastShapes, shapeToString } from "../dims.ts";
import type { Emitter } from "../emitter.ts";
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
  emit: (e: Emitter, x: string, out: string) => void,
  grad?: (x: Tensor, out: Tensor, g: Tensor) => Tensor,
  float = true,
): (x: Tensor) => Tensor {
  const def = defineOp<NoAttrs>(grad ? "rule" : "none", {
    type,
    infer: ([x]) => {
      if (float) requireFloat(type, x!);
      return { dtype: x!.dtype, shape: x!.shape.slice() };
    },
    emit: (e, out) => emit(e, e.name(out.inputs[0]!), e.name(out)),
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
