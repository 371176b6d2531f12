import assert from "node:assert/strict";
import { test } from "node:test";
import { bitsPerByte } from "../../src/eval/bits-per-byte.ts";

test("bits per byte: a uniform choice of 1 of 256 per byte is 8 bits", () => {
  // 10 tokens, each a uniform guess over 2^16 values, encoding 20 bytes: 10 * 16 ln 2 nats / (ln 2 * 20) = 8
  assert.ok(Math.abs(bitsPerByte(10 * 16 * Math.LN2, 20) - 8) < 1e-12);
  assert.throws(() => bitsPerByte(1, 0), /positive byte count/);
});
