// Output locks: one writer at a time, the holder named; stale locks (dead pid) taken over; foreign ones need force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { acquireOutputLock, lockFileOf, pidAlive, withOutputLock } from "../../src/util/lock.ts";

const tmp = mkdtempSync(join(tmpdir(), "lock-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** The pid of a process that has exited (so no process has it, barring reuse within the test). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const pid = Number(r.stdout);
  assert.equal(pidAlive(pid), false);
  return pid;
}

test("lock: a second writer fails at once naming the holder; release frees it", () => {
  const target = join(tmp, "out-a");
  const lock = acquireOutputLock(target, { command: "train" });
  assert.equal(lock.file, join(tmp, ".out-a.lock"));
  const held = JSON.parse(readFileSync(lock.file, "utf8")) as { pid: number; host: string; command: string };
  assert.deepEqual([held.pid, held.host, held.command], [process.pid, hostname(), "train"]);
  assert.throws(
    () => acquireOutputLock(target, { command: "generate" }),
    new RegExp(`out-a is being written by train \\(pid ${process.pid} on ${hostname()}, since .*lock: .*\\.out-a\\.lock\\)`),
  );
  // --force does not break a lock whose holder is known to be running.
  assert.throws(() => acquireOutputLock(target, { force: true }), /is being written by train/);
  lock.release();
  assert.equal(existsSync(lock.file), false);
  acquireOutputLock(target).release();
});

test("lock: held by another live process, then stale once it exits", async () => {
  const target = join(tmp, "out-b");
  const child = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
  const file = lockFileOf(target);
  writeFileSync(file, JSON.stringify({ pid: child.pid, host: hostname(), started: "then", command: "demo", token: "x1" }));
  assert.throws(() => acquireOutputLock(target), new RegExp(`being written by demo \\(pid ${child.pid} on `));
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
  const notes: string[] = [];
  const lock = acquireOutputLock(target, { command: "eval", log: (s) => notes.push(s) });
  assert.deepEqual(notes, [`${target}: taking over the stale lock of demo (pid ${child.pid} on ${hostname()}, since then), which is no longer running`]);
  assert.equal((JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid, process.pid);
  lock.release();
});

test("lock: a lock of another host needs force; a garbage lock is broken once old", async () => {
  const target = join(tmp, "out-c");
  const file = lockFileOf(target);
  writeFileSync(file, JSON.stringify({ pid: deadPid(), host: "elsewhere-node-7", started: "t0", command: "train", token: "y" }));
  assert.throws(() => acquireOutputLock(target), /locked by train \(pid \d+ on elsewhere-node-7, since t0\), which cannot be checked from .*pass --force/);
  const notes: string[] = [];
  await withOutputLock(target, { force: true, log: (s) => notes.push(s) }, () => {
    assert.equal((JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid, process.pid);
  });
  assert.match(notes[0]!, /breaking the lock of train \(pid \d+ on elsewhere-node-7/);
  assert.equal(existsSync(file), false, "released after the function");

  writeFileSync(file, "not json");
  const old = new Date(Date.now() - 60_000);
  utimesSync(file, old, old);
  acquireOutputLock(target).release();
});
