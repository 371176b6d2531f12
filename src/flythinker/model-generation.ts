// What generation needs to know about a model folder besides its weights: the ids that end a row (from its
// Generator's config.json and generation_config.json and the tokenizer, by the one rule of model/generation) and
// the prompt of a free-form message for a trained model.
import type { PairWeights } from "./decode.ts";
import { readGenerationConfig, stopIds, type GenerationConfig } from "../model/generation/stopping.ts";
import { recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import { TASK_TEMPLATES } from "../data/templates.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";

/** A pair's weights, and the folder of its Generator when it came from one (for generation_config.json). */
export type PairModel = PairWeights & { generatorDir?: string };

/** The Generator folder's generation_config.json (empty when there is no folder or no file). */
export function pairGenerationConfig(model: PairModel): GenerationConfig {
  return model.generatorDir !== undefined ? readGenerationConfig(model.generatorDir) : { sampling: {}, eosIds: [] };
}

/** The ids that end a row of this pair's generation; `chat`: the prompt went through the chat template. */
export function pairStopIds(model: PairModel, tok: TextTokenizer, chat: boolean): number[] {
  return stopIds({ config: model.pair.generator, tokenizer: tok, generationConfig: pairGenerationConfig(model), chat });
}

/**
 * Prompt ids of a free-form message for a trained model: the query of a record without history, through the prompt
 * builder with the options training used (its query budget, the chat template when the tokenizer has one). Every
 * task renders a query without history as the query itself.
 */
export function messagePromptIds(tok: TextTokenizer, message: string, prompt: PromptBuildOptions = {}): number[] {
  const task = Object.keys(TASK_TEMPLATES)[0]!;
  return recordPrompt({ id: "prompt", task, user: "", input: message, output: "", profile: [] }, tok, prompt).promptIds;
}
