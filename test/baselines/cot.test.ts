// CoT's pieces without a model: the extractive rationale draws its words from the shown history only (never from
// the answer), the REST-PG target round-trips through the parser, a missing separator is a parse failure, and a
// --rationales file's bad lines and missing ids are named.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { retrievalTokens, type PersonalRecord, type ProfileItem } from "../../src/data/index.ts";
import { COT_PREFIX, COT_SEPARATOR, bullets, formatCot, parseAnswer, stepsOf } from "../../src/baselines/cot.ts";
import { rationaleSteps, wordingWords } from "../../src/baselines/rationale.ts";
import { extractiveRationales, fileRationales, readRationaleFile, rationaleCacheFile } from "../../src/baselines/rationales.ts";
import { IdfTable } from "../../src/baselines/summary.ts";
import { parseFailuresOf, parseFailureNotes } from "../../src/eval/report.ts";

const tmp = mkdtempSync(join(tmpdir(), "cot-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const shown: ProfileItem[] = [
  { input: "", output: "I loved the red garden! The roses bloom early in spring. My neighbours visit often." },
  { input: "", output: "Is the garden ready? I planted red roses and blue tulips near the old fence." },
];
const record: PersonalRecord = { id: "a", task: "email", user: "u", input: "write", output: "", profile: [{ input: "", output: "never shown: zebra quantum" }, ...shown] };
const idf = IdfTable.fromRecords([record]);

test("cot: the built rationale's steps, exactly", () => {
  const y = "I think the red roses in my garden look wonderful! Spring brings visitors.";
  assert.deepEqual(rationaleSteps(shown, y, idf), [
    "The user often uses words such as: red, garden, roses, spring.",
    'Recurring phrases: "the red", "red roses".',
    "Typically writes about 2.5 sentences of 6 words each.",
    "Style markers: writes in the first person, uses exclamations.",
    // the item most like y by BM25 (both share "garden", "red", "roses"; the tie goes to the later item)
    'Opens like: "Is the garden ready? I"',
  ]);
  assert.deepEqual(rationaleSteps([], y, idf), []);
  // tone words used by both are named among the markers
  assert.equal(rationaleSteps(shown, "I loved it!", idf).find((s) => s.startsWith("Style")), "Style markers: writes in the first person, uses exclamations, tone words loved.");
});

test("cot: every content word of a built rationale occurs in the shown history; words of y outside it never enter", () => {
  const historyWords = new Set(shown.flatMap((i) => retrievalTokens(String(i.output), { stopWords: false })));
  const allowed = new Set([...historyWords, ...wordingWords()]);
  const words = (steps: string[]) => steps.flatMap((s) => retrievalTokens(s, { stopWords: false })).filter((w) => /\p{L}/u.test(w));
  const ys = [
    "I think the red roses in my garden look wonderful! Spring brings visitors.",
    "zebra quantum I think the red roses in my garden look wonderful! Spring brings visitors. xylophone tulips?",
    "Completely unrelated prose about zebra quantum xylophones.",
  ];
  for (const y of ys) {
    const steps = rationaleSteps(shown, y, idf);
    for (const w of words(steps)) assert.ok(allowed.has(w), `"${w}" (y: ${y}) is not in the shown history`);
  }
  // Adding words the history lacks to y adds none to the rationale.
  const base = new Set(words(rationaleSteps(shown, ys[0]!, idf)));
  for (const w of words(rationaleSteps(shown, ys[0]! + " zebra quantum xylophone", idf))) assert.ok(base.has(w), w);
  // the unshown item's words are not drawn on either
  assert.ok(!words(rationaleSteps(shown, "zebra quantum", idf)).includes("zebra"));
});

test("cot: parse(format(r, y)) == y; a missing separator is the whole text and a parse failure", () => {
  for (const [r, y] of [["- a\n- b", "the answer."], ["", "x"], ["- s", " two  spaces"], [`- ${COT_SEPARATOR} inside`, "after: it"], ["", ""]] as const) {
    const t = formatCot(r, y);
    assert.ok(t.startsWith(COT_PREFIX + "\n"));
    assert.deepEqual(parseAnswer(t), { answer: y, parseFailed: false });
  }
  assert.equal(formatCot("- a", "y"), `${COT_PREFIX}\n- a\n\n${COT_SEPARATOR} y`);
  assert.deepEqual(parseAnswer("no separator here"), { answer: "no separator here", parseFailed: true });
  // the last separator counts
  assert.deepEqual(parseAnswer(`${COT_SEPARATOR} one ${COT_SEPARATOR} two`), { answer: "two", parseFailed: false });
  assert.equal(formatCot("", "y", { separator: false }), "y");
  assert.deepEqual(stepsOf(bullets(["a b", "c"])), ["a b", "c"]);
  assert.deepEqual(stepsOf("* a\n\n• b\nc"), ["a", "b", "c"]);
});

test("cot: the report counts parse failures of the files that record them", () => {
  const recs = [true, false, true, false, false].map((f, i) => ({ id: String(i), prediction: "p", reference: "r", line: i + 1, parseFailed: f }));
  assert.deepEqual(parseFailuresOf(recs), { failed: 2, of: 5 });
  assert.equal(parseFailuresOf([{ id: "x", prediction: "p", reference: "r", line: 1 }]), null);
  const notes = parseFailureNotes([{ name: "CoT", parseFailures: { failed: 2, of: 5 } }, { name: "SFT", parseFailures: null }] as never);
  assert.deepEqual(notes, ["CoT: 2 of 5 outputs had no answer separator (scored on the whole output)"]);
});

test("cot: --rationales files: strings and arrays; malformed lines and missing ids are named", () => {
  const good = join(tmp, "good.jsonl");
  writeFileSync(good, `${JSON.stringify({ id: "a", rationale: "- one\n- two" })}\n\n${JSON.stringify({ id: "b", rationale: ["x", " y "] })}\n`);
  assert.deepEqual([...readRationaleFile(good)], [["a", ["one", "two"]], ["b", ["x", "y"]]]);
  const bad = (name: string, text: string) => {
    const f = join(tmp, name);
    writeFileSync(f, text);
    return f;
  };
  assert.throws(() => readRationaleFile(bad("m.jsonl", `${JSON.stringify({ id: "a", rationale: "r" })}\n{oops\n`)), /m\.jsonl:2: malformed JSON/);
  assert.throws(() => readRationaleFile(bad("n.jsonl", `[1]\n`)), /n\.jsonl:1: expected an object with a string field "id"/);
  assert.throws(() => readRationaleFile(bad("i.jsonl", `${JSON.stringify({ rationale: "r" })}\n`)), /i\.jsonl:1: expected an object with a string field "id"/);
  assert.throws(() => readRationaleFile(bad("t.jsonl", `${JSON.stringify({ id: "q", rationale: 3 })}\n`)), /t\.jsonl:1: record "q": field "rationale" must be a string or an array of strings/);
  assert.throws(() => readRationaleFile(bad("d.jsonl", `${JSON.stringify({ id: "q", rationale: "r" })}\n${JSON.stringify({ id: "q", rationale: "s" })}\n`)), /d\.jsonl:2: record id "q" already has a rationale \(line 1\)/);
  assert.throws(() => readRationaleFile(join(tmp, "none.jsonl")), /--rationales .*none\.jsonl: no such file/);
  const recs = ["a", "b", "c", "d"].map((id) => ({ ...record, id }));
  assert.throws(() => fileRationales(good, recs), /good\.jsonl: no rationale for record "c" \(2 of 4 records have none\)/);
});

test("cot: built rationales are cached in the dataset folder and reused", () => {
  const dir = join(tmp, "data");
  const y = "red roses in my garden";
  const first = extractiveRationales(idf, dir);
  const steps = first.of(record, [1, 2], y);
  first.flush();
  const file = rationaleCacheFile(dir, idf);
  writeFileSync(file, readFileSync(file, "utf8").replace("such as:", "such as: CACHED"));
  const second = extractiveRationales(idf, dir);
  assert.notDeepEqual(second.of(record, [1, 2], y), steps);
  assert.ok(second.of(record, [1, 2], y)[0]!.includes("CACHED"));
  // other inputs (another shown set) are computed afresh
  assert.deepEqual(second.of(record, [2, 1], y).length, rationaleSteps([shown[1]!, shown[0]!], y, idf).length);
});
