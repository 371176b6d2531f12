import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/main.ts";

/** Runs the CLI in-process; returns what it printed and the exit code it set. */
async function run(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  console.error = (...a: unknown[]) => void err.push(a.join(" "));
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await main(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
    console.error = error;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out: out.join("\n"), err: err.join("\n"), code };
}

const dir = mkdtempSync(join(tmpdir(), "ft-cli-"));

test("cli: data prepare email prints counts, filters and percentiles; data inspect validates the folder", async () => {
  const out = join(dir, "email");
  const p = await run("data", "prepare", "email", "--out", out, "--seed", "0");
  assert.equal(p.code, 0, p.err);
  assert.match(p.out, /^mails read: 4150 \(ham only\)$/m);
  assert.match(p.out, /^kept: 1712 mails from 149 senders$/m);
  assert.match(p.out, /^filtered: \d+ automated .*, \d+ HTML-only, \d+ duplicates/m);
  assert.match(p.out, /^test: 202 records, 15 users$/m);
  assert.match(p.out, /words per mail +p10 [\d.]+ · p50 [\d.]+ · p90/);
  const i = await run("data", "inspect", out);
  assert.equal(i.code, 0);
  assert.match(i.out, /^149 users in all; no user is in two splits$/m);
  assert.match(i.out, /^train: 1,273 records, 119 users$/m);
  assert.match(i.out, /history items per record/);
  assert.match(i.out, /^all records valid$/m);
  const again = await run("data", "prepare", "email", "--out", out);
  assert.equal(again.code, 2);
  assert.match(again.err, /^flythinker: .*already exists; choose another --out or pass --force/);
  const bad = await run("data", "prepare", "email", "--out", join(dir, "x"), "--split", "random");
  assert.match(bad.err, /--split must be user or temporal/);
  assert.equal(existsSync(join(dir, "x")), false);
});

test("cli: data inspect reports malformed lines as file:line, and --strict stops with the same message", async () => {
  const file = join(dir, "bad.jsonl");
  const good = { id: "1", task: "email", user: "u", input: "q", output: "a", profile: [] };
  writeFileSync(file, `${JSON.stringify(good)}\n{broken\n${JSON.stringify({ ...good, id: "2", output: undefined })}\n`);
  const r = await run("data", "inspect", file);
  assert.equal(r.code, 1);
  assert.match(r.err, new RegExp(`^skipped ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:2: malformed JSON`, "m"));
  assert.match(r.err, /:3: record "2" is missing field "output"/);
  assert.match(r.out, /^file: 1 records, 1 users, 1 with an empty profile/m);
  assert.match(r.out, /^2 invalid lines skipped$/m);
  const s = await run("data", "inspect", file, "--strict");
  assert.equal(s.code, 2);
  assert.match(s.err, /^flythinker: .*bad\.jsonl:2: malformed JSON/);
});

test("cli: data import longlamp writes a folder; an unknown task is a clear error", async () => {
  const src = join(dir, "topic.jsonl");
  writeFileSync(src, JSON.stringify({ author: "a1", input: "Write about cats.", output: "Cats sleep a lot.", profile: [{ summary: "dogs", content: "Dogs bark." }] }) + "\n");
  const out = join(dir, "topic");
  const r = await run("data", "import", "longlamp", "--task", "topic_writing", "--in", `test=${src}`, "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /read .*topic\.jsonl \(jsonl, test\): 1 records/);
  assert.ok(existsSync(join(out, "test.jsonl")));
  const u = await run("data", "import", "longlamp", "--task", "poetry", "--in", `test=${src}`, "--out", join(dir, "p"));
  assert.equal(u.code, 2);
  assert.equal(u.err, 'flythinker: unknown LongLaMP task "poetry"; expected one of product_review, abstract_generation, topic_writing');
});

test("cli: data import flythinker-json reads the published code's dataset JSON; longlamp still needs --task", async () => {
  const src = join(dir, "topic_writing_user.json");
  writeFileSync(src, JSON.stringify([{ profile: '"a" is a summary for "b".', inp: " Write about c.", target: "C is fine." }]));
  const out = join(dir, "fly-json");
  const r = await run("data", "import", "flythinker-json", "--in", `test=${src}`, "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /read .*topic_writing_user\.json \(json, test\): 1 records/);
  assert.match(r.out, /^wrote .*fly-json \(flythinker-json\)$/m);
  const i = await run("data", "inspect", out);
  assert.equal(i.code, 0, i.err);
  assert.match(i.out, /^all records valid$/m);
  const t = await run("data", "import", "longlamp", "--in", `test=${src}`, "--out", join(dir, "q"));
  assert.equal(t.code, 2);
  assert.match(t.err, /data import longlamp needs --task/);
});

test("cli: data inspect fails the records whose prompt cannot be built (a history item without the template's field)", async () => {
  const file = join(dir, "nosubject.jsonl");
  const item = { input: "q0", output: "an earlier mail", subject: "hello" };
  const recs = [
    { id: "ok1", task: "email", user: "u", input: "q", output: "a", profile: [item] },
    { id: "bad7", task: "email", user: "u", input: "q", output: "a", profile: [item, { input: "q1", output: "no subject here" }] },
  ];
  writeFileSync(file, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const r = await run("data", "inspect", file);
  assert.equal(r.code, 1);
  assert.equal(r.err, `file: record "bad7": no prompt can be built: profile[1] lacks "subject", needed by the email prompt template`);
  assert.match(r.out, /^1 record whose prompt cannot be built$/m);
  assert.doesNotMatch(r.out, /all records valid/);
  writeFileSync(file, JSON.stringify(recs[0]) + "\n");
  const ok = await run("data", "inspect", file);
  assert.equal(ok.code, 0);
  assert.match(ok.out, /all records valid/);
});

test("cli: data import longlamp refuses a file of another task's schema (exit 2, the file and fields named)", async () => {
  const src = join(dir, "review-as-topic.jsonl");
  writeFileSync(src, JSON.stringify({ reviewerId: "r1", input: "Review it.", output: "Good.", profile: [] }) + "\n");
  const r = await run("data", "import", "longlamp", "--task", "topic_writing", "--in", `test=${src}`, "--out", join(dir, "wrong"));
  assert.equal(r.code, 2);
  assert.match(r.err, new RegExp(`^skipped .*:1: missing field "author".*\\nflythinker: .*review-as-topic\\.jsonl: none of its 1 rows is a LongLaMP topic_writing record .*fields found: reviewerId, input, output, profile\\. Is it another task's file\\?$`));
  assert.equal(existsSync(join(dir, "wrong")), false);
});
