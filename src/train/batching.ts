// Training examples and token-budget batches. An example is a prompt and a target as token ids; the model reads
// prompt + target and is scored on the target tokens only. A batch holds rows padded (on the right) to its longest
// row, and rows x longest never exceeds the token budget. Each epoch: shuffle the examples with the seeded generator,
// sort them by length (ties keep the shuffled order), pack them greedily into batches, then shuffle the batches.
import { Rng } from "../util/random.ts";
import { UserError } from "../util/errors.ts";
import { type EnhanceMode, thoughtMask } from "../flythinker/fusion.ts";
import type { Feed } from "../runtime/session.ts";

export interface Example {
  promptIds: number[];
  targetIds: number[];
  /** Where it came from (record id, file:line), for messages. */
  id?: string;
  /** The same record's history-free prompt (methods that also run the record without history: NextQuill). */
  counterPromptIds?: number[];
  /** Coconut: where the latent slots start in promptIds, and how many there are (static per stage). */
  latentStart?: number;
  latentCount?: number;
}

/** Label of positions that are not scored (prompt and padding), as in PyTorch's cross-entropy. */
export const IGNORE_INDEX = -100;

export function exampleLength(e: Example): number {
  return e.promptIds.length + e.targetIds.length;
}

export interface FitReport {
  /** Examples kept as they were. */
  kept: number;
  /** Examples whose target was cut at the end to fit `maxLength`. */
  truncated: number;
  /** Examples dropped: the prompt alone leaves no room for a target token, or the target is empty. */
  dropped: number;
  droppedIds: string[];
}

/**
 * Makes every example fit in `maxLength` tokens (the batch budget or the model's context): cuts targets at the end,
 * drops examples whose prompt leaves no room for one target token or that have no prompt or no target.
 */
export function fitExamples(examples: readonly Example[], maxLength: number): { examples: Example[]; report: FitReport } {
  const out: Example[] = [];
  const report: FitReport = { kept: 0, truncated: 0, dropped: 0, droppedIds: [] };
  examples.forEach((e, i) => {
    if (e.promptIds.length === 0 || e.targetIds.length === 0 || e.promptIds.length >= maxLength) {
      report.dropped++;
      report.droppedIds.push(e.id ?? `#${i}`);
      return;
    }
    if (exampleLength(e) > maxLength) {
      report.truncated++;
      out.push({ ...e, targetIds: e.targetIds.slice(0, maxLength - e.promptIds.length) });
    } else {
      report.kept++;
      out.push(e);
    }
  });
  return { examples: out, report };
}

/** Greedy packing of indices (already in the wanted order, lengths ascending) into batches within the budget. */
function pack(order: readonly number[], lengths: readonly number[], budget: number): number[][] {
  const batches: number[][] = [];
  let cur: number[] = [];
  let longest = 0;
  for (const i of order) {
    const len = lengths[i]!;
    if (len > budget) {
      throw new UserError(`example ${i} has ${len} tokens, more than the batch budget of ${budget} (--batch-tokens)`);
    }
    const next = Math.max(longest, len);
    if (cur.length > 0 && (cur.length + 1) * next > budget) {
      batches.push(cur);
      cur = [];
      longest = 0;
    }
    cur.push(i);
    longest = Math.max(longest, len);
  }
  if (cur.length > 0) batches.push(cur);
  return batches;
}

function sortedByLength(order: number[], lengths: readonly number[]): number[] {
  // Array.prototype.sort is stable: equal lengths keep their order.
  return order.sort((a, b) => lengths[a]! - lengths[b]!);
}

/** One epoch's batches (lists of example indices), shuffled with `rng` (which advances). */
export function planEpoch(lengths: readonly number[], budget: number, rng: Rng): number[][] {
  const order = rng.shuffle(lengths.map((_, i) => i));
  const batches = pack(sortedByLength(order, lengths), lengths, budget);
  return rng.shuffle(batches);
}

/** Batches of a fixed order (validation): sorted by length, not shuffled. */
export function planFixed(lengths: readonly number[], budget: number): number[][] {
  return pack(sortedByLength(lengths.map((_, i) => i), lengths), lengths, budget);
}

export interface Batch {
  rows: number;
  seq: number;
  /** [rows, seq] token ids, right-padded with `padId`. */
  ids: BigInt64Array;
  /** [rows, seq]: labels[p] = ids[p+1] where p+1 is a target token, else -100. */
  labels: BigInt64Array;
  /** [rows, seq] positions that receive a thought (FlyThinker only; 0 on padding). */
  thoughtMask?: Float32Array;
  /**
   * Feeds of a method with its own targets (NextQuill): given with `ids` in place of `labels` (then empty) and the
   * thought mask.
   */
  extra?: Record<string, Feed>;
  /** Every feed of a method whose graph reads no `ids` (Coconut): used as it is. */
  feeds?: Record<string, Feed>;
  /** Real (non-padding) tokens. */
  tokens: number;
  /** Scored positions (target tokens). */
  scored: number;
}

export interface PackOptions {
  padId?: number;
  /** Build the thought mask for this enhancement mode (FlyThinker); absent for SFT. */
  enhance?: EnhanceMode;
}

/** The tensors of one batch. */
export function makeBatch(examples: readonly Example[], indices: readonly number[], opts: PackOptions = {}): Batch {
  const rows = indices.length;
  const seq = Math.max(...indices.map((i) => exampleLength(examples[i]!)));
  const ids = new BigInt64Array(rows * seq).fill(BigInt(opts.padId ?? 0));
  const labels = new BigInt64Array(rows * seq).fill(BigInt(IGNORE_INDEX));
  const mask = opts.enhance ? new Float32Array(rows * seq) : undefined;
  let tokens = 0;
  let scored = 0;
  indices.forEach((ex, r) => {
    const e = examples[ex]!;
    const P = e.promptIds.length;
    const seqIds = [...e.promptIds, ...e.targetIds];
    const L = seqIds.length;
    const base = r * seq;
    for (let p = 0; p < L; p++) ids[base + p] = BigInt(seqIds[p]!);
    for (let p = Math.max(0, P - 1); p < L - 1; p++) labels[base + p] = BigInt(seqIds[p + 1]!);
    if (mask) mask.set(thoughtMask(L, P, opts.enhance!), base);
    tokens += L;
    scored += L - Math.max(1, P);
  });
  return { rows, seq, ids, labels, thoughtMask: mask, tokens, scored };
}
