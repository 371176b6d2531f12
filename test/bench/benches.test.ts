// The bench list: every bench comes from the one explicit list in src/bench/benches.ts, in its order, and each
// becomes a `bench <name>` subcommand with the options the list gives it.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command } from "commander";
import { BENCHES, positiveInt } from "../../src/bench/benches.ts";
import { buildProgram } from "../../src/cli/main.ts";
import { registeredBenches } from "../../src/cli/commands/bench.ts";
import { UserError } from "../../src/util/errors.ts";

test("BENCHES names the benches, in the order `bench all` runs them (train-memory runs inside train)", () => {
  assert.deepEqual(BENCHES.map((b) => b.name), ["engine", "decode", "flythinker-decode", "cos-decode", "train", "train-memory", "serve", "methods"]);
  assert.deepEqual(BENCHES.filter((b) => !b.notInAll).map((b) => b.name), ["engine", "decode", "flythinker-decode", "cos-decode", "train", "serve", "methods"]);
  assert.deepEqual(registeredBenches().slice(0, BENCHES.length).map((b) => b.name), BENCHES.map((b) => b.name));
});

test("each listed bench is a subcommand of `bench` with the listed flags", () => {
  const bench: Command | undefined = buildProgram().commands.find((c) => c.name() === "bench");
  assert.ok(bench, "the program has a bench command");
  const subcommands = bench.commands.map((c) => c.name());
  for (const b of BENCHES) {
    const cmd: Command | undefined = bench.commands.find((c) => c.name() === b.name);
    assert.ok(cmd, `bench ${b.name} is a subcommand (have: ${subcommands.join(", ")})`);
    const flags: string[] = cmd.options.map((o) => o.flags);
    assert.deepEqual(flags, ["--json", ...(b.options ?? []).map((o) => o.flags)]);
  }
  assert.equal(subcommands[subcommands.length - 1], "all");
});

test("positiveInt parses integers at or above the minimum and names the flag otherwise", () => {
  assert.equal(positiveInt("12", "--steps"), 12);
  assert.equal(positiveInt(" 7 ", "--steps", 7), 7);
  assert.throws(() => positiveInt("6", "--steps", 7), (e: unknown) => e instanceof UserError && /--steps must be an integer >= 7, got "6"/.test(e.message));
  assert.throws(() => positiveInt("1.5", "--runs"), UserError);
  assert.throws(() => positiveInt("0", "--runs"), UserError);
});
