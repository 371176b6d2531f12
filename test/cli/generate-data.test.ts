// `generate --data` never loses finished work: a bad --out fails before the first record, a bad record late in the
// split keeps every prediction before it, kill -9 then --resume gives the file an uninterrupted run writes, and
// `--shard I/N` outputs joined by `merge` are the unsharded output byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, writeEmailRecords } from "./run-cli.ts";
import { train } from "../../src/index.ts";
import { writePair, writePairsFile } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "gen-data-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
const BIN = join(import.meta.dirname, "..", "..", "bin", "flythinker.js");



const lines = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; prediction: string });

let sft = "";
let fly = "";
test.before(async () => {
  const { generator, reasoner } = writePair(join(root, "models"));
  const pairs = join(root, "pairs.jsonl");
  writePairsFile(pairs, 16, 2);
  sft = join(root, "sft");
  fly = join(root, "fly");
  await train({ method: "sft", generator, data: pairs, out: sft, config: { maxSteps: 2, lr: 1e-3, batchTokens: 256 } });
  await train({ method: "flythinker", generator, reasoner, data: pairs, out: fly, config: { maxSteps: 2, lr: 1e-3, batchTokens: 256 } });
});

test("generate --data: a missing or unwritable --out folder fails before anything is generated", async () => {
  const records = join(root, "few.jsonl");
  writeEmailRecords(records, 3, { users: 3 });
  await assert.rejects(runCli("generate", "--model", sft, "--data", records, "--out", join(root, "no", "such", "dir", "p.jsonl")), (e: Error) => {
    assert.equal(e.message, `--out: the folder ${join(root, "no", "such", "dir")} does not exist`);
    return true;
  });
  assert.equal(existsSync(join(root, "no")), false, "nothing was created");
  await assert.rejects(runCli("generate", "--model", sft, "--data", records, "--out", root), /--out .* is a folder; give a file name/);
  const none = join(root, "none.jsonl");
  writeFileSync(none, "");
  await assert.rejects(runCli("generate", "--model", sft, "--data", none, "--out", join(root, "none-preds.jsonl")), {
    message: `--data ${none}: no records to generate for (split test)`,
  });
  assert.equal(existsSync(join(root, "none-preds.jsonl.partial")), false);
  await assert.rejects(runCli("generate", "--model", sft, "--data", records, "--out", join(root, "x.jsonl"), "--max-new-tokens", "-4"), /--max-new-tokens must be an integer >= 1, got "-4"/);
});

test("generate --data: a bad record late in the split keeps every prediction before it; --resume --skip-bad finishes", async () => {
  const records = join(root, "bad.jsonl");
  writeEmailRecords(records, 10, { users: 3, noSubject: [7] });
  const out = join(root, "bad-preds.jsonl");
  const args = ["generate", "--model", sft, "--data", records, "--out", out, "--max-new-tokens", "6", "--batch", "2", "--seed", "1"];
  await assert.rejects(runCli(...args), (e: Error) => {
    assert.match(e.message, /^record "rec7" \(number 8\): its prompt cannot be built: .*missing field "subject" needed by the prompt template/);
    assert.match(e.message, /7 predictions before it are kept in .*bad-preds\.jsonl\.partial; fix the record and rerun with --resume, or pass --skip-bad/);
    return true;
  });
  assert.equal(existsSync(out), false);
  assert.deepEqual(lines(`${out}.partial`).map((l) => l.id), ["rec0", "rec1", "rec2", "rec3", "rec4", "rec5", "rec6"]);
  // A plain rerun would lose them: it is refused.
  await assert.rejects(runCli(...args), /bad-preds\.jsonl\.partial holds 7 records of an unfinished run; pass --resume to continue it, or --force to start over/);
  // Other options on resume: refused, naming the option.
  await assert.rejects(runCli(...args.slice(0, -1), "2", "--resume"), /made with other settings[\s\S]*sampling: .*"seed":1.* then, .*"seed":2.* now/);
  const r = await runCli(...args, "--resume", "--skip-bad");
  assert.equal(r.code, 1, "skipped records give exit status 1");
  assert.match(r.out, /wrote 9 predictions .*\nskipped 1 record whose prompt could not be built: rec7\n/);
  assert.match(r.err, /resuming .*: 7 of 10 predictions already written/);
  assert.deepEqual(lines(out).map((l) => l.id), ["rec0", "rec1", "rec2", "rec3", "rec4", "rec5", "rec6", "rec8", "rec9"]);
  // The same as one uninterrupted --skip-bad run.
  const once = join(root, "bad-once.jsonl");
  const s = await runCli("generate", "--model", sft, "--data", records, "--out", once, "--max-new-tokens", "6", "--batch", "2", "--seed", "1", "--skip-bad");
  assert.equal(s.code, 1);
  assert.equal(readFileSync(out, "utf8"), readFileSync(once, "utf8"));
  assert.equal(readdirSync(root).filter((n) => n.endsWith(".lock")).length, 0, "locks released");
});

