// LLM-TRSR's extractive summaries: salience and MMR on a hand-made history, the token budget, no target leakage,
// determinism, recurrent with one block = hierarchical's first level; the summary file's errors and the cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PersonalRecord, ProfileItem } from "../../src/data/record.ts";
import { retrievalTokens } from "../../src/data/bm25.ts";
import { ExtractiveSummariser, IdfTable, historyBlocks } from "../../src/baselines/summary.ts";
import { extractiveSummaries, fileSummaries, lazySummaries, readSummaryFile } from "../../src/baselines/summaries.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { Rng } from "../../src/util/random.ts";
import { makeTokenizer, sentence } from "../train/fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "summary-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const words = { encode: (s: string) => s.split(/\s+/).filter((w) => w !== "").map(() => 0) };
const bpe = makeTokenizer(300);
const tok = new TextTokenizer(bpe.json, bpe.config, "test");
const counter = { encode: (s: string) => tok.encode(s, { addSpecialTokens: false }) };

function record(id: string, outputs: string[], output = "the reference"): PersonalRecord {
  return { id, task: "email", user: "u", input: "write", output, profile: outputs.map((o, i) => ({ input: `q${i}`, output: o })) };
}

function randomHistory(rng: Rng, n: number): ProfileItem[] {
  return Array.from({ length: n }, (_, i) => ({
    input: `q${i}`,
    output: Array.from({ length: 1 + rng.int(4) }, () => sentence(rng, 3 + rng.int(8)) + ".").join(" "),
  }));
}

test("summary: salience and MMR on a hand-made history (scores computed here), written in chronological order", () => {
  const others = [record("o1", ["dogs bark."]), record("o2", ["dogs run fast."]), record("o3", ["birds sing."])];
  const idf = IdfTable.fromRecords(others);
  // idf(w) = log((1 + N) / (1 + df)) + 1 over the 3 documents: dogs (df 2) 1 + log(4/3), cats (unseen) 1 + log 4.
  assert.ok(Math.abs(idf.idf("dogs") - (1 + Math.log(4 / 3))) < 1e-12);
  assert.ok(Math.abs(idf.idf("bark") - (1 + Math.log(2))) < 1e-12);
  assert.ok(Math.abs(idf.idf("cats") - (1 + Math.log(4))) < 1e-12);
  const history = record("r", ["Dogs bark.", "Cats purr softly.", "Cats purr softly.", "Fish swim."]).profile;
  const tf: Record<string, number> = { dogs: 1, bark: 1, cats: 2, purr: 2, softly: 2, fish: 1, swim: 1 };
  const sal = (text: string) => {
    const ws = retrievalTokens(text);
    return ws.reduce((a, w) => a + tf[w]! * idf.idf(w), 0) / Math.sqrt(ws.length);
  };
  const top = sal("Cats purr softly.");
  const [dogs, fish] = [0.7 * (sal("Dogs bark.") / top), 0.7 * (sal("Fish swim.") / top)];
  // Round 1 takes "Cats purr softly." (0.7). Round 2: its copy scores 0.7 - 0.3 * cos 1 = 0.4, above fish and dogs.
  assert.ok(0.4 > fish && fish > dogs, `${fish} ${dogs}`);
  // Budget 5 words: the copy (6 words in all) is passed over, then fish fits (5), dogs does not.
  assert.equal(new ExtractiveSummariser({ mode: "recurrent", idf, counter: words, budget: 5 }).summarise(history), "Cats purr softly. Fish swim.");
  // Budget 8: the copy is taken (6), then fish (8); chronological order puts item 1, 2, 3.
  assert.equal(new ExtractiveSummariser({ mode: "recurrent", idf, counter: words, budget: 8 }).summarise(history), "Cats purr softly. Cats purr softly. Fish swim.");
  // Budget 10: everything.
  assert.equal(new ExtractiveSummariser({ mode: "recurrent", idf, counter: words, budget: 10 }).summarise(history), "Dogs bark. Cats purr softly. Cats purr softly. Fish swim.");
  // Budget 3: only the most salient sentence.
  assert.equal(new ExtractiveSummariser({ mode: "recurrent", idf, counter: words, budget: 3 }).summarise(history), "Cats purr softly.");
});

test("summary: within 150 tokens of the model's tokenizer, deterministic, blind to the record's output", () => {
  const rng = new Rng(5);
  const records = Array.from({ length: 6 }, (_, i) => ({ ...record(`r${i}`, []), profile: randomHistory(rng, 3 + 5 * i) }));
  const idf = IdfTable.fromRecords(records);
  for (const mode of ["recurrent", "hierarchical"] as const) {
    const s = new ExtractiveSummariser({ mode, idf, counter });
    for (const r of records) {
      const a = s.summarise(r.profile);
      assert.ok(counter.encode(a).length <= 150, `${mode} ${r.id}: ${counter.encode(a).length} tokens`);
      assert.ok(a.length > 0);
      assert.equal(new ExtractiveSummariser({ mode, idf, counter }).summarise(r.profile), a, "same input, same summary");
    }
    // The provider keys summaries by record; a record whose output changed has the same summary.
    const of = extractiveSummaries({ mode, idf, counter, tokenizer: tok.fingerprint }, records);
    const changed = { ...records[3]!, output: "something else entirely. It is long." };
    const of2 = extractiveSummaries({ mode, idf, counter, tokenizer: tok.fingerprint }, [changed]);
    assert.equal(of2(changed), of(records[3]!));
  }
  // Blocks of 5 counted from the oldest item; a long history keeps the most recent 5 blocks.
  assert.deepEqual(historyBlocks(randomHistory(rng, 28)).map((b) => [b[0], b.length]), [[5, 5], [10, 5], [15, 5], [20, 5], [25, 3]]);
});

