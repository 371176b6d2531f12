// The feeds of a Coconut training batch. Every row is split at its first latent slot: the prefix (question and
// <bot>) is left-padded so the first latent lines up across rows at column `prefix`; the n latent slots follow (no
// ids: their inputs are hidden states); the tail (<eot>, remaining steps, answer, end token) is right-padded.
// Positions count each row's own tokens; padding in the prefix is masked out of attention (right padding in the tail
// is never attended by a real position). Labels cover the whole [batch, prefix + n + tail] sequence.
import type { Feed } from "../../runtime/session.ts";
import { UserError } from "../../util/errors.ts";
import type { CoconutExample } from "./layout.ts";

/** Label of unscored positions (the cross-entropy's ignore index, as in PyTorch). */
export const IGNORE_INDEX = -100;

export interface CoconutBatch {
  rows: number;
  /** Prefix (left-padded) and tail (right-padded) columns, and the latent slots between them. */
  prefix: number;
  latents: number;
  tail: number;
  /** prefix_ids, prefix_mask, prefix_positions [rows, prefix]; tail_ids [rows, tail]; labels [rows, prefix + n + tail]. */
  feeds: Record<string, Feed>;
  /** Scored positions. */
  scored: number;
}

export function coconutBatch(examples: readonly CoconutExample[], padId = 0): CoconutBatch {
  if (examples.length === 0) throw new UserError("coconut batch: no examples");
  const n = examples[0]!.latentCount;
  const parts = examples.map((e, r) => {
    const what = `coconut example ${e.id ?? `#${r}`}`;
    if (e.latentCount !== n) throw new UserError(`${what} has ${e.latentCount} latent slots, the batch has ${n} (one stage per batch)`);
    if (e.latentStart < 1) throw new UserError(`${what}: nothing precedes the first latent slot`);
    if (e.targetIds.length === 0) throw new UserError(`${what} has an empty target`);
    const ids = [...e.promptIds, ...e.targetIds];
    return { ids, head: e.latentStart, scoredFrom: e.promptIds.length };
  });
  const B = parts.length;
  const P = Math.max(...parts.map((p) => p.head));
  const T = Math.max(...parts.map((p) => p.ids.length - p.head - n));
  const S = P + n + T;
  const prefixIds = new BigInt64Array(B * P).fill(BigInt(padId));
  const prefixMask = new BigInt64Array(B * P);
  const prefixPositions = new BigInt64Array(B * P);
  const tailIds = new BigInt64Array(B * T).fill(BigInt(padId));
  const labels = new BigInt64Array(B * S).fill(BigInt(IGNORE_INDEX));
  let scored = 0;
  parts.forEach(({ ids, head, scoredFrom }, r) => {
    const pad = P - head; // this row's column c holds its token c - pad
    for (let i = 0; i < head; i++) {
      prefixIds[r * P + pad + i] = BigInt(ids[i]!);
      prefixMask[r * P + pad + i] = 1n;
      prefixPositions[r * P + pad + i] = BigInt(i);
    }
    for (let i = head + n; i < ids.length; i++) tailIds[r * T + i - head - n] = BigInt(ids[i]!);
    // Column of token i + 1 predicts it: labels at column pad + i for tokens i + 1 in the target.
    for (let i = scoredFrom - 1; i < ids.length - 1; i++) {
      labels[r * S + pad + i] = BigInt(ids[i + 1]!);
      scored++;
    }
  });
  const feeds: Record<string, Feed> = {
    prefix_ids: { data: prefixIds, dims: [B, P] },
    prefix_mask: { data: prefixMask, dims: [B, P] },
    prefix_positions: { data: prefixPositions, dims: [B, P] },
    tail_ids: { data: tailIds, dims: [B, T] },
    labels: { data: labels, dims: [B, S] },
  };
  return { rows: B, prefix: P, latents: n, tail: T, feeds, scored };
}
