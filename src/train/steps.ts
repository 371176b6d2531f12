// Optimisation steps over a loss graph. Without gradient accumulation one step is ONE compiled run (forward,
// backward, clipping, AdamW: runtime/train-step.ts). With accumulation, a gradients-only graph runs once per
// micro-batch, the gradients are summed weighted by each micro-batch's share of the scored tokens (so the loss and the
// gradient are the token-weighted mean over all micro-batches, as one big batch would give), and a second compiled
// graph applies clipping + AdamW. Large models (more than GROUPED_APPLY_BYTES of trained weights) always take the
// second path, with the update run group by group through one small graph (the global clipping factor computed in
// JS first), so a step never holds a second copy of every parameter and moment at once. Parameters and moments live
// in AdamW's flat group buffers (runtime/optimizer-state.ts), seen by name through map-like views.
import { Graph, Tensor, gradients, adamw, type AdamWOptions } from "../graph/index.ts";
import { ADAMW_GROUP_INPUTS, DEFAULT_ADAMW, adamwGroupGraph, clipFactor, type AdamWGroup } from "../graph/optim.ts";
import { compile, type CompileOptions, type CompiledGraph, type Feed } from "../runtime/session.ts";
import { TrainStep } from "../runtime/train-step.ts";
import { type FlatStore, HoldsOptimizerState, OptimizerState } from "../runtime/optimizer-state.ts";
import { collectGarbage } from "../util/memory.ts";
import type { Batch } from "./batching.ts";

export interface LossGraphLike {
  graph: Graph;
  loss: Tensor;
  count: Tensor;
  thoughtMask?: Tensor;
}

export interface EngineOptions {
  optimizer?: AdamWOptions;
  /** Micro-batches per step: 1 = fused single-run step; > 1 = gradients graph + apply graph. */
  gradAccum?: number;
  /**
   * Apply AdamW one parameter group at a time (default: when the trained weights exceed GROUPED_APPLY_BYTES): the
   * step is a gradients run plus one small run per group, and holds one group's new values at a time.
   */
  groupedApply?: boolean;
  /** Values per run of the grouped update (default APPLY_SLICE). */
  applySlice?: number;
  compile?: CompileOptions;
}

export interface StepOutcome {
  /** Token-weighted mean loss over the step's micro-batches. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** false when the loss or the gradient norm is NaN/Inf (the update was then not applied). */
  finite: boolean;
  tokens: number;
  scored: number;
}

/** The feeds of a batch for a loss graph. */
export function batchFeeds(batch: Batch, withThoughtMask: boolean): Record<string, Feed> {
  if (batch.feeds) return batch.feeds;
  const dims = [batch.rows, batch.seq];
  if (batch.extra) return { ids: { data: batch.ids, dims }, ...batch.extra };
  const feeds: Record<string, Feed> = { ids: { data: batch.ids, dims }, labels: { data: batch.labels, dims } };
  if (withThoughtMask) {
    if (!batch.thoughtMask) throw new Error("batch has no thought mask but the graph needs one");
    feeds.thought_mask = { data: batch.thoughtMask, dims };
  }
  return feeds;
}

export interface StepEngine {
  /** Parameters being trained (those the loss reaches), by graph input name; `set` copies values in. */
  readonly params: FlatStore<Float32Array>;
  readonly m: FlatStore<Float32Array>;
  readonly v: FlatStore<Float32Array>;
  /** Weight inputs fed unchanged (frozen, or not reached by the loss). */
  readonly frozen: Map<string, Float32Array>;
  /** Completed optimiser updates (AdamW's t). */
  stepCount: number;
  /** One optimiser update over these micro-batches. */
  step(batches: readonly Batch[], lr: number): Promise<StepOutcome>;
  /** Releases the compiled graphs (their native sessions); the engine is not used after. */
  release(): Promise<void>;
}

function reachedParams(loss: Tensor, params: readonly Tensor[]): { params: Tensor[]; grads: Tensor[] } {
  const { grads, reached } = gradients(loss, params);
  return { params: params.filter((_, i) => reached[i]), grads: grads.filter((_, i) => reached[i]) };
}

/**
 * One trained parameter of the accumulating engine: its graph-input name, the gradients graph's output that carries
 * its gradient and the apply graph's input that takes the accumulated sum.
 */
interface GradSlot {
  param: string;
  output: string;
  input: string;
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

class FusedEngine implements StepEngine {
  constructor(
    private readonly inner: TrainStep,
    private readonly withMask: boolean,
  ) {}

  release(): Promise<void> {
    return this.inner.release();
  }

