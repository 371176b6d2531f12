// Truncation costs what the budget allows, not what the text holds: a 5 MB record is cut while encoding only a
// bounded number of characters, and the result still fits and ends at a word end.
import { test } from "node:test";
import assert from "node:assert/strict";
import { truncateToTokens } from "../../src/data/index.ts";
import { qwen } from "./qwen-tokenizer.ts";

/** The Qwen tokenizer, counting the characters it is asked to encode. */
function meteredCounter(): { counter: { encode(s: string): number[] }; chars: () => number } {
  const { counter } = qwen();
  let chars = 0;
  return {
    counter: {
      encode: (s: string) => {
        chars += s.length;
        return counter.encode(s);
      },
    },
    chars: () => chars,
  };
}

const MB5 = 5 * 1024 * 1024;

test("truncate: a 5 MB record without whitespace is cut to nothing after encoding a bounded prefix only", () => {
  const m = meteredCounter();
  const blob = "QmFzZTY0IGJsb2I".repeat(Math.ceil(MB5 / 15)).slice(0, MB5);
  const r = truncateToTokens(blob, 300, m.counter);
  assert.deepEqual(r, { text: "", truncated: true, tokens: 0 });
  assert.ok(m.chars() <= 16 * 300 + 64, `encoded ${m.chars()} characters`);
});

test("truncate: 5 MB of words without a sentence end, and 5 MB of sentences: bounded work, a fitting word-end prefix", () => {
  const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa ";
  for (const [what, unit] of [["words", words], ["sentences", "The quick brown fox jumps over the lazy dog. "]] as const) {
    const text = unit.repeat(Math.ceil(MB5 / unit.length));
    const m = meteredCounter();
    const r = truncateToTokens(text, 200, m.counter);
    assert.ok(r.truncated);
    assert.ok(r.tokens <= 200 && r.tokens > 150, `${what}: ${r.tokens} tokens`);
    assert.equal(r.tokens, qwen().counter.encode(r.text).length);
    assert.ok(text.startsWith(r.text) && /\s/.test(text[r.text.length]!), `${what}: cut at a word end`);
    if (what === "sentences") assert.ok(r.text.endsWith("dog."), "whole sentences");
    assert.ok(m.chars() < 40 * 16 * 200, `${what}: encoded ${m.chars()} characters of ${text.length}`);
  }
});
