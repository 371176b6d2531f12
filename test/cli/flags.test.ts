// Strict flag parsing: decimal only, range-checked, every error naming the flag, the range and the value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { intFlag, numberFlag, oneOf, optionalInt, positiveEpochs, shardFlag } from "../../src/cli/flags.ts";
import { samplingFromFlags } from "../../src/cli/commands/model.ts";
import { promptOptionsFromFlags } from "../../src/cli/prompt-flags.ts";

test("intFlag: decimal integers in range; hex, exponents, fractions and out-of-range values refused", () => {
  assert.equal(intFlag("42", "--n"), 42);
  assert.equal(intFlag(" +7 ", "--n", { min: 1 }), 7);
  assert.equal(intFlag("-3", "--n"), -3);
  for (const bad of ["0x10", "1e3", "1.5", "", " ", "ten", "Infinity", "9007199254740993"]) {
    assert.throws(() => intFlag(bad, "--batch", { min: 1 }), { message: `--batch must be an integer >= 1, got "${bad}"` });
  }
  assert.throws(() => intFlag("0", "--k", { min: 1, max: 9 }), { message: `--k must be an integer in [1, 9], got "0"` });
  assert.throws(() => intFlag("10", "--k", { max: 9 }), { message: `--k must be an integer <= 9, got "10"` });
  assert.equal(optionalInt(undefined, "--k"), undefined);
});

test("numberFlag: finite decimals with an optional exponent", () => {
  assert.equal(numberFlag("5e-6", "--lr", { min: 0 }), 5e-6);
  assert.equal(numberFlag(".5", "--x"), 0.5);
  assert.equal(numberFlag("3.", "--x"), 3);
  for (const bad of ["0x1", "NaN", "Infinity", "-Infinity", "1e999", "", "1,5", "1_000"]) {
    assert.throws(() => numberFlag(bad, "--top-p", { min: 0, max: 1 }), { message: `--top-p must be a number in [0, 1], got "${bad}"` });
  }
  assert.throws(() => numberFlag("1.01", "--top-p", { min: 0, max: 1 }), /--top-p must be a number in \[0, 1\], got "1.01"/);
  assert.equal(oneOf("a", "--m", ["a", "b"]), "a");
  assert.throws(() => oneOf("c", "--m", ["a", "b"]), { message: `--m must be a | b, got "c"` });
});

test("shardFlag: I/N with 0 <= I < N", () => {
  assert.deepEqual(shardFlag("0/3"), { index: 0, count: 3 });
  assert.deepEqual(shardFlag(" 2 / 3 "), { index: 2, count: 3 });
  for (const bad of ["3/3", "1/0", "-1/3", "1", "a/b", "1/3/4", "0x1/3"]) {
    assert.throws(() => shardFlag(bad), { message: `--shard must be I/N with N >= 1 and 0 <= I < N (e.g. 0/4), got "${bad}"` });
  }
});

test("commands use the strict parser: generate's sampling flags and the prompt flags", () => {
  const flags = { stop: [], mode: "parallel", split: "test" };
  assert.throws(() => samplingFromFlags({ ...flags, maxNewTokens: "-5" }), { message: `--max-new-tokens must be an integer >= 1, got "-5"` });
  assert.throws(() => samplingFromFlags({ ...flags, maxNewTokens: "0x10" }), /--max-new-tokens must be an integer >= 1, got "0x10"/);
  assert.throws(() => samplingFromFlags({ ...flags, topP: "0x1" }), { message: `--top-p must be a number, got "0x1"` });
  assert.equal(samplingFromFlags({ ...flags, maxNewTokens: "12", temperature: "0.7" }).maxNewTokens, 12);
  assert.throws(() => promptOptionsFromFlags({ historyK: "0x2" }), { message: `--history-k must be an integer >= 0, got "0x2"` });
  assert.equal(promptOptionsFromFlags({ budgetInput: "64" }).budgets!.input, 64);
});

test("--epochs takes a positive number; a fraction is a share of an epoch", () => {
  assert.equal(positiveEpochs("3"), 3);
  assert.equal(positiveEpochs("0.8"), 0.8);
  for (const bad of ["0", "-1", "abc", ""]) assert.throws(() => positiveEpochs(bad), /--epochs must be a positive number/);
});
