// The demo's stage cache: reuse when nothing changed, rebuild when a stage's settings or inputs change, --fresh,
// unfinished and failed builds; plus the record selection and the pretraining chunks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MARKER_FILE, StageRunner, canonicalJson, readMarker, stageHash } from "../../src/demo/stage-cache.ts";
import { spreadOverUsers } from "../../src/demo/generate.ts";
import { packChunks } from "../../src/demo/pretrain.ts";
import type { PersonalRecord } from "../../src/data/index.ts";

const tmp = mkdtempSync(join(tmpdir(), "demo-cache-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** Two stages, b reading a; counts builds; each writes a file whose content depends on its settings and input. */
function pipeline(root: string, settings: { a: unknown; b: unknown }, fresh = false) {
  const builds: string[] = [];
  const events: string[] = [];
  const runner = new StageRunner(root, {
    fresh,
    events: { begin: (name, cached, reason) => events.push(`${name}:${cached ? "cached" : reason}`) },
  });
  const run = async () => {
    const a = await runner.run({
      name: "a",
      settings: settings.a,
      build: async (dir) => {
        builds.push("a");
        writeFileSync(join(dir, "out.txt"), `a(${JSON.stringify(settings.a)})`);
      },
      load: (dir) => readFileSync(join(dir, "out.txt"), "utf8"),
    });
    const b = await runner.run({
      name: "b",
      settings: settings.b,
      deps: [a],
      build: async (dir) => {
        builds.push("b");
        writeFileSync(join(dir, "out.txt"), `b(${JSON.stringify(settings.b)}, ${a.value})`);
      },
      load: (dir) => readFileSync(join(dir, "out.txt"), "utf8"),
    });
    return { a, b };
  };
  return { run, builds, events };
}

test("stage cache: a second run reuses finished stages and their values", async () => {
  const root = join(tmp, "reuse");
  const first = pipeline(root, { a: { x: 1 }, b: { y: 2 } });
  const r1 = await first.run();
  assert.deepEqual(first.builds, ["a", "b"]);
  assert.deepEqual(first.events, ["a:not built yet", "b:not built yet"]);
  assert.equal(r1.b.value, 'b({"y":2}, a({"x":1}))');
  assert.equal(r1.a.cached, false);

  const second = pipeline(root, { a: { x: 1 }, b: { y: 2 } });
  const r2 = await second.run();
  assert.deepEqual(second.builds, []);
  assert.deepEqual(second.events, ["a:cached", "b:cached"]);
  assert.equal(r2.b.value, r1.b.value);
  assert.equal(r2.a.cached, true);
  assert.equal(r2.b.hash, r1.b.hash);
  // the marker holds the hash, the settings and the inputs' hashes
  const m = readMarker(join(root, "b"))!;
  assert.equal(m.hash, r1.b.hash);
  assert.deepEqual(m.settings, { y: 2 });
  assert.deepEqual(m.deps, { a: r1.a.hash });
  assert.equal(m.hash, stageHash("b", { y: 2 }, { a: r1.a.hash }));
});

test("stage cache: a changed setting reruns that stage and the stages that read it, not the ones before", async () => {
  const root = join(tmp, "change");
  await pipeline(root, { a: { x: 1 }, b: { y: 2 } }).run();

  const bOnly = pipeline(root, { a: { x: 1 }, b: { y: 3 } });
  const r = await bOnly.run();
  assert.deepEqual(bOnly.builds, ["b"]);
  assert.deepEqual(bOnly.events, ["a:cached", "b:settings or inputs changed"]);
  assert.equal(r.b.value, 'b({"y":3}, a({"x":1}))');

  const upstream = pipeline(root, { a: { x: 5 }, b: { y: 3 } });
  const r2 = await upstream.run();
  assert.deepEqual(upstream.builds, ["a", "b"]);
  assert.equal(r2.b.value, 'b({"y":3}, a({"x":5}))');
  assert.notEqual(r2.b.hash, r.b.hash);

  // going back to earlier settings rebuilds again (one cached version per stage folder)
  const back = pipeline(root, { a: { x: 1 }, b: { y: 3 } });
  await back.run();
  assert.deepEqual(back.builds, ["a", "b"]);
});

test("stage cache: --fresh rebuilds every stage", async () => {
  const root = join(tmp, "fresh");
  await pipeline(root, { a: 1, b: 2 }).run();
  const fresh = pipeline(root, { a: 1, b: 2 }, true);
  const r = await fresh.run();
  assert.deepEqual(fresh.builds, ["a", "b"]);
  assert.deepEqual(fresh.events, ["a:--fresh", "b:--fresh"]);
  assert.equal(r.a.cached, false);
  // and the run after it reuses them again
  const after = pipeline(root, { a: 1, b: 2 });
  await after.run();
  assert.deepEqual(after.builds, []);
});

test("stage cache: a folder without a marker is rebuilt; a failed build keeps the finished folder as it was", async () => {
  const root = join(tmp, "unfinished");
  mkdirSync(join(root, "a"), { recursive: true });
  writeFileSync(join(root, "a", "partial.txt"), "left by an interrupted run");
  const p = pipeline(root, { a: 1, b: 2 });
  await p.run();
  assert.deepEqual(p.events, ["a:unfinished", "b:not built yet"]);
  assert.equal(existsSync(join(root, "a", "partial.txt")), false);
  assert.equal(existsSync(join(root, "a", MARKER_FILE)), true);

  const before = readFileSync(join(root, "a", MARKER_FILE), "utf8");
  const runner = new StageRunner(root);
  await assert.rejects(
    runner.run({
      name: "a",
      settings: 99,
      build: async (dir) => {
        writeFileSync(join(dir, "out.txt"), "half");
        throw new Error("build failed");
      },
      load: () => undefined,
    }),
    /build failed/,
  );
  assert.equal(readFileSync(join(root, "a", MARKER_FILE), "utf8"), before);
  assert.equal(readFileSync(join(root, "a", "out.txt"), "utf8"), "a(1)");
  // a corrupt marker counts as unfinished
  writeFileSync(join(root, "b", MARKER_FILE), "{not json");
  const again = pipeline(root, { a: 1, b: 2 });
  await again.run();
  assert.deepEqual(again.events, ["a:cached", "b:unfinished"]);
});

test("stage cache: the hash ignores key order and changes with the code version", () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } }), '{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
  assert.equal(stageHash("s", { a: 1, b: 2 }, { x: "h" }), stageHash("s", { b: 2, a: 1 }, { x: "h" }));
  assert.notEqual(stageHash("s", { a: 1 }, {}, 1), stageHash("s", { a: 1 }, {}, 2));
  assert.notEqual(stageHash("s", { a: 1 }, {}), stageHash("t", { a: 1 }, {}));
  assert.notEqual(stageHash("s", { a: 1 }, { x: "h1" }), stageHash("s", { a: 1 }, { x: "h2" }));
});

