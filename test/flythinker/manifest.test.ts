import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MANIFEST_FILE, type Manifest, readManifest, writeManifest } from "../../src/flythinker/manifest.ts";
import { UserError } from "../../src/util/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "manifest-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const FLY: Manifest = {
  format: "flythinker-model",
  version: 1,
  method: "flythinker",
  generator: "generator",
  reasoner: "reasoner",
  lambda: 0.25,
  fuse: "prefix",
  enhance: "output",
  embedding_norm_scale: 1.5,
  projection: null,
  tokenizer_fingerprint: "abc",
  training: { epochs: 2 },
};

function folderWith(name: string, json: unknown): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MANIFEST_FILE), typeof json === "string" ? json : JSON.stringify(json));
  return dir;
}

function rejects(dir: string, ...parts: string[]): void {
  assert.throws(
    () => readManifest(dir),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      for (const p of [join(dir, MANIFEST_FILE), ...parts]) assert.ok(e.message.includes(p), `"${e.message}" lacks "${p}"`);
      return true;
    },
  );
}

test("the manifest round-trips through its writer and reader", () => {
  const dir = join(tmp, "written");
  mkdirSync(dir);
  writeManifest(dir, FLY);
  assert.deepEqual(readManifest(dir), FLY);
  assert.equal(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8")).version, 1);
});

test("a manifest without a version field is read as version 1", () => {
  const { version: _, ...old } = FLY;
  const m = readManifest(folderWith("old", old));
  assert.equal(m.version, 1);
  assert.equal(m.lambda, 0.25);
  assert.equal(m.enhance, "output");
  const sft = readManifest(folderWith("old-sft", { format: "flythinker-model", method: "sft", generator: "generator" }));
  assert.deepEqual(sft, { ...FLY, method: "sft", reasoner: null, lambda: null, fuse: null, enhance: null, embedding_norm_scale: null, tokenizer_fingerprint: null, training: {} });
});

test("an unknown version is refused, naming the file, the version found and the versions supported", () => {
  rejects(folderWith("v2", { ...FLY, version: 2 }), "manifest version 2 is not supported", "reads version 1");
  rejects(folderWith("v-text", { ...FLY, version: "1" }), 'manifest version "1" is not supported');
});

test("malformed fields are refused, naming the field", () => {
  rejects(folderWith("lambda", { ...FLY, lambda: "0.5" }), 'field "lambda" must be a number or null, got "0.5"');
  rejects(folderWith("fuse", { ...FLY, fuse: "concat" }), 'field "fuse" must be "prefix" or "projection" or null, got "concat"');
  rejects(folderWith("method", { ...FLY, method: "rag" }), 'field "method" must be "flythinker" or "sft" or ', '"nextquill"', 'got "rag"');
  rejects(folderWith("generator", { ...FLY, generator: 3 }), 'field "generator" must be a string, got 3');
  rejects(folderWith("training", { ...FLY, training: [1] }), 'field "training" must be an object');
  rejects(folderWith("format", { ...FLY, format: "other" }), 'field "format" must be "flythinker-model", got "other"');
  rejects(folderWith("needs-reasoner", { ...FLY, reasoner: null }), 'a FlyThinker model needs field "reasoner"');
  rejects(folderWith("needs-projection", { ...FLY, fuse: "projection" }), 'fuse "projection" needs field "projection"');
  rejects(folderWith("not-json", "{"), "not valid JSON");
  assert.throws(() => readManifest(join(tmp, "absent")), new RegExp(`${join(tmp, "absent")} has no flythinker\\.json`));
});
