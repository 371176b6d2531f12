// Two `flythinker train` processes into one folder: the second fails at once naming the first (its pid), and the
// first finishes untouched, its metrics one row per step of its own run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writePair, writePairsFile } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "race-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const BIN = join(import.meta.dirname, "..", "..", "bin", "flythinker.js");

function run(args: string[]): { pid: number; done: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  return { pid: child.pid!, done: new Promise((r) => child.once("exit", (code) => r({ code, stderr }))) };
}

test("two trainings started into one folder: the second fails at once, the first finishes untouched", async () => {
  const m = writePair(join(tmp, "models"));
  writePairsFile(join(tmp, "pairs.jsonl"), 30, 3);
  const out = join(tmp, "out");
  const args = ["train", "--method", "sft", "--generator", m.generator, "--data", join(tmp, "pairs.jsonl"), "--out", out,
    "--max-steps", "200", "--lr", "0.01", "--batch-tokens", "128", "--checkpoint-every", "5", "--threads", "1"];
  // Both start at the same moment: whichever takes the lock trains, the other stops at once.
  const a = run(args);
  const b = run(args);
  const [ea, eb] = await Promise.all([a.done, b.done]);
  const [winner, loser, winnerPid] = ea.code === 0 ? [ea, eb, a.pid] : [eb, ea, b.pid];
  assert.equal(winner.code, 0, winner.stderr);
  assert.equal(loser.code, 2, loser.stderr);
  assert.match(loser.stderr, new RegExp(`^flythinker: .*out is being written by train \\(pid ${winnerPid} on .*\\); wait for it to finish or choose another output`, "m"));
  const rows = readFileSync(join(out, "metrics.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { step: number });
  assert.deepEqual(rows.map((r) => r.step), Array.from({ length: 200 }, (_, i) => i + 1));
  assert.ok(existsSync(join(out, "flythinker.json")));
  assert.equal(existsSync(join(tmp, ".out.lock")), false, "released");
});
