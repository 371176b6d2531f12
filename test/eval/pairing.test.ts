// Evaluation pairs by id: a reordered file scores as the ordered one, disjoint or partial id sets and disagreeing
// references are errors naming the ids (warnings with counts under --allow-partial), empty predictions are counted,
// and an unwritable --out is a clear error at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { scoreAll } from "../../src/eval/score.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "eval", "pairs.jsonl");
const ROOT = join(import.meta.dirname, "..", "..");
interface Rec {
  id: string;
  user: string;
  prediction: string;
  reference: string;
}
const pairs = readFileSync(FIXTURE, "utf8").trim().split("\n").slice(0, 30).map((l) => JSON.parse(l) as Rec);
const dir = mkdtempSync(join(tmpdir(), "pairing-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, recs: readonly object[]) => {
  const f = join(dir, name);
  writeFileSync(f, recs.map((r) => JSON.stringify(r)).join("\n") + "\n");
  return f;
};

async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  let out = "";
  let err = "";
  const log = console.log;
  const w = process.stderr.write;
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
    process.stderr.write = w;
  }
  return { out, err };
}

const preds = pairs.map((p) => ({ id: p.id, prediction: p.prediction }));
const refs = pairs.map((p) => ({ id: p.id, reference: p.reference }));
const expected = scoreAll(pairs.map((p) => p.prediction), pairs.map((p) => p.reference));

test("metrics: a reordered prediction file is paired by id and scores as the ordered one", async () => {
  assert.ok(pairs.every((p) => p.id !== undefined) && new Set(pairs.map((p) => p.id)).size === pairs.length);
  const ordered = JSON.parse((await cli("metrics", "--pred", write("p.jsonl", preds), "--ref", write("r.jsonl", refs), "--json")).out) as { n: number; meteor: number; rouge1: number };
  const reversed = JSON.parse((await cli("metrics", "--pred", write("p-rev.jsonl", [...preds].reverse()), "--ref", join(dir, "r.jsonl"), "--json")).out) as typeof ordered;
  assert.equal(ordered.n, 30);
  assert.equal(ordered.meteor, expected.meteor);
  assert.equal(ordered.rouge1, expected.rouge1);
  assert.equal(reversed.meteor, expected.meteor);
  assert.equal(reversed.rouge1, expected.rouge1);
  // By position the reversed file would score something else: the pairing matters.
  const byLine = scoreAll([...preds].reverse().map((p) => p.prediction), pairs.map((p) => p.reference));
  assert.notEqual(byLine.meteor, expected.meteor);
});

test("metrics: missing, extra and duplicate ids are errors naming them; --allow-partial scores the common ids", async () => {
  const partial = write("p-part.jsonl", [...preds.slice(2), { id: "zz-extra", prediction: "hello" }]);
  await assert.rejects(cli("metrics", "--pred", partial, "--ref", join(dir, "r.jsonl")), (e: Error) => {
    assert.equal(
      e.message,
      `2 ids of ${join(dir, "r.jsonl")} have no prediction in ${partial}: ${JSON.stringify(pairs[0]!.id)}, ${JSON.stringify(pairs[1]!.id)}; ` +
        `1 ids of ${partial} have no reference in ${join(dir, "r.jsonl")}: "zz-extra" (pass --allow-partial to score the ids both have)`,
    );
    return true;
  });
  const r = await cli("metrics", "--pred", partial, "--ref", join(dir, "r.jsonl"), "--json", "--allow-partial");
  const got = JSON.parse(r.out) as { n: number; rouge1: number };
  assert.equal(got.n, 28);
  assert.equal(got.rouge1, scoreAll(pairs.slice(2).map((p) => p.prediction), pairs.slice(2).map((p) => p.reference)).rouge1);
  assert.match(r.err, /warning: 2 ids of .* have no prediction .*; scoring the 28 ids both have/);
  const dup = write("p-dup.jsonl", [...preds, preds[3]!]);
  await assert.rejects(cli("metrics", "--pred", dup, "--ref", join(dir, "r.jsonl")), new RegExp(`p-dup\\.jsonl:31: id ${JSON.stringify(pairs[3]!.id)} already used on line 4`));
  const disjoint = write("p-disj.jsonl", preds.map((p) => ({ ...p, id: `other-${p.id}` })));
  await assert.rejects(cli("metrics", "--pred", disjoint, "--ref", join(dir, "r.jsonl"), "--allow-partial"), /have no id in common/);
  // Empty predictions are counted.
  const empties = write("p-empty.jsonl", preds.map((p, i) => (i < 4 ? { ...p, prediction: " " } : p)));
  assert.match((await cli("metrics", "--pred", empties, "--ref", join(dir, "r.jsonl"), "--json")).err, /warning: 4 of 30 predictions are empty \(scored 0\)/);
});

