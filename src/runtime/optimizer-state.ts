// Parameters and AdamW moments between steps, laid out as AdamW's groups (graph/optim.ts) lay them: one flat buffer
// per group, fed whole to the update and, as zero-copy views, to the model's parameter inputs.
import type { AdamWGroup, AdamWStep } from "../graph/optim.ts";
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
    private readonly groups: readonly AdamWGroup[],
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

  /** Graph outputs that carry the update: `out.{p,m,v}.<group>`. */
  static outputs(opt: AdamWStep): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    opt.groups.forEach((g, k) => {
      out[`out.p.${k}`] = g.newP;
      out[`out.m.${k}`] = g.newM;
      out[`out.v.${k}`] = g.newV;
    });
    return out;
  }

  /** Feeds for the parameter inputs (views) and the update's flat inputs. */
  feeds(): Record<string, Feed> {
    const feeds: Record<string, Feed> = Object.fromEntries(this.params);
    this.groups.forEach((_, k) => {
      feeds[`adam.p.${k}`] = this.params.buffers[k]!;
      feeds[`adam.m.${k}`] = this.m.buffers[k]!;
      feeds[`adam.v.${k}`] = this.v.buffers[k]!;
    });
    return feeds;
  }

  /** Takes the new parameters and moments from a run's outputs. */
  update(out: Readonly<Record<string, Output>>): void {
    const take = (what: string) => this.groups.map((_, k) => out[`out.${what}.${k}`]!.data as F);
    this.params.replace(take("p"));
    this.m.replace(take("m"));
    this.v.replace(take("v"));
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
