// Bits per byte of a language model on plain text: the total negative log-likelihood of the text's tokens (nats),
// over ln 2 times the text's UTF-8 bytes. It does not depend on the tokenizer, so models with different vocabularies
// (or a byte-level model) compare directly.
import { buildLossGraph } from "../flythinker/graph.ts";
import { flattenPair } from "../flythinker/pair-params.ts";
import type { Checkpoint } from "../model/checkpoint.ts";
import type { CompileOptions } from "../runtime/session.ts";
import { makeBatch, type Example } from "../train/batching.ts";
import { LossEvaluator } from "../train/steps.ts";
import { UserError } from "../util/errors.ts";

/** Bits per byte from a total NLL in nats and a byte count. */
export function bitsPerByte(totalNllNats: number, bytes: number): number {
  if (!(bytes > 0)) throw new UserError(`bits per byte needs a positive byte count, got ${bytes}`);
  return totalNllNats / (Math.LN2 * bytes);
}

/** A text to score: its prompt (context, not scored), the token ids of the text and the text's UTF-8 bytes. */
export interface ScoredText {
  id: string;
  promptIds: number[];
  textIds: number[];
  bytes: number;
}

export interface BitsPerByteResult {
  texts: number;
  tokens: number;
  bytes: number;
  /** Total NLL of the text tokens (nats). */
  nll: number;
  bitsPerByte: number;
  /** Mean NLL per token (nats). */
  nllPerToken: number;
}

/** Scores every text's tokens (teacher-forced after its prompt) under a checkpoint, `batch` texts per run. */
export async function checkpointBitsPerByte(
  ckpt: Checkpoint,
  texts: readonly ScoredText[],
  opts: { batch?: number; padId?: number; compile?: CompileOptions } = {},
): Promise<BitsPerByteResult> {
  const max = ckpt.config.maxPositionEmbeddings;
  for (const t of texts) {
    if (t.promptIds.length === 0 || t.textIds.length === 0) throw new UserError(`text ${t.id}: an empty prompt or text cannot be scored`);
    if (t.promptIds.length + t.textIds.length > max) throw new UserError(`text ${t.id}: ${t.promptIds.length + t.textIds.length} tokens, over the model's context of ${max}`);
  }
  const pair = { generator: ckpt.config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } } as const;
  const evaluator = await LossEvaluator.create(buildLossGraph(pair), opts.compile);
  const weights = flattenPair({ generator: ckpt.params });
  const examples: Example[] = texts.map((t) => ({ id: t.id, promptIds: t.promptIds, targetIds: t.textIds }));
  const size = opts.batch ?? 8;
  let nll = 0;
  let tokens = 0;
  for (let i = 0; i < examples.length; i += size) {
    const indices = examples.slice(i, i + size).map((_, k) => i + k);
    const r = await evaluator.evaluate([makeBatch(examples, indices, { padId: opts.padId ?? 0 })], weights);
    nll += r.loss * r.scored;
    tokens += r.scored;
  }
  const bytes = texts.reduce((n, t) => n + t.bytes, 0);
  return { texts: texts.length, tokens, bytes, nll, bitsPerByte: bitsPerByte(nll, bytes), nllPerToken: nll / tokens };
}
