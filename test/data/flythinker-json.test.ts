// The dataset JSON of FlyThinker's published code ({"profile", "inp", "target"} elements) as canonical records whose
// prompt is exactly their profile + inp.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PREBUILT_HISTORY_TASK, importFlyThinkerJson } from "../../src/data/flythinker-json.ts";
import { buildPrompt } from "../../src/data/prompt.ts";
import { validateRecord } from "../../src/data/record.ts";
import { UserError } from "../../src/util/errors.ts";
import { qwen } from "./qwen-tokenizer.ts";

const dir = mkdtempSync(join(tmpdir(), "fly-json-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const PROFILE = '"Tea at dawn" is a summary for "I wake before the birds and boil water.", and "Rain" is a summary for "It rained all week."';
const ELEMENTS = [
  { profile: PROFILE, inp: ". Following the given patterns, write a post about a morning walk.", target: "The path was wet. I walked anyway." },
  { profile: "", inp: "Write a post about bread.", target: "Flour, water, salt, time.", user: "baker-7" },
];

test("elements become records with one prebuilt history item; the message is profile + inp, as their scripts build it", async () => {
  const file = join(dir, "train_dataset.json");
  writeFileSync(file, JSON.stringify(ELEMENTS, null, 2));
  const r = await importFlyThinkerJson({ inputs: [file] });
  const recs = r.splits.train!;
  assert.equal(recs.length, 2);
  assert.deepEqual(r.files.map((f) => [f.split, f.format, f.records]), [["train", "json", 2]]);
  const [a, b] = recs as [(typeof recs)[number], (typeof recs)[number]];
  validateRecord(a);
  assert.equal(a.task, PREBUILT_HISTORY_TASK);
  assert.deepEqual([a.id, a.user, a.input, a.output], ["flythinker-json/train/0", "flythinker-json/train/0", ELEMENTS[0]!.inp, ELEMENTS[0]!.target]);
  assert.deepEqual(a.profile, [{ input: "", output: PROFILE }]);
  assert.equal(b.user, "baker-7");
  assert.deepEqual(b.profile, []);
  const { counter, chat } = qwen();
  const pa = buildPrompt(a, { counter, chat });
  assert.equal(pa.message, PROFILE + ELEMENTS[0]!.inp);
  assert.ok(pa.prompt.includes(`<|im_start|>user\n${PROFILE + ELEMENTS[0]!.inp}<|im_end|>`));
  assert.equal(buildPrompt(b, { counter }).message, ELEMENTS[1]!.inp);
  // A history over its budget is cut at a sentence boundary, as their scripts cut it at ".".
  const long = { ...a, profile: [{ input: "", output: Array.from({ length: 400 }, (_, i) => `Sentence number ${i} is here.`).join(" ") }] };
  const pl = buildPrompt(long, { counter, budgets: { profile: 100 } });
  assert.ok(pl.tokens.history <= 100 && pl.tokens.history > 80, String(pl.tokens.history));
  assert.match(pl.parts.history, /is here\.$/);
});

test("a bad element is skipped with its place and field, or stops the import with --strict", async () => {
  const file = join(dir, "val_dataset.json");
  writeFileSync(file, JSON.stringify([ELEMENTS[0], { profile: "x", inp: "q" }, { profile: 3, inp: "q", target: "t" }]));
  const issues: string[] = [];
  const r = await importFlyThinkerJson({ inputs: [file], onIssue: (i) => issues.push(`${i.where}: ${i.message}`) });
  assert.equal(r.splits.val!.length, 1);
  assert.deepEqual(issues, [
    `${file}:element 2: field "target" must be a string, got nothing`,
    `${file}:element 3: field "profile" must be a string, got 3`,
  ]);
  await assert.rejects(importFlyThinkerJson({ inputs: [file], strict: true }), (e: unknown) => e instanceof UserError && /element 2: field "target"/.test(e.message));
});
