// Text generation on a step model (a `Decoder`, a `PairDecoder`): the generation session's result for a batch, or
// one prompt streamed piece by piece. The end-of-sequence token is not part of the ids or the text.

import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { type BatchEvent, type GeneratedPiece, type GenerateOptions, type GenerationResult, generateRows, isEmptyPiece } from "./generation/session.ts";
import type { StepModel } from "./generation/step-model.ts";

export type { BatchEvent, FinishReason, GeneratedPiece, GenerateOptions, GenerationResult } from "./generation/session.ts";
export { TextAssembler } from "./generation/text.ts";

/** Generates for a batch of prompts, yielding each row's pieces as they come; returns every row's result. */
export async function* generateEvents(
  model: StepModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
): AsyncGenerator<BatchEvent, GenerationResult[]> {
  const it = generateRows(model, prompts, opts, tokenizer);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    if (!isEmptyPiece(r.value.piece)) yield r.value;
  }
}

/** Generates for a batch of prompts; `onPiece` sees each row's pieces as they come. */
export async function generateBatch(
  model: StepModel,
  prompts: readonly (readonly number[])[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
  onPiece?: (event: BatchEvent) => void,
): Promise<GenerationResult[]> {
  const it = generateEvents(model, prompts, opts, tokenizer);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
    onPiece?.(r.value);
  }
}

/** Streams one prompt's generation: `for await (const { id, text } of generate(...))`; returns the result. */
export async function* generate(
  model: StepModel,
  prompt: readonly number[],
  opts: GenerateOptions = {},
  tokenizer: TextTokenizer | null = null,
): AsyncGenerator<GeneratedPiece, GenerationResult> {
  const it = generateEvents(model, [prompt], opts, tokenizer);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value[0]!;
    yield r.value.piece;
  }
}