  get params(): FlatStore<Float32Array> {
    return this.inner.params as FlatStore<Float32Array>;
  }
  get m(): FlatStore<Float32Array> {
    return this.inner.m as FlatStore<Float32Array>;
  }
  get v(): FlatStore<Float32Array> {
    return this.inner.v as FlatStore<Float32Array>;
  }
  get frozen(): Map<string, Float32Array> {
    return this.inner.frozen as Map<string, Float32Array>;
  }
  get stepCount(): number {
    return this.inner.stepCount;
  }
  set stepCount(n: number) {
    this.inner.stepCount = n;
  }

  async step(batches: readonly Batch[], lr: number): Promise<StepOutcome> {
    if (batches.length !== 1) throw new Error(`fused step takes one batch, got ${batches.length}`);
    const b = batches[0]!;
    const r = await this.inner.step(batchFeeds(b, this.withMask), lr);
    const finite = Number.isFinite(r.loss) && Number.isFinite(r.gradNorm);
    return { loss: r.loss, gradNorm: r.gradNorm, finite, tokens: b.tokens, scored: b.scored };
  }
}

/**
 * One update from the accumulated gradients (one array per trained parameter): `apply` computes the gradient norm,
 * `commit` (called only when everything is finite) puts the new parameters and moments in place.
 */
interface Applier {
  release(): Promise<void>;
  apply(
    state: OptimizerState<Float32Array>,
    grads: readonly Float32Array[],
    step: number,
    lr: number,
  ): Promise<{ gradNorm: number; commit: () => void | Promise<void> }>;
}

/** Clipping + AdamW over every group in one run (the apply graph of `adamw`). */
class WholeApplier implements Applier {
  constructor(
    private readonly graph: CompiledGraph,
    private readonly slots: readonly GradSlot[],
  ) {}

  release(): Promise<void> {
    return this.graph.release();
  }

  async apply(state: OptimizerState<Float32Array>, grads: readonly Float32Array[], step: number, lr: number) {
    // The apply graph reads the flat parameters only, not the per-parameter views.
    const feeds: Record<string, Feed> = state.updateFeeds(step, lr);
    this.slots.forEach((s, k) => (feeds[s.input] = grads[k]!));
    const out = await this.graph.run(feeds);
    return { gradNorm: Number(out.gradNorm!.data[0]), commit: () => state.update(out) };
  }
}

/** Values per run of the one-group update: each group is updated in slices of at most this many values. */
export const APPLY_SLICE = 1 << 22;

/**
 * Bytes of dead run outputs after which a large model's step collects garbage (util/memory.ts says why): the grouped
 * update's slices and the gradients of the step before would otherwise stay resident next to the live state.
 */
export const COLLECT_AFTER_BYTES = 2 ** 30;

/**
 * Clipping + AdamW one group at a time, in place: the global norm in JS (float64 sums), then the one-group graph
 * runs over slices of at most APPLY_SLICE values of each group, and each slice's new values are copied back into the
 * group's buffers. A step thus allocates a few slices' worth of new values, never a second copy of a group (the
 * embedding alone is 545 MB at Qwen's vocabulary), and the buffers (and the views over them) stay the same objects.
 */
class GroupedApplier implements Applier {
  /** Gradient values of a slice that crosses parameters of a packed group, laid end to end. */
  private scratch?: Float32Array;

  constructor(
    private readonly graphs: { decays: CompiledGraph; plain: CompiledGraph },
    /** Per group: the gradient array index of each of its parameters (layout order). */
    private readonly members: readonly (readonly number[])[],
    private readonly clipNorm: number,
    private readonly slice: number,
  ) {}

  async release(): Promise<void> {
    await this.graphs.decays.release();
    await this.graphs.plain.release();
  }

  async apply(state: OptimizerState<Float32Array>, grads: readonly Float32Array[], step: number, lr: number) {
    let sq = 0;
    for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i]! * g[i]!;
    const gradNorm = Math.sqrt(sq);
    const commit = async () => {
      let garbage = 0; // bytes of slice outputs copied in since the last collection
      const scalars = {
        [ADAMW_GROUP_INPUTS.step]: Float32Array.of(step),
        [ADAMW_GROUP_INPUTS.lr]: Float32Array.of(lr),
        [ADAMW_GROUP_INPUTS.clip]: Float32Array.of(clipFactor(gradNorm, this.clipNorm)),
      };
      for (const [k, group] of state.groups.entries()) {
        const run = group.decays ? this.graphs.decays : this.graphs.plain;
        const [p, m, v] = [state.params.buffers[k]!, state.m.buffers[k]!, state.v.buffers[k]!];
        for (let a = 0; a < group.size; a += this.slice) {
          const b = Math.min(group.size, a + this.slice);
          const out = await run.run({
            ...scalars,
            [ADAMW_GROUP_INPUTS.p]: p.subarray(a, b),
            [ADAMW_GROUP_INPUTS.m]: m.subarray(a, b),
            [ADAMW_GROUP_INPUTS.v]: v.subarray(a, b),
            [ADAMW_GROUP_INPUTS.grad]: this.gradSlice(group, this.members[k]!, grads, a, b),
          });
          p.set(out.newP!.data as Float32Array, a);
          m.set(out.newM!.data as Float32Array, a);
          v.set(out.newV!.data as Float32Array, a);
          garbage += 3 * 4 * (b - a);
          if (garbage >= COLLECT_AFTER_BYTES) {
            collectGarbage();
            garbage = 0;
          }
        }
      }
    };
    return { gradNorm, commit };
  }