test("eval: reordered runs pair by id; disjoint ids and disagreeing references are refused naming the ids", async () => {
  const full = pairs.map((p) => ({ id: p.id, user: p.user, prediction: p.prediction, reference: p.reference }));
  const a = write("a.jsonl", full);
  const b = write("b.jsonl", [...full].reverse().map((p, i) => (i < 3 ? { ...p, prediction: "" } : p)));
  const out = join(dir, "rep");
  const r = await cli("eval", "--pred", `A=${a}`, "--pred", `B=${b}`, "--out", out, "--bootstrap", "50");
  const m = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")) as { methods: { n: number; coverage: { empty: number; missing: string[] }; vsFirst?: { rouge1: { nPaired: number } } }[] };
  assert.equal(m.methods[1]!.vsFirst!.rouge1.nPaired, 30);
  assert.equal(m.methods[1]!.coverage.empty, 3);
  assert.match(r.err, /warning: B: 3 of 30 predictions are empty \(scored 0\)/);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /Coverage:\n\n- B: 3 of 30 predictions are empty \(scored 0\)/);

  const c = write("c.jsonl", full.slice(0, 25));
  const d = write("d.jsonl", full.map((p, i) => (i === 7 ? { ...p, reference: p.reference + " changed" } : p)));
  await assert.rejects(cli("eval", "--pred", `A=${a}`, "--pred", `C=${c}`, "--pred", `D=${d}`, "--out", join(dir, "rep2")), (e: Error) => {
    assert.match(e.message, /^the prediction files do not cover the same records:\n {2}C lacks 5 ids of A: /);
    assert.ok(e.message.includes(JSON.stringify(pairs[25]!.id)));
    assert.ok(e.message.includes(`D and A give different references for 1 ids: "${pairs[7]!.id}" (lines 8 and 8)`));
    return true;
  });
  const p = await cli("eval", "--pred", `A=${a}`, "--pred", `C=${c}`, "--pred", `D=${d}`, "--out", join(dir, "rep2"), "--allow-partial", "--bootstrap", "50");
  assert.match(p.err, /warning: C: lacks 5 ids of A/);
  assert.match(p.err, /warning: D: 1 ids with references that differ from A's \(left out of the paired comparison\)/);
  const m2 = JSON.parse(readFileSync(join(dir, "rep2", "metrics.json"), "utf8")) as typeof m;
  assert.deepEqual(m2.methods.map((x) => x.vsFirst?.rouge1.nPaired), [undefined, 25, 29]);

  // Disjoint id sets: refused naming the ids, and even --allow-partial has nothing to compare.
  const e = write("e.jsonl", full.map((p) => ({ ...p, id: `x-${p.id}` })));
  await assert.rejects(cli("eval", "--pred", `A=${a}`, "--pred", `E=${e}`, "--out", join(dir, "rep3")), /E lacks 30 ids of A: .*\n {2}E has 30 ids A lacks: "x-/);
  await assert.rejects(cli("eval", "--pred", `A=${a}`, "--pred", `E=${e}`, "--out", join(dir, "rep3"), "--allow-partial"), { message: "E and A have no id in common: nothing to compare (are they predictions for the same split?)" });
});

test("eval: the parts of a sharded run given as NAME=F1,F2 score as the whole file; an id in two parts is refused", async () => {
  const full = pairs.map((p) => ({ id: p.id, prediction: p.prediction, reference: p.reference }));
  const whole = write("whole.jsonl", full);
  const p1 = write("part1.jsonl", full.slice(0, 12));
  const p2 = write("part2.jsonl", full.slice(12));
  await cli("eval", "--pred", `W=${whole}`, "--out", join(dir, "w"), "--bootstrap", "20");
  await cli("eval", "--pred", `W=${p1},${p2}`, "--out", join(dir, "parts"), "--bootstrap", "20");
  assert.equal(readFileSync(join(dir, "parts", "metrics.json"), "utf8"), readFileSync(join(dir, "w", "metrics.json"), "utf8"));
  const p3 = write("part3.jsonl", full.slice(10));
  await assert.rejects(cli("eval", "--pred", `W=${p1},${p3}`, "--out", join(dir, "x")), new RegExp(`part3\\.jsonl:1: id ${JSON.stringify(pairs[10]!.id)} is also in .*part1\\.jsonl:11`));
});

test("eval --out in a folder that takes no files: a clear error at once, never a hang", () => {
  const a = join(dir, "a.jsonl");
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "flythinker.js"), "eval", "--pred", `A=${a}`, "--out", "/proc/x/report"], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.signal, null, "ended by itself");
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^flythinker: output \/proc\/x: cannot make \/proc\/x \(\w+\)$/);
});
