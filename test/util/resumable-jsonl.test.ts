// The streamed JSONL output: records survive a kill (a cut last line is dropped on resume), resume checks the run's
// options, and write failures name the file and what was needed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openResumableJsonl, writeError } from "../../src/util/resumable-jsonl.ts";

const tmp = mkdtempSync(join(tmpdir(), "resumable-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("resumable JSONL: append, kill (cut line), resume, finish", () => {
  const out = join(tmp, "a.jsonl");
  const run = { model: "m", seed: 1 };
  const w = openResumableJsonl(out, run);
  w.append({ id: "a", x: 1 });
  w.append({ id: "b", x: 2 });
  w.close(); // as if killed: no rename
  appendFileSync(`${out}.partial`, '{"id":"c","x":'); // a line cut short
  assert.equal(existsSync(out), false);
  assert.throws(() => openResumableJsonl(out, run), /a\.jsonl\.partial holds 2 records of an unfinished run; pass --resume/);
  assert.throws(() => openResumableJsonl(out, { model: "m", seed: 2 }, { resume: true }), /other settings[\s\S]*seed: 1 then, 2 now/);
  const r = openResumableJsonl(out, run, { resume: true });
  assert.deepEqual(r.done, [{ id: "a", x: 1 }, { id: "b", x: 2 }]);
  r.append({ id: "c", x: 3 });
  r.finish();
  assert.equal(readFileSync(out, "utf8"), '{"id":"a","x":1}\n{"id":"b","x":2}\n{"id":"c","x":3}\n');
  assert.deepEqual(JSON.parse(readFileSync(`${out}.run.json`, "utf8")), { run, progress: {} });
  const again = openResumableJsonl(out, run, { resume: true });
  assert.equal(again.complete, true);
  assert.equal(again.done.length, 3);
  // --force (discard) starts over.
  const w2 = openResumableJsonl(join(tmp, "b.jsonl"), run);
  w2.append({ id: "z" });
  w2.close();
  const fresh = openResumableJsonl(join(tmp, "b.jsonl"), run, { discard: true });
  assert.deepEqual(fresh.done, []);
  fresh.finish();
  assert.equal(readFileSync(join(tmp, "b.jsonl"), "utf8"), "");
});

test("write errors name the file, the folder and the bytes on a full disk", () => {
  let err: unknown;
  try {
    writeSync(openSync("/dev/full", "a"), Buffer.alloc(4096));
  } catch (e) {
    err = e;
  }
  assert.equal((err as NodeJS.ErrnoException).code, "ENOSPC");
  assert.equal(writeError("/data/run/preds.jsonl", err, 4096).message, "no space left on the device of /data/run writing /data/run/preds.jsonl (4096 more bytes needed)");
  assert.throws(() => openResumableJsonl(join(tmp, "missing", "p.jsonl"), {}), { message: `--out: the folder ${join(tmp, "missing")} does not exist` });
  // /proc takes no new files (whoever runs this): refused with the file named, not a stack.
  assert.throws(() => openResumableJsonl("/proc/x.jsonl", {}), /^UserError: (cannot write \/proc\/x\.jsonl\.run\.json: |--out: the folder \/proc is not writable)/);
});
