import { test } from "node:test";
import assert from "node:assert/strict";
import { StringMemo } from "../../src/util/memo.ts";

test("StringMemo computes a key once and keeps keys within its character budget, least recently used first out", () => {
  const calls: string[] = [];
  const memo = new StringMemo<number>(10);
  const len = (k: string) => (calls.push(k), k.length);
  assert.equal(memo.get("abcd", len), 4);
  assert.equal(memo.get("abcd", len), 4);
  assert.deepEqual(calls, ["abcd"]);
  memo.get("efg", len); // 7 chars held
  memo.get("abcd", len); // abcd is now the most recent
  memo.get("hijk", len); // 11 > 10: efg (least recent) goes
  assert.deepEqual(memo.size, { keys: 2, chars: 8 });
  memo.get("abcd", len);
  memo.get("efg", len);
  assert.deepEqual(calls, ["abcd", "efg", "hijk", "efg"]);
  // a key longer than the whole budget is computed every time and never held
  memo.get("x".repeat(11), len);
  memo.get("x".repeat(11), len);
  assert.equal(calls.filter((c) => c.length === 11).length, 2);
  assert.ok(memo.size.chars <= 10);
  assert.throws(() => new StringMemo(0), /positive integer/);
});
