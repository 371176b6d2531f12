// Prompts as token ids: the prompt builder (./prompt.ts) run with a model's tokenizer and chat template. Training
// and generation both build their prompts here, so a model sees at inference exactly the prompt it was trained on.
import type { ModelConfig } from "../model/config.ts";
import { eosTokenIds } from "../model/config.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { buildPrompt, type ChatTemplateFn, type PromptOptions } from "./prompt.ts";
import type { PersonalRecord } from "./record.ts";

/**
 * Prompt options without the tokenizer parts (the counter and the chat template come from the tokenizer), plus
 * `summaryOf`: a summary of each record's history for its prompt (LLM-TRSR), used when `summary` is not given.
 */
export type PromptBuildOptions = Omit<PromptOptions, "counter" | "chat"> & { summaryOf?: (record: PersonalRecord) => string };

/** The model's chat template as the prompt builder wants it (ending with the assistant's turn), if it has one. */
export function chatTemplateOf(tok: TextTokenizer): ChatTemplateFn | undefined {
  if (tok.chatTemplate === null) return undefined;
  return (messages) => tok.applyChatTemplate(messages, { addGenerationPrompt: true });
}

/**
 * The token that ends a target: <|im_end|> when the tokenizer has a chat template and that token, else the
 * tokenizer's eos token, else the model config's first eos id; null when there is none.
 */
export function endOfTargetId(tok: TextTokenizer, config?: ModelConfig): number | null {
  if (tok.chatTemplate !== null && tok.imEndId !== null) return tok.imEndId;
  if (tok.eosId !== null) return tok.eosId;
  if (tok.endOfTextId !== null) return tok.endOfTextId;
  const eos = config ? eosTokenIds(config) : [];
  return eos[0] ?? null;
}

/** Prompt token ids of a record, as training builds them (also what generation should feed the model). */
export function recordPrompt(
  record: PersonalRecord,
  tok: TextTokenizer,
  opts: PromptBuildOptions = {},
): { promptIds: number[]; target: string; usedHistory: number[] } {
  const chat = chatTemplateOf(tok);
  const { summaryOf, ...rest } = opts;
  const built = buildPrompt(record, {
    ...rest,
    summary: rest.summary ?? summaryOf?.(record),
    counter: { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) },
    chat,
  });
  // A chat template writes its own special tokens; a plain prompt gets the tokenizer's usual ones (e.g. a BOS).
  return {
    promptIds: tok.encode(built.prompt, { addSpecialTokens: chat === undefined }),
    target: built.target,
    usedHistory: built.usedHistory,
  };
}