  /** The gradient values [a, b) of a group's flat layout: a view when one parameter holds them all, else a copy. */
  private gradSlice(group: AdamWGroup, idx: readonly number[], grads: readonly Float32Array[], a: number, b: number): Float32Array {
    for (const [i, j] of idx.entries()) {
      const start = group.offsets[i]!;
      if (start <= a && b <= start + group.sizes[i]!) return grads[j]!.subarray(a - start, b - start);
    }
    if (!this.scratch || this.scratch.length < b - a) this.scratch = new Float32Array(b - a);
    const out = this.scratch.subarray(0, b - a);
    for (const [i, j] of idx.entries()) {
      const start = group.offsets[i]!;
      const lo = Math.max(a, start);
      const hi = Math.min(b, start + group.sizes[i]!);
      if (lo < hi) out.set(grads[j]!.subarray(lo - start, hi - start), lo - a);
    }
    return out;
  }
}

class AccumEngine extends HoldsOptimizerState<Float32Array> implements StepEngine {
  readonly frozen = new Map<string, Float32Array>();
  stepCount = 0;

  constructor(
    private readonly grads: CompiledGraph,
    private readonly applier: Applier,
    protected readonly state: OptimizerState<Float32Array>,
    private readonly slots: readonly GradSlot[],
    private readonly withMask: boolean,
    /** Collect garbage before each gradients run (large models: the last run's gradients are dead by then). */
    private readonly collect: boolean,
  ) {
    super();
  }

  async release(): Promise<void> {
    await this.grads.release();
    await this.applier.release();
  }

  async step(batches: readonly Batch[], lr: number): Promise<StepOutcome> {
    if (batches.length === 0) throw new Error("a step needs at least one batch");
    const total = sum(batches.map((b) => b.scored));
    let acc: Float32Array[] | undefined;
    let loss = 0;
    let finite = true;
    const weights: Record<string, Feed> = { ...Object.fromEntries(this.frozen), ...Object.fromEntries(this.params) };
    for (const b of batches) {
      if (this.collect) collectGarbage();
      const out = await this.grads.run({ ...weights, ...batchFeeds(b, this.withMask) });
      const l = Number(out.loss!.data[0]);
      const w = total > 0 ? b.scored / total : 0;
      loss += w * l;
      if (!Number.isFinite(l)) finite = false;
      const g = this.slots.map((s) => out[s.output]!.data as Float32Array);
      if (batches.length === 1 && w === 1) {
        acc = g; // one micro-batch: its gradients are the step's, no copy
        continue;
      }
      acc ??= this.slots.map((s) => new Float32Array(this.params.get(s.param)!.length));
      g.forEach((gk, k) => {
        const a = acc![k]!;
        for (let i = 0; i < a.length; i++) a[i]! += w * gk[i]!;
      });
    }
    const { gradNorm, commit } = await this.applier.apply(this.state, acc!, this.stepCount + 1, lr);
    acc = undefined;
    if (!Number.isFinite(gradNorm)) finite = false;
    const result = { loss, gradNorm, finite, tokens: sum(batches.map((b) => b.tokens)), scored: total };
    if (!finite) return result;
    await commit();
    this.stepCount++;
    return result;
  }
}

/** Trained weights above which a step applies AdamW group by group (1 GiB of float32). */
export const GROUPED_APPLY_BYTES = 2 ** 30;

/**
 * A step engine for `lg` training `trainable` (graph inputs). `initial` holds values for every weight input of the
 * graph (trainable or not); the non-trainable ones, and trainable ones the loss does not reach, are fed unchanged.
 */
