import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type PersonalRecord,
  readDataset,
  readDatasetSplits,
  readJsonl,
  recordStats,
  validateRecord,
  writeDataset,
  writeDirAtomic,
} from "../../src/data/index.ts";
import { UserError } from "../../src/util/errors.ts";

const tmp = (): string => mkdtempSync(join(tmpdir(), "ft-data-"));

const rec = (id: string, user: string, profile: PersonalRecord["profile"] = []): PersonalRecord => ({
  id,
  task: "email",
  user,
  input: `query ${id}`,
  output: `answer ${id}`,
  profile,
});

test("validateRecord: accepts a canonical record (extra fields kept) and names the bad field otherwise", () => {
  const ok = validateRecord({ ...rec("a", "u"), extra: 1, profile: [{ input: "i", output: "o", rating: 5 }] }, "f.jsonl:3");
  assert.equal(ok.extra, 1);
  assert.equal(ok.profile[0]!.rating, 5);
  const bad = (v: unknown, re: RegExp): void =>
    assert.throws(() => validateRecord(v, "f.jsonl:3"), (e: unknown) => e instanceof UserError && re.test(e.message));
  bad([1, 2], /^f\.jsonl:3: expected a JSON object/);
  const { output: _o, ...noOutput } = rec("a", "u");
  bad(noOutput, /^f\.jsonl:3: record "a" is missing field "output"/);
  const { input: _i, ...noInput } = rec("a", "u");
  bad(noInput, /missing field "input"/);
  bad({ ...rec("a", "u"), input: 3 }, /field "input" must be a string, got number 3/);
  bad({ ...rec("a", "u"), output: "  " }, /empty "output"/);
  bad({ ...rec("a", "u"), user: "" }, /field "user" must be a non-empty string/);
  bad({ ...rec("a", "u"), profile: "x" }, /field "profile" must be an array/);
  bad({ ...rec("a", "u"), profile: [{ input: "i" }] }, /profile\[0\]\.output must be a string, got nothing/);
  bad({ ...rec("a", "u"), profile: [{ input: "i", output: "o", id: 7 }] }, /profile\[0\]\.id must be a string/);
  // an empty profile is allowed
  assert.deepEqual(validateRecord(rec("a", "u")).profile, []);
});

test("readJsonl: a malformed line is reported as file:line and skipped, or stops the read with --strict", async () => {
  const dir = tmp();
  const file = join(dir, "x.jsonl");
  const { output: _o, ...noOutput } = rec("c", "u");
  writeFileSync(
    file,
    [JSON.stringify(rec("a", "u")), "{not json", "", JSON.stringify(noOutput), JSON.stringify(rec("b", "v"))].join("\n") + "\n",
  );
  const seen: string[] = [];
  const r = await readJsonl(file, { onIssue: (i) => seen.push(i.where) });
  assert.deepEqual(r.records.map((x) => x.id), ["a", "b"]);
  assert.deepEqual(r.issues.map((i) => i.line), [2, 4]);
  assert.match(r.issues[0]!.message, /^malformed JSON/);
  assert.equal(r.issues[1]!.message, 'record "c" is missing field "output"');
  assert.deepEqual(seen, [`${file}:2`, `${file}:4`]);
  await assert.rejects(readJsonl(file, { strict: true }), (e: unknown) => e instanceof UserError && e.message.startsWith(`${file}:2: malformed JSON`));
  await assert.rejects(readJsonl(join(dir, "none.jsonl")), /no such file/);
});

test("dataset folder: written atomically with a card, read back per split; empty profiles are counted", async () => {
  const dir = tmp();
  const out = join(dir, "ds");
  const train = [rec("a", "u", [{ input: "q", output: "o" }]), rec("b", "u")];
  const test_ = [rec("c", "w", [{ input: "q", output: "o" }])];
  const card = await writeDataset(out, { train, test: test_ }, { name: "t", task: "email", source: "unit test", licence: "none", splitRule: "by hand" });
  assert.deepEqual(card.counts, { train: { records: 2, users: 1 }, test: { records: 1, users: 1 } });
  assert.deepEqual(readdirSync(out).sort(), ["dataset.json", "test.jsonl", "train.jsonl"]);
  assert.deepEqual(JSON.parse(readFileSync(join(out, "dataset.json"), "utf8")).counts, card.counts);
  const tr = await readDataset(out);
  assert.deepEqual(tr.records, train);
  assert.equal(tr.card!.name, "t");
  assert.deepEqual((await readDataset(out, { split: "test" })).records, test_);
  await assert.rejects(readDataset(out, { split: "val" }), (e: unknown) => e instanceof UserError && /has no val split .*it has train, test/.test(e.message));
  assert.deepEqual((await readDataset(join(out, "test.jsonl"))).records, test_);
  const all = await readDatasetSplits(out);
  assert.deepEqual(Object.keys(all.splits), ["train", "test"]);
  assert.equal(recordStats(train).emptyProfiles, 1);
  // an existing folder is refused unless overwriting
  await assert.rejects(writeDataset(out, { train }, { name: "t2", task: "email", source: "s", licence: "l", splitRule: "r" }), /already exists/);
  await writeDataset(out, { val: train }, { name: "t2", task: "email", source: "s", licence: "l", splitRule: "r" }, { overwrite: true });
  assert.deepEqual(readdirSync(out).sort(), ["dataset.json", "val.jsonl"]);
});

test("writeDirAtomic: a failure while writing leaves no output folder and no temporary folder behind", async () => {
  const dir = tmp();
  const out = join(dir, "never");
  await assert.rejects(
    writeDirAtomic(out, async (t) => {
      writeFileSync(join(t, "train.jsonl"), "{}\n");
      throw new UserError("boom");
    }),
    /boom/,
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(dir), []);
});
