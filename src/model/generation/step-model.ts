// The step model every generation runs on, and the one decoding loop over it. A step model decodes a batch of rows:
// it prefills them (prompts of any lengths), then takes one token per live row per step, and drops the rows that
// finished; each call reports the next-token logits of the live rows as one [rows, vocab] array. The plain `Decoder`
// and FlyThinker's `PairDecoder` (sequential or parallel) both are step models.

export interface StepModel {
  /** Width of a logits row. */
  readonly vocabSize: number;
  /** Ids at or past this one may not be generated (e.g. a Reasoner with a smaller embedding table); default vocabSize. */
  readonly usableVocab?: number;
  /** Starts a batch with these prompts (non-empty, any lengths): logits [rows, vocab] of their last positions. */
  prefillLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array>;
  /** One token per live row: logits [rows, vocab] of the new position. */
  stepLogits(tokens: readonly number[]): Promise<Float32Array>;
  /** Keeps only these live rows (indices into the live batch, in the new order). */
  keepRows(rows: readonly number[]): void | Promise<void>;
}

/**
 * A step model whose running batch takes new rows between steps (continuous batching): `addRowsLogits` runs the new
 * prompts and appends them to the live rows (after them, in order), returning their logits [new rows, vocab]; with
 * no live rows it is a prefill. Each row still decodes as it would alone.
 */
export interface JoinableStepModel extends StepModel {
  addRowsLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array>;
}

/** What decides each step of the loop. */
export interface StepPolicy {
  /** Writes into `ids[i]` the next token of live row i; row i of `logits` [live.length, vocab] is prompt `live[i]`. */
  choose(logits: Float32Array, live: readonly number[], ids: number[]): void;
  /** Whether prompt `row` ends with the token `id` just chosen for it. */
  ends(row: number, id: number): boolean;
}

/** One step of the loop; its arrays are valid until the loop is resumed. */
export interface LoopStep {
  /** Prompt index of each live row. */
  live: readonly number[];
  /** The token chosen for each live row. */
  ids: readonly number[];
  /** The logits they were chosen from: [live.length, vocab]. */
  logits: Float32Array;
}

/**
 * The decoding loop: prefill, then per step choose a token for every live row, yield, drop the rows that ended and
 * feed the others their tokens. Nothing is allocated per step but while rows drop out.
 */
export async function* decodeLoop(model: StepModel, prompts: readonly (readonly number[])[], policy: StepPolicy): AsyncGenerator<LoopStep> {
  let logits = await model.prefillLogits(prompts);
  let live: number[] = prompts.map((_, r) => r);
  const ids: number[] = [];
  const keep: number[] = [];
  const next: number[] = [];
  for (;;) {
    ids.length = live.length;
    policy.choose(logits, live, ids);
    keep.length = 0;
    next.length = 0;
    for (let i = 0; i < live.length; i++) {
      if (policy.ends(live[i]!, ids[i]!)) continue;
      keep.push(i);
      next.push(ids[i]!);
    }
    yield { live, ids, logits };
    if (keep.length === 0) return;
    if (keep.length < live.length) {
      await model.keepRows([...keep]);
      live = keep.map((i) => live[i]!);
    }
    logits = await model.stepLogits(next);
  }
}