export async function createEngine(
  lg: LossGraphLike,
  trainable: readonly Tensor[],
  initial: ReadonlyMap<string, Float32Array>,
  opts: EngineOptions = {},
): Promise<StepEngine> {
  const withMask = lg.thoughtMask !== undefined;
  const accum = opts.gradAccum ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new Error(`gradient accumulation must be a positive integer, got ${accum}`);
  const trainedBytes = 4 * trainable.reduce((n, t) => n + t.shape.reduce<number>((a, d) => a * (typeof d === "number" ? d : 1), 1), 0);
  const grouped = opts.groupedApply ?? trainedBytes > GROUPED_APPLY_BYTES;
  if (accum === 1 && !grouped) {
    const inner = await TrainStep.create(
      { graph: lg.graph, loss: lg.loss, params: trainable, extras: { count: lg.count }, optimizer: opts.optimizer },
      initial,
      opts.compile,
    );
    return new FusedEngine(inner, withMask);
  }
  const { params, grads } = reachedParams(lg.loss, trainable);
  const names = params.map((p) => p.inputName!);
  // The gradient of parameter N is output "grad.N" of the gradients graph and input "grad.N" of the apply graph.
  const slots: GradSlot[] = names.map((n) => ({ param: n, output: `grad.${n}`, input: `grad.${n}` }));
  const outputs: Record<string, Tensor> = { loss: lg.loss, count: lg.count };
  slots.forEach((s, i) => (outputs[s.output] = grads[i]!));
  // A large model's gradients run without ONNX Runtime's arena: the arena would keep the run's peak (every gradient
  // plus the head's chunks, rounded up to its growth steps) resident between steps, next to the JS copies of the
  // gradients and the optimiser state; without it that memory goes back after each run. (Small models keep the
  // arena: for them fresh allocations every run cost more than the memory saved.)
  const gradsGraph = await compile(lg.graph, outputs, grouped ? { memArena: false, ...opts.compile } : opts.compile);

  const ag = new Graph();
  const byName = new Map<string, Tensor>();
  const gradInputs: Tensor[] = [];
  params.forEach((p, i) => {
    byName.set(names[i]!, ag.input(names[i]!, p.dtype, p.shape));
    gradInputs.push(ag.input(slots[i]!.input, p.dtype, p.shape));
  });
  const opt = adamw(ag, byName, gradInputs, opts.optimizer);
  for (const n of names) {
    if (!initial.has(n)) throw new Error(`no initial value for parameter "${n}"`);
  }
  const state = new OptimizerState(opt.groups, (n) => initial.get(n)!, (len) => new Float32Array(len));
  let applier: Applier;
  if (grouped) {
    // The graph `adamw` built above only lays out the groups; each group runs through the one-group graph.
    const one = async (decays: boolean) => {
      const { graph, outputs } = adamwGroupGraph("float32", decays, opts.optimizer);
      return compile(graph, outputs, opts.compile);
    };
    const index = new Map(names.map((n, i) => [n, i]));
    const members = opt.groups.map((gr) => gr.names.map((n) => index.get(n)!));
    const slice = opts.applySlice ?? APPLY_SLICE;
    if (!Number.isInteger(slice) || slice < 1) throw new Error(`apply slice must be a positive integer, got ${slice}`);
    applier = new GroupedApplier({ decays: await one(true), plain: await one(false) }, members, opts.optimizer?.clipNorm ?? DEFAULT_ADAMW.clipNorm, slice);
  } else {
    applier = new WholeApplier(await compile(ag, { gradNorm: opt.gradNorm, ...OptimizerState.outputs(opt) }, opts.compile), slots);
  }
  const engine = new AccumEngine(gradsGraph, applier, state, slots, withMask, grouped);
  const trainedSet = new Set(names);
  for (const t of gradsGraph.inputs) {
    const n = t.inputName!;
    if (!trainedSet.has(n) && initial.has(n)) engine.frozen.set(n, initial.get(n)!);
  }
  return engine;
}

/** Forward-only loss over batches: the token-weighted mean loss, and the scored-token count. */
export class LossEvaluator {
  private constructor(
    private readonly compiled: CompiledGraph,
    private readonly withMask: boolean,
  ) {}

  release(): Promise<void> {
    return this.compiled.release();
  }

  static async create(lg: LossGraphLike, opts: CompileOptions = {}): Promise<LossEvaluator> {
    const compiled = await compile(lg.graph, { loss: lg.loss, count: lg.count }, opts);
    return new LossEvaluator(compiled, lg.thoughtMask !== undefined);
  }

  /** `weights`: every weight input by name; `extra(batch, i)`: more feeds per batch (e.g. a thought order). */
  async evaluate(
    batches: readonly Batch[],
    weights: ReadonlyMap<string, Float32Array>,
    extra?: (batch: Batch, i: number) => Record<string, Feed>,
  ): Promise<{ loss: number; scored: number }> {
    const needed = new Set(this.compiled.inputs.map((t) => t.inputName!));
    const w: Record<string, Feed> = {};
    for (const [n, data] of weights) if (needed.has(n)) w[n] = data;
    let total = 0;
    let weighted = 0;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      const out = await this.compiled.run({ ...w, ...batchFeeds(b, this.withMask), ...(extra?.(b, i) ?? {}) });
      const loss = Number(out.loss!.data[0]);
      const count = Number(out.count!.data[0]);
      weighted += loss * count;
      total += count;
    }
    return { loss: total > 0 ? weighted / total : NaN, scored: total };
  }
}