test("spreadOverUsers: round-robin over users in order of first appearance, file order kept", () => {
  const users = ["u1", "u1", "u1", "u2", "u3", "u3", "u1", "u2"];
  const records = users.map((user, i) => ({ id: `r${i}`, user }) as PersonalRecord);
  const ids = (n: number) => spreadOverUsers(records, n).map((r) => r.id);
  assert.deepEqual(ids(3), ["r0", "r3", "r4"]);
  assert.deepEqual(ids(5), ["r0", "r1", "r3", "r4", "r7"]);
  assert.deepEqual(ids(6), ["r0", "r1", "r3", "r4", "r5", "r7"]);
  assert.deepEqual(ids(7), ["r0", "r1", "r2", "r3", "r4", "r5", "r7"]);
  assert.deepEqual(ids(0), records.map((r) => r.id));
  assert.deepEqual(ids(100), records.map((r) => r.id));
});

test("packChunks: documents concatenated and cut into seqLen chunks with a 1-token prompt", () => {
  const chunks = packChunks([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]], 4);
  assert.deepEqual(
    chunks.map((c) => [c.promptIds, c.targetIds]),
    [
      [[1], [2, 3, 4]],
      [[5], [6, 7, 8]],
      [[9], [10]],
    ],
  );
  // a final single token is dropped (nothing to score)
  assert.deepEqual(packChunks([[1, 2, 3, 4, 5]], 4).map((c) => c.targetIds), [[2, 3, 4]]);
  assert.throws(() => packChunks([[1, 2]], 1), /sequence length must be >= 2/);
});
