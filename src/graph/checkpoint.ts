// Activation checkpointing: a region of the graph (e.g. one decoder layer) whose backward pass recomputes the
// region's forward from its inputs instead of reading the tensors the forward pass made, so those tensors can be
// freed as soon as the forward pass is done with them. Only the region's inputs stay alive until the backward pass.
//
// `checkpoint(inputs, fn)` builds fn(inputs) and records the region. When `grad` reaches the region's output with
// gradient g, it calls fn again on copies of the inputs made to depend on g (`orderAfter`), which gives the recomputed
// nodes different inputs from the forward ones (so ONNX Runtime's common-subexpression pass cannot merge them back)
// and makes the recomputation wait for the backward pass to arrive at the region; then it differentiates the
// recomputed output with seed g.
import { type OpDef, type Tensor, type Graph, GraphError } from "./graph.ts";
import { defineOp } from "./ops/registry.ts";

export interface CheckpointRegion {
  /** Id of the first tensor `fn` created. */
  start: number;
  output: Tensor;
  inputs: readonly Tensor[];
  recompute: (inputs: Tensor[]) => Tensor;
}

const regions = new WeakMap<Graph, Map<number, CheckpointRegion>>();
const recomputing = new WeakSet<Graph>();

/** fn(inputs), recorded as a region that the backward pass recomputes. The inputs must be tensors of one graph. */
export function checkpoint(inputs: readonly Tensor[], fn: (inputs: Tensor[]) => Tensor): Tensor {
  const graph = inputs[0]?.graph;
  if (!graph) throw new GraphError("checkpoint: needs at least one input tensor");
  if (recomputing.has(graph)) return fn([...inputs]); // nested regions are recomputed as part of the outer one
  const start = graph.tensors.length;
  const output = fn([...inputs]);
  if (output.graph !== graph) throw new GraphError(`checkpoint: output ${output} belongs to another graph`);
  if (output.id < start) return output; // fn made nothing new
  let map = regions.get(graph);
  if (!map) regions.set(graph, (map = new Map()));
  map.set(output.id, { start, output, inputs: [...inputs], recompute: fn });
  return output;
}

/** The region whose output is `t`, if any. */
export function regionOf(t: Tensor): CheckpointRegion | undefined {
  return regions.get(t.graph)?.get(t.id);
}

/** Runs fn as the recomputation of a region (regions it declares are not recorded again). */
export function recomputeRegion(region: CheckpointRegion, inputs: Tensor[]): Tensor {
  const graph = region.output.graph;
  recomputing.add(graph);
  try {
    return region.recompute(inputs);
  } finally {
    recomputing.delete(graph);
  }
}

/**
 * Tensors created before the region that its forward tensors read (weights, rotary tables, masks, the inputs),
 * i.e. everything the recomputation may reach from outside.
 */
export function regionExternals(region: CheckpointRegion): Tensor[] {
  const graph = region.output.graph;
  const seen = new Map<number, Tensor>();
  for (let id = region.start; id <= region.output.id; id++) {
    for (const i of graph.tensors[id]!.inputs) if (i.id < region.start) seen.set(i.id, i);
  }
  return [...seen.values()];
}

type NoAttrs = Record<string, never>;

/** x, computed after `after` is: x + 0 * after[0] (ONNX has no control edges, so the order is a data dependency). */
export const orderAfterOp: OpDef<NoAttrs> = defineOp<NoAttrs>("rule", {
  type: "OrderAfter",
  infer: ([x]) => ({ dtype: x!.dtype, shape: x!.shape.slice() }),
  emit: (e, out) => {
    const [x, after] = out.inputs as [Tensor, Tensor];
    let first = e.op("Slice", [e.op("Reshape", [e.name(after), e.int64s([-1])]), e.int64s([0]), e.int64s([1])]);
    if (after.dtype !== x.dtype) first = e.op("CastLike", [first, e.name(x)]);
    const zero = e.op("Mul", [first, e.scalar(0, x.dtype)]);
    e.node("Add", [e.name(x), x.rank === 0 ? e.op("Reshape", [zero, e.int64s([])]) : zero], [e.name(out)]);
  },
  grad: (_out, g) => [g, null],
});

export function orderAfter(x: Tensor, after: Tensor): Tensor {
  return x.graph.add(orderAfterOp, [x, after], {});
}
