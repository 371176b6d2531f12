// The op registry: every op is registered once with its rules, and every op a model's training step uses is the
// registered one. Which registered ops have forward and finite-difference checks is proven in ./forward.test.ts and
// ./gradients.test.ts.
import { test } from "node:test";
import { namedLeaves } from "../../src/model/hf-names.ts";
import assert from "node:assert/strict";
import { Graph, Tensor, grad, adamw, neededTensors, ops, type OpDef } from "../../src/graph/index.ts";
import { presetConfig } from "../../src/model/config.ts";
import { declareParams, embedTokens, forwardHidden, lmHead } from "../../src/model/qwen2.ts";
import { headOf } from "../../src/model/params.ts";

const registered = ops.registeredOps();

test("every registered op has a shape rule and an ONNX emission, under its own type", () => {
  assert.ok(registered.size >= 40, `only ${registered.size} ops are registered`);
  for (const [type, { op, differentiation }] of registered) {
    assert.equal(op.type, type);
    assert.equal(typeof op.infer, "function", `${type}: infer`);
    assert.equal(typeof op.emit, "function", `${type}: emit`);
    const hasRule = typeof op.grad === "function";
    assert.equal(hasRule, differentiation === "rule" || differentiation === "detached", `${type}: gradient rule`);
  }
});

test("the registry says how autodiff treats each op", () => {
  const kind = (type: string) => ops.registeredOp(type)?.differentiation;
  assert.deepEqual(
    ["Add", "MatMul", "Silu", "Rsqrt", "Sigmoid", "Expand", "Where", "Gather", "Cast"].map(kind),
    ["rule", "rule", "rule", "rule", "rule", "rule", "rule", "rule", "rule"],
  );
  assert.deepEqual(["StopGradient", "ZerosLike"].map(kind), ["detached", "detached"]);
  assert.deepEqual(["Equal", "Not", "Sign", "Range", "DimValue", "Input", "Constant"].map(kind), Array(7).fill("none"));
  assert.deepEqual(["GatherGrad", "SliceGrad"].map(kind), ["helper", "helper"]);
  assert.equal(kind("NoSuchOp"), undefined);
});

test("registering a second op of a type, or a kind its rule contradicts, throws and changes nothing", () => {
  const size = registered.size;
  const add = ops.registeredOp("Add")!.op;
  assert.throws(() => ops.defineOp("rule", { ...add }), /op type "Add" is registered twice/);
  const ruleless: OpDef = { type: "TestNoRule", infer: add.infer, emit: add.emit };
  assert.throws(() => ops.defineOp("rule", ruleless), /registered as "rule" but has no gradient rule/);
  assert.throws(() => ops.defineOp("none", { ...ruleless, grad: () => [null] }), /registered as "none" but has gradient rule/);
  assert.equal(registered.size, size);
  assert.equal(ops.registeredOp("Add")!.op, add);
  assert.equal(ops.registeredOp("TestNoRule"), undefined);
});

test("every exported op definition is the registered op of its type", () => {
  const exported = Object.values(ops).filter(
    (v): v is OpDef => typeof v === "object" && v !== null && "emit" in v && "type" in v,
  );
  assert.ok(exported.length >= 25, `found only ${exported.length} exported op definitions`);
  for (const op of exported) assert.equal(ops.registeredOp(op.type)?.op, op, `${op.type} is not registered`);
});

test("every op of a model's training step (forward, gradients, AdamW) is a registered op", () => {
  const config = presetConfig("tiny");
  const g = new Graph();
  const params = declareParams(g, config);
  const ids = g.input("ids", "int64", ["batch", "seq"]);
  const labels = g.input("labels", "int64", ["batch", "seq"]);
  // Both heads (plain and chunked) and checkpointed layers, so every op a training graph may use is in the step.
  const { hidden } = forwardHidden(config, params, { embeds: embedTokens(params, ids), checkpointLayers: true });
  const plain = ops.crossEntropy(lmHead(params, hidden), labels).loss;
  const loss = plain.add(ops.lmHeadCrossEntropy(hidden, headOf(params), labels, { chunk: 128 }).loss);
  const named = new Map(namedLeaves(params));
  const grads = grad(loss, [...named.values()]);
  const step = adamw(g, named, grads);
  const outputs: Tensor[] = [loss, step.gradNorm, ...step.groups.flatMap((gr) => [gr.newP, gr.newM, gr.newV])];
  const types = new Set<string>();
  for (const t of neededTensors(outputs)) {
    assert.equal(ops.registeredOp(t.op.type)?.op, t.op, `${t} uses an op that is not the registered ${t.op.type}`);
    types.add(t.op.type);
  }
  // The step uses ops of every kind but "none"-only leaves: rules, detached ops and gradient helpers.
  for (const t of ["MatMul", "Silu", "Softmax", "GatherGrad", "GatherElementsGrad", "SliceGrad", "Input", "ChunkedLogSumExpGrad", "SecondOutput", "OrderAfter"]) {
    assert.ok(types.has(t), `the training step has no ${t}`);
  }
});