test("summary: recurrent with one block equals hierarchical's first level (and its summary)", () => {
  const rng = new Rng(9);
  const profile = randomHistory(rng, 5);
  const idf = IdfTable.fromRecords([{ ...record("x", []), profile: randomHistory(rng, 12) }]);
  const rec = new ExtractiveSummariser({ mode: "recurrent", idf, counter }).levels(profile);
  const hie = new ExtractiveSummariser({ mode: "hierarchical", idf, counter }).levels(profile);
  assert.equal(rec.blocks.length, 1);
  assert.equal(rec.blocks[0], hie.blocks[0]);
  assert.equal(rec.summary, hie.summary);
  // With two blocks the modes differ in how they combine (both still in budget).
  const two = randomHistory(rng, 10);
  const r2 = new ExtractiveSummariser({ mode: "recurrent", idf, counter }).levels(two);
  const h2 = new ExtractiveSummariser({ mode: "hierarchical", idf, counter }).levels(two);
  assert.equal(r2.blocks[0], h2.blocks[0]);
  assert.equal(r2.blocks.length, 2);
  assert.equal(r2.summary, r2.blocks[1]);
});

test("summary file: malformed lines name the file and line; a missing id is named with the count", () => {
  const f = join(tmp, "s.jsonl");
  writeFileSync(f, '{"id":"a","summary":"likes cats"}\n\n{"id":"b" "summary":1}\n');
  assert.throws(() => readSummaryFile(f), new RegExp(`${f}:3: malformed JSON`));
  writeFileSync(f, '{"id":"a","summary":"likes cats"}\n{"id":"b","summary":2}\n');
  assert.throws(() => readSummaryFile(f), new RegExp(`${f}:2: expected an object with string fields "id" and "summary"`));
  writeFileSync(f, '{"id":"a","summary":"x"}\n{"id":"a","summary":"y"}\n');
  assert.throws(() => readSummaryFile(f), /s.jsonl:2: record id "a" already has a summary \(line 1\)/);
  writeFileSync(f, '{"id":"a","summary":"likes cats"}\n{"id":"c","summary":""}\n');
  assert.throws(() => fileSummaries(f, [record("a", []), record("b", []), record("c", []), record("d", [])]), new RegExp(`${f}: no summary for record "b" \\(2 of 4 records have none\\)`));
  const of = fileSummaries(f, [record("a", []), record("c", [])]);
  assert.equal(of(record("a", [])), "likes cats");
  assert.equal(of(record("c", [])), "");
  assert.throws(() => readSummaryFile(join(tmp, "none.jsonl")), /--summaries .*none.jsonl: no such file/);
  // Made as records come: the file is read once, a record without a summary is named.
  const lazy = lazySummaries({ mode: "recurrent", recent: 0, summaries: f }, { idf: () => assert.fail("no idf needed"), counter: words });
  assert.equal(lazy(record("a", [])), "likes cats");
  assert.throws(() => lazy(record("zz", [])), new RegExp(`${f}: no summary for record "zz"`));
});

test("summary cache: written in the dataset folder, read back, recomputed when a history changes", () => {
  const rng = new Rng(2);
  const dir = join(tmp, "data");
  const records = Array.from({ length: 4 }, (_, i) => ({ ...record(`r${i}`, []), profile: randomHistory(rng, 6) }));
  const idf = IdfTable.fromRecords(records);
  const setup = { mode: "hierarchical" as const, idf, counter, tokenizer: tok.fingerprint, cacheDir: dir };
  const of = extractiveSummaries(setup, records);
  const files = readdirSync(join(dir, "summaries"));
  assert.equal(files.length, 1);
  assert.match(files[0]!, /^extractive-hierarchical-[0-9a-f]{16}\.jsonl$/);
  const file = join(dir, "summaries", files[0]!);
  const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; summary: string });
  assert.deepEqual(lines.map((l) => l.id), ["r0", "r1", "r2", "r3"]);
  assert.equal(lines[1]!.summary, of(records[1]!));
  // The cache is what is read: an edited entry comes back as edited.
  writeFileSync(file, readFileSync(file, "utf8").replace(JSON.stringify(lines[1]!.summary), '"from the cache"'));
  assert.equal(extractiveSummaries(setup, records)(records[1]!), "from the cache");
  // A changed history is summarised again.
  const edited = { ...records[1]!, profile: randomHistory(rng, 3) };
  assert.notEqual(extractiveSummaries(setup, [edited])(edited), "from the cache");
  assert.ok(existsSync(file));
});
