// A compiled training step: forward, backward, clipping and AdamW in one ONNX Runtime run.
// Parameters and optimiser moments live in flat JS buffers between steps (optimizer-state.ts); each step's outputs
// replace them.
import { Graph, Tensor, gradients, adamw, type AdamWOptions, GraphError } from "../graph/index.ts";
import { compile, type CompileOptions, type Feed, type CompiledGraph } from "./session.ts";
import { HoldsOptimizerState, OptimizerState } from "./optimizer-state.ts";
import type { AnyTypedArray } from "../graph/dtype.ts";

export interface TrainStepSpec {
  graph: Graph;
  /** Scalar loss. */
  loss: Tensor;
  /** Trainable parameters (graph inputs). Those the loss does not depend on are left out (as torch skips them). */
  params: readonly Tensor[];
  /** Extra scalar outputs reported each step (e.g. token count). */
  extras?: Record<string, Tensor>;
  optimizer?: AdamWOptions;
}

export interface StepResult {
  loss: number;
  gradNorm: number;
  extras: Record<string, number>;
}

type Float = Float32Array | Float64Array;

export class TrainStep extends HoldsOptimizerState<Float> {
  /** Inputs with fixed values fed every step (frozen weights). */
  readonly frozen = new Map<string, Float>();
  /** Number of completed steps. */
  stepCount = 0;

  private constructor(
    private readonly compiled: CompiledGraph,
    protected readonly state: OptimizerState<Float>,
    private readonly extraNames: readonly string[],
  ) {
    super();
  }

  get paramNames(): readonly string[] {
    return this.state.names;
  }

  /**
   * `initial` holds values for the trainable parameters and for any other weight inputs the graph needs
   * (those are fed unchanged every step).
   */
  static async create(spec: TrainStepSpec, initial: ReadonlyMap<string, Float>, options?: CompileOptions): Promise<TrainStep> {
    const { graph, loss } = spec;
    for (const p of spec.params) {
      if (!p.inputName) throw new GraphError(`TrainStep: parameter ${p} is not a graph input`);
    }
    const { grads: allGrads, reached } = gradients(loss, spec.params);
    const params = spec.params.filter((_, i) => reached[i]);
    const grads = allGrads.filter((_, i) => reached[i]);
    const byName = new Map<string, Tensor>(params.map((p) => [p.inputName!, p]));
    for (const n of byName.keys()) {
      if (!initial.has(n)) throw new GraphError(`TrainStep: no initial value for parameter "${n}"`);
    }
    const opt = adamw(graph, byName, grads, spec.optimizer);
    const outputs: Record<string, Tensor> = { loss, gradNorm: opt.gradNorm, ...OptimizerState.outputs(opt) };
    const extraNames = Object.keys(spec.extras ?? {});
    for (const k of extraNames) outputs[`extra.${k}`] = spec.extras![k]!;
    const compiled = await compile(graph, outputs, options);
    const f64 = params[0]!.dtype === "float64";
    const state = new OptimizerState<Float>(opt.groups, (n) => initial.get(n)!, (len) => (f64 ? new Float64Array(len) : new Float32Array(len)));
    const step = new TrainStep(compiled, state, extraNames);
    for (const t of compiled.inputs) {
      const n = t.inputName!;
      if (!byName.has(n) && initial.has(n)) step.frozen.set(n, initial.get(n)!);
    }
    return step;
  }

  /** Releases the compiled step (its native session). */
  release(): Promise<void> {
    return this.compiled.release();
  }

  /** One optimisation step on a batch (feeds for the non-parameter inputs). */
  async step(batch: Record<string, Feed>, lr: number): Promise<StepResult> {
    const feeds: Record<string, Feed> = {
      ...Object.fromEntries(this.frozen),
      ...batch,
      ...this.state.feeds(this.stepCount + 1, lr),
    };
    const out = await this.compiled.run(feeds);
    const scalar = (a: AnyTypedArray) => Number(a[0]);
    const loss = scalar(out.loss!.data);
    const gradNorm = scalar(out.gradNorm!.data);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
      // Keep the last good parameters: do not take the update.
      return { loss, gradNorm, extras: this.readExtras(out) };
    }
    this.state.update(out);
    this.stepCount++;
    return { loss, gradNorm, extras: this.readExtras(out) };
  }

  private readExtras(out: Record<string, { data: AnyTypedArray }>): Record<string, number> {
    return Object.fromEntries(this.extraNames.map((k) => [k, Number(out[`extra.${k}`]!.data[0])]));
  }
}