test("generate --data: kill -9 mid-run, then --resume, gives the file of an uninterrupted run", async () => {
  const records = join(root, "many.jsonl");
  writeEmailRecords(records, 160, { users: 3 });
  const args = (out: string) => ["generate", "--model", fly, "--data", records, "--out", out, "--max-new-tokens", "40", "--batch", "3", "--seed", "5", "--mode", "parallel", "--threads", "1"];
  const full = join(root, "full.jsonl");
  assert.equal((await runCli(...args(full))).code, undefined);
  assert.equal(lines(full).length, 160);
  assert.ok(new Set(lines(full).map((l) => l.prediction)).size > 100, "sampled texts differ between records");

  const out = join(root, "killed.jsonl");
  const child = spawn(process.execPath, [BIN, ...args(out)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let kept = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    const p = `${out}.partial`;
    kept = existsSync(p) ? readFileSync(p, "utf8").split("\n").length - 1 : 0;
    if (kept >= 7) {
      child.kill("SIGKILL");
      break;
    }
    if (existsSync(out)) break;
  }
  assert.equal(await exited, null, `killed by the signal (${stderr.slice(-300)})`);
  assert.equal(existsSync(out), false, "killed before it finished");
  const before = lines(`${out}.partial`).length;
  assert.ok(before >= 7 && before < 160, `${before} predictions kept`);
  assert.ok(existsSync(join(root, ".killed.jsonl.lock")), "the dead run's lock is left behind");
  const r = await runCli(...args(out), "--resume");
  assert.match(r.err, /taking over the stale lock of generate \(pid \d+ .*no longer running/);
  assert.match(r.err, new RegExp(`resuming .*killed\\.jsonl: ${before} of 160 predictions already written`));
  assert.equal(readFileSync(out, "utf8"), readFileSync(full, "utf8"));
  assert.equal(existsSync(`${out}.partial`), false);
  // Resuming a finished file changes nothing.
  assert.match((await runCli(...args(out), "--resume")).out, /killed\.jsonl is already complete \(160 predictions/);
});

test("generate --shard I/N: 3 shards merged equal one run byte for byte (FlyThinker parallel and SFT)", async () => {
  const records = join(root, "shard.jsonl");
  writeEmailRecords(records, 11, { users: 3 });
  const dir = join(root, "shards");
  mkdirSync(dir);
  for (const [name, model, extra] of [["fly", fly, ["--mode", "parallel"]], ["sft", sft, []]] as const) {
    const args = (out: string) => ["generate", "--model", model, "--data", records, "--out", out, "--max-new-tokens", "8", "--batch", "2", "--seed", "3", ...extra];
    const whole = join(dir, `${name}.jsonl`);
    await runCli(...args(whole));
    const parts = [0, 1, 2].map((i) => join(dir, `${name}-${i}.jsonl`));
    const counts = [];
    for (const [i, p] of parts.entries()) {
      await runCli(...args(p), "--shard", `${i}/3`);
      counts.push(lines(p).length);
    }
    // 11 records in 6 batches of 2: shards take batches [0,2), [2,4), [4,6).
    assert.deepEqual(counts, [4, 4, 3]);
    const merged = join(dir, `${name}-merged.jsonl`);
    const m = await runCli("merge", merged, parts[2]!, parts[0]!, parts[1]!);
    assert.match(m.out, /wrote 11 predictions from 3 shards/);
    assert.equal(readFileSync(merged, "utf8"), readFileSync(whole, "utf8"));
    assert.equal(lines(whole).length, 11);
    assert.ok(new Set(lines(whole).map((l) => l.prediction)).size > 8, "sampled texts differ between records");
  }
  const p = (i: number) => join(dir, `sft-${i}.jsonl`);
  await assert.rejects(runCli("merge", join(dir, "m.jsonl"), p(0), p(2)), /shards 1\/3 are missing \(got 2 of 3\)/);
  await assert.rejects(runCli("merge", join(dir, "m.jsonl"), p(0), p(0), p(2)), /sft-0\.jsonl and .*sft-0\.jsonl are both shard 0\/3/);
  await assert.rejects(runCli("merge", join(dir, "m.jsonl"), p(0), join(dir, "fly-1.jsonl"), p(2)), /fly-1\.jsonl was made with other settings than .*sft-0\.jsonl:[\s\S]*model: /);
  await assert.rejects(runCli("merge", join(dir, "m.jsonl"), join(dir, "sft.jsonl")), /sft\.jsonl is the output of an unsharded run/);
  await assert.rejects(runCli("generate", "--model", sft, "--data", records, "--out", p(0), "--shard", "3/3"), /--shard must be I\/N with N >= 1 and 0 <= I < N/);
});
