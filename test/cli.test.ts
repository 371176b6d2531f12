import { test } from "node:test";
import assert from "node:assert/strict";
import { buildProgram } from "../src/cli/main.ts";

test("cli: program is named flythinker and lists its commands in help", () => {
  const program = buildProgram();
  assert.equal(program.name(), "flythinker");
  assert.match(program.helpInformation(), /Usage: flythinker/);
});
