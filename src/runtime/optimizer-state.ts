// Parameters and AdamW moments between steps, laid out as AdamW's groups (graph/optim.ts) lay them: one flat buffer
// per group, fed whole to the update and, as zero-copy views, to the model's parameter inputs.
import {
  ADAMW_LR_INPUT,
  ADAMW_SLOTS,
  ADAMW_STEP_INPUT,
  type AdamWGroup,
  type AdamWSlot,
  type AdamWStep,
  adamwInputName,
  adamwOutputName,
  adamwOutputs,
} from "../graph/optim.ts";
import type { Tensor } from "../graph/graph.ts";
import type { Feed, Output } from "./session.ts";

type Float = Float32Array | Float64Array;

interface Slot {
  group: number;
  offset: number;
  size: number;
}

/**
 * A read-only map from parameter name to a view of its values in the group buffers. `set` copies new values in;
 * views returned earlier go stale when a step replaces the buffers (read them again after a step).
 */
export class FlatStore<F extends Float> implements ReadonlyMap<string, F> {
  private readonly views = new Map<string, F>();

  constructor(
    private readonly slots: ReadonlyMap<string, Slot>,
    readonly buffers: F[],
  ) {
    this.refresh();
  }

  /** Puts a step's output buffers in place. */
  replace(buffers: readonly F[]): void {
    buffers.forEach((b, i) => {
      if (b.length !== this.buffers[i]!.length) throw new Error(`optimizer group ${i}: ${b.length} values, expected ${this.buffers[i]!.length}`);
      this.buffers[i] = b;
    });
    this.refresh();
  }

  set(name: string, values: ArrayLike<number>): this {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no trained parameter "${name}"`);
    if (values.length !== slot.size) throw new Error(`parameter "${name}": ${values.length} values, expected ${slot.size}`);
    this.buffers[slot.group]!.set(values, slot.offset);
    return this;
  }

  get(name: string): F | undefined {
    return this.views.get(name);
  }
  has(name: string): boolean {
    return this.views.has(name);
  }
  get size(): number {
    return this.views.size;
  }
  keys(): MapIterator<string> {
    return this.views.keys();
  }
  values(): MapIterator<F> {
    return this.views.values();
  }
  entries(): MapIterator<[string, F]> {
    return this.views.entries();
  }
  [Symbol.iterator](): MapIterator<[string, F]> {
    return this.views.entries();
  }
  forEach(fn: (value: F, key: string, map: ReadonlyMap<string, F>) => void): void {
    this.views.forEach((v, k) => fn(v, k, this));
  }

  private refresh(): void {
    for (const [name, s] of this.slots) this.views.set(name, this.buffers[s.group]!.subarray(s.offset, s.offset + s.size) as F);
  }
}

/** Parameters and moments of one AdamW update graph: initial values in, feeds out, step outputs back in. */
export class OptimizerState<F extends Float> {
  readonly params: FlatStore<F>;
  readonly m: FlatStore<F>;
  readonly v: FlatStore<F>;
  readonly names: readonly string[];

  constructor(
    readonly groups: readonly AdamWGroup[],
    initial: (name: string) => ArrayLike<number>,
    make: (length: number) => F,
  ) {
    const slots = new Map<string, Slot>();
    groups.forEach((g, group) => g.names.forEach((name, i) => slots.set(name, { group, offset: g.offsets[i]!, size: g.sizes[i]! })));
    this.names = [...slots.keys()];
    const zeros = () => groups.map((g) => make(g.size));
    this.params = new FlatStore(slots, zeros());
    this.m = new FlatStore(slots, zeros());
    this.v = new FlatStore(slots, zeros());
    for (const name of this.names) this.params.set(name, initial(name));
  }

  /** Graph outputs that carry the update (new p, m and v of every group). */
  static outputs(opt: AdamWStep): Record<string, Tensor> {
    return adamwOutputs(opt);
  }

  private store(slot: AdamWSlot): FlatStore<F> {
    return slot === "p" ? this.params : slot === "m" ? this.m : this.v;
  }

  /** Feeds for the update alone: step number (1-based), learning rate and every group's flat p, m and v. */
  updateFeeds(step: number, lr: number): Record<string, Feed> {
    const Ctor = this.params.buffers[0] instanceof Float64Array ? Float64Array : Float32Array;
    const feeds: Record<string, Feed> = { [ADAMW_STEP_INPUT]: Ctor.of(step), [ADAMW_LR_INPUT]: Ctor.of(lr) };
    this.groups.forEach((_, k) => {
      for (const slot of ADAMW_SLOTS) feeds[adamwInputName(slot, k)] = this.store(slot).buffers[k]!;
    });
    return feeds;
  }

  /** Feeds for the parameter inputs (views) and the update's inputs. */
  feeds(step: number, lr: number): Record<string, Feed> {
    return { ...Object.fromEntries(this.params), ...this.updateFeeds(step, lr) };
  }

  /** Takes the new parameters and moments from a run's outputs. */
  update(out: Readonly<Record<string, Output>>): void {
    for (const slot of ADAMW_SLOTS) {
      this.store(slot).replace(this.groups.map((_, k) => out[adamwOutputName(slot, k)]!.data as F));
    }
  }
}

/** The name views of an OptimizerState, for the step engines that keep one. */
export abstract class HoldsOptimizerState<F extends Float> {
  protected abstract readonly state: OptimizerState<F>;

  /** Current parameter values by graph input name (views; read them again after a step). */
  get params(): FlatStore<F> {
    return this.state.params;
  }
  /** AdamW moments by parameter name. */
  get m(): FlatStore<F> {
    return this.state.m;
  }
  get v(): FlatStore<F> {
    return this.state.v;
  }
}
