// When a row stops. The token ids that end a row are derived here and nowhere else: the eos ids of config.json, of
// generation_config.json and of the tokenizer (its end-of-text token when it names no eos token), and <|im_end|>
// when the prompt went through the chat template (the token that closes the assistant's turn, which training
// appends to every chat target). A stop id is not part of the output; a stop string is cut from the text; the token
// budget keeps the token that reaches it.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { type ModelConfig, eosTokenIds } from "../config.ts";
import type { SamplingOptions } from "../sampling.ts";

export const GENERATION_CONFIG_FILE = "generation_config.json";

/** What a model folder's generation_config.json says: sampling defaults and eos ids (both empty without the file). */
export interface GenerationConfig {
  sampling: SamplingOptions;
  eosIds: number[];
}

/** Reads `dir/generation_config.json`, if there is one. */
export function readGenerationConfig(dir: string): GenerationConfig {
  const path = join(dir, GENERATION_CONFIG_FILE);
  if (!existsSync(path)) return { sampling: {}, eosIds: [] };
  let g: unknown;
  try {
    g = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`generation config ${path}: ${(e as Error).message}`);
  }
  if (g === null || typeof g !== "object" || Array.isArray(g)) throw new UserError(`generation config ${path}: expected a JSON object`);
  const json = g as Record<string, unknown>;
  const num = (k: string) => (typeof json[k] === "number" ? (json[k] as number) : undefined);
  const sampling: SamplingOptions = {};
  if (json.do_sample === false) sampling.greedy = true;
  if (num("temperature") !== undefined) sampling.temperature = num("temperature");
  if (num("top_k") !== undefined) sampling.topK = num("top_k");
  if (num("top_p") !== undefined) sampling.topP = num("top_p");
  if (num("repetition_penalty") !== undefined) sampling.repetitionPenalty = num("repetition_penalty");
  const eos = json.eos_token_id;
  const eosIds = Array.isArray(eos) ? eos.filter((v): v is number => typeof v === "number") : typeof eos === "number" ? [eos] : [];
  return { sampling, eosIds };
}

export interface StopIdSources {
  config?: ModelConfig;
  tokenizer?: TextTokenizer | null;
  generationConfig?: GenerationConfig;
  /** The prompt was rendered with the chat template: the end of the assistant's turn stops too. */
  chat?: boolean;
}

/** The ids that end a row (sorted, distinct). */
export function stopIds(s: StopIdSources): number[] {
  const ids = new Set<number>(s.config ? eosTokenIds(s.config) : []);
  for (const id of s.generationConfig?.eosIds ?? []) ids.add(id);
  const tok = s.tokenizer;
  if (tok) {
    const end = tok.eosId ?? tok.endOfTextId;
    if (end !== null) ids.add(end);
    if (s.chat && tok.imEndId !== null) ids.add(tok.imEndId);
  }
  return [...ids].sort((a, b) => a - b);
}

export type FinishReason = "eos" | "stop" | "length";

/** The stopping criteria of one generation: stop ids, stop strings (checked on the text) and a token budget. */
export class StoppingCriteria {
  readonly ids: ReadonlySet<number>;

  constructor(
    ids: Iterable<number>,
    readonly maxNewTokens: number,
    readonly strings: readonly string[] = [],
  ) {
    if (!Number.isInteger(maxNewTokens) || maxNewTokens < 0) {
      throw new UserError(`max new tokens must be an integer >= 0, got ${maxNewTokens}`);
    }
    if (strings.some((s) => s.length === 0)) throw new UserError("stop strings must not be empty");
    this.ids = new Set(ids);
  }

  /** A stop id ends the row before it is added to the output. */
  isStopId(id: number): boolean {
    return this.ids.has(id);
  }

  /**
   * After a token was added: why the row ends (its text reached a stop string, or it has `generated` tokens, the
   * budget), or null when it goes on.
   */
  afterToken(generated: number, textStopped: boolean): FinishReason | null {
    if (textStopped) return "stop";
    if (generated >= this.maxNewTokens) return "length";
    return null;
  }
}
