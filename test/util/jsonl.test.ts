// The shared JSONL object reader, and the side-file readers built on it keeping their messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readJsonlObjects } from "../../src/util/jsonl.ts";
import { readPairs } from "../../src/train/examples.ts";

const tmp = mkdtempSync(join(tmpdir(), "jsonl-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(tmp, name);
  writeFileSync(f, text);
  return f;
};

test("jsonl: objects with their line numbers, blank lines and CRLF skipped; errors name file and line", () => {
  const f = file("a.jsonl", '{"a":1}\r\n\r\n  \n{"b":[2]}\n');
  assert.deepEqual(readJsonlObjects(f), [{ line: 1, object: { a: 1 } }, { line: 4, object: { b: [2] } }]);
  assert.throws(() => readJsonlObjects(file("b.jsonl", '{"a":1}\n{"a":\n')), new RegExp(`b\\.jsonl:2: malformed JSON \\(`));
  for (const bad of ["[1]", "3", "null", '"s"']) {
    assert.throws(() => readJsonlObjects(file("c.jsonl", `${bad}\n`), { expected: "a thing" }), /c\.jsonl:1: expected a thing$/);
  }
  assert.throws(() => readJsonlObjects(join(tmp, "none.jsonl"), { flag: "--x" }), (e: Error) => e.message === `--x ${join(tmp, "none.jsonl")}: no such file`);
  assert.throws(() => readJsonlObjects(join(tmp, "none.jsonl")), (e: Error) => e.message === `${join(tmp, "none.jsonl")}: no such file`);
});

test("jsonl: readPairs keeps its messages and ids", async () => {
  const f = file("p.jsonl", '{"prompt":"a","target":"b"}\n\n{"id":"x","prompt":"c","target":"d"}\n');
  assert.deepEqual(await readPairs(f), [{ prompt: "a", target: "b", id: `${f}:1` }, { prompt: "c", target: "d", id: "x" }]);
  await assert.rejects(readPairs(file("q.jsonl", '{"prompt":1,"target":"b"}\n')), /q\.jsonl:1: expected an object with string fields "prompt" and "target"/);
  await assert.rejects(readPairs(file("r.jsonl", "[]\n")), /r\.jsonl:1: expected an object with string fields "prompt" and "target"/);
  await assert.rejects(readPairs(file("s.jsonl", '{"prompt":"a","target":""}\n')), /s\.jsonl:1: field "target" is empty/);
  await assert.rejects(readPairs(file("t.jsonl", "{x\n")), /t\.jsonl:1: malformed JSON/);
});
