// The op registry: every OpDef, keyed by its type, with how reverse-mode autodiff treats it. Ops register where they
// are defined (defineOp); the tests enumerate this registry to prove each op has its rules and its checks.
import type { OpDef } from "../graph.ts";

/**
 * How autodiff treats an op:
 * - "rule": it has a gradient rule (checked in float64 against finite differences, and forward against a reference);
 * - "detached": it passes no gradient on, by design (stopGradient, zerosLike); its rule returns nulls;
 * - "none": intentionally not differentiable (bool/integer results, graph leaves, runtime sizes): no rule;
 * - "helper": it only appears inside gradients (scatter-adds, zero pads) and has no rule (no second derivatives).
 */
export type Differentiation = "rule" | "detached" | "none" | "helper";

export interface RegisteredOp {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the registry holds ops of every attribute type
  readonly op: OpDef<any>;
  readonly differentiation: Differentiation;
}

const registry = new Map<string, RegisteredOp>();

/** Registers `op` under its type and returns it. Throws on a second op of the same type or a kind its rule contradicts. */
export function defineOp<A>(differentiation: Differentiation, op: OpDef<A>): OpDef<A> {
  if (registry.has(op.type)) throw new Error(`op type "${op.type}" is registered twice`);
  const hasRule = typeof op.grad === "function";
  const needsRule = differentiation === "rule" || differentiation === "detached";
  if (hasRule !== needsRule) {
    throw new Error(`op "${op.type}" is registered as "${differentiation}" but ${hasRule ? "has" : "has no"} gradient rule`);
  }
  registry.set(op.type, { op, differentiation });
  return op;
}

/** Every registered op, by type. */
export function registeredOps(): ReadonlyMap<string, RegisteredOp> {
  return registry;
}

/** The registered op of this type (undefined when none is). */
export function registeredOp(type: string): RegisteredOp | undefined {
  return registry.get(type);
}
