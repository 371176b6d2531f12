// Atomic writes: the target holds the old content or the new one, never a partial file, and no temporary is left.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atomicWriteBytes, atomicWriteDir, atomicWriteFile } from "../../src/util/files.ts";

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "flythinker-files-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("atomicWriteBytes writes strings and bytes and replaces an existing file", () => {
  withDir((dir) => {
    const path = join(dir, "a.txt");
    atomicWriteBytes(path, "first");
    assert.equal(readFileSync(path, "utf8"), "first");
    atomicWriteBytes(path, new Uint8Array([104, 105]));
    assert.equal(readFileSync(path, "utf8"), "hi");
    assert.deepEqual(readdirSync(dir), ["a.txt"]);
  });
});

test("atomicWriteFile leaves the old file and no temporary when the writer throws", () => {
  withDir((dir) => {
    const path = join(dir, "b.txt");
    writeFileSync(path, "old");
    assert.throws(() => atomicWriteFile(path, () => { throw new Error("disk full"); }), /disk full/);
    assert.equal(readFileSync(path, "utf8"), "old");
    assert.deepEqual(readdirSync(dir), ["b.txt"]);
  });
});

test("atomicWriteDir: a new folder, no overwrite without the flag, replacement with it, cleanup on failure", () => {
  withDir((dir) => {
    const target = join(dir, "out");
    assert.equal(atomicWriteDir(target, (tmp) => writeFileSync(join(tmp, "x"), "1"), false), true);
    assert.equal(readFileSync(join(target, "x"), "utf8"), "1");
    assert.equal(atomicWriteDir(target, (tmp) => writeFileSync(join(tmp, "x"), "2"), false), false);
    assert.equal(readFileSync(join(target, "x"), "utf8"), "1");
    assert.equal(atomicWriteDir(target, (tmp) => writeFileSync(join(tmp, "y"), "3"), true), true);
    assert.deepEqual(readdirSync(target), ["y"]);
    assert.throws(() => atomicWriteDir(target, (tmp) => { mkdirSync(join(tmp, "sub")); throw new Error("stop"); }, true), /stop/);
    assert.deepEqual(readdirSync(target), ["y"]);
    assert.deepEqual(readdirSync(dir), ["out"]);
  });
});
