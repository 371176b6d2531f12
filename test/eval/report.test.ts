// The report folder (`flythinker eval`) and `flythinker metrics`, end to end through the CLI, plus bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { scoreAll } from "../../src/eval/score.ts";
import { UserError } from "../../src/util/errors.ts";
import { parseSvg, seriesGroups, type Node } from "./xml.ts";

const FIXTURE = join(import.meta.dirname, "..", "fixtures", "eval", "pairs.jsonl");
const ROOT = join(import.meta.dirname, "..", "..");

interface Rec {
  id: string;
  user: string;
  prediction: string;
  reference: string;
  history?: string[];
}

const pairs = readFileSync(FIXTURE, "utf8").trim().split("\n").slice(0, 40).map((l) => JSON.parse(l) as Rec);
const dir = mkdtempSync(join(tmpdir(), "flythinker-eval-"));
const fileA = join(dir, "sft.jsonl");
const fileB = join(dir, "fly.jsonl");
writeFileSync(fileA, pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
// A better "method": the first 70% of each reference's words, with a user history for the side-by-side samples.
const better = pairs.map((p, i) => ({
  ...p,
  prediction: p.reference.split(/\s+/).slice(0, Math.ceil(p.reference.split(/\s+/).length * 0.7)).join(" "),
  history: [pairs[(i + 1) % pairs.length]!.prediction, "Second <earlier> mail | with a pipe"],
}));
writeFileSync(fileB, better.map((p) => JSON.stringify(p)).join("\n") + "\n");

async function run(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
  }
  return lines;
}

test("eval: writes metrics.json, report.md and well-formed SVG plots with one series per method", async () => {
  const out = join(dir, "report");
  const printed = await run(["eval", "--pred", `SFT=${fileA}`, "--pred", `FlyThinker=${fileB}`, "--out", out, "--bootstrap", "200"]);
  assert.match(printed[0]!, /^SFT \(40\): ROUGE-1 /);
  assert.deepEqual(readdirSync(out).sort(), [
    "methods.svg", "metrics.json", "report.md", "segments-bleu.svg", "segments-meteor.svg", "segments-rouge1.svg", "segments-rougeL.svg",
  ]);
  const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
  const [sft, fly] = metrics.methods;
  const direct = scoreAll(pairs.map((p) => p.prediction), pairs.map((p) => p.reference));
  for (const m of ["rouge1", "rougeL", "bleu", "meteor"]) {
    assert.equal(sft.metrics[m], direct[m as "rouge1"], m);
    assert.ok(sft.ci[m].low <= sft.metrics[m] && sft.metrics[m] <= sft.ci[m].high, `CI of ${m}`);
    assert.ok(fly.metrics[m] > sft.metrics[m], `FlyThinker better on ${m}`);
    assert.ok(fly.vsFirst[m].pValue < 0.05, `p-value of ${m}`);
    assert.ok(Math.abs(fly.vsFirst[m].relative - (fly.metrics[m] - sft.metrics[m]) / sft.metrics[m]) < 1e-12);
  }
  assert.equal(sft.vsFirst, undefined);
  assert.deepEqual(sft.segments.map((s: { label: string }) => s.label), ["0-99", "100-199", "200-299", "300+"]);
  assert.equal(sft.segments[0].n, 40);
  assert.equal(sft.bleu.precisions.length, 4);
  assert.equal(sft.perSample.length, 40);
  assert.equal(metrics.settings.bootstrapResamples, 200);

  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.match(md, /\| FlyThinker \| 40 \| \*\*\d\.\d{4}\*\* \| \*\*\d\.\d{4}\*\* \| \*\*\d+\.\d\d\*\* \| \*\*\d\.\d{4}\*\* \|/);
  assert.match(md, /## Against SFT/);
  assert.match(md, /\| FlyThinker \| 40 \| \+\d+\.\d% \| (<0\.001|0\.\d{3}) \|/);
  assert.match(md, /## Position-sensitive scores/);
  assert.match(md, /\| Method \| 0-99 \| 100-199 \| 200-299 \| 300\+ \|/);
  assert.match(md, /User history:/);
  assert.match(md, /Second &lt;earlier&gt; mail \\\| with a pipe/);
  assert.match(md, /\| Reference \| SFT \| FlyThinker \|/);
  for (const f of ["methods.svg", "segments-rouge1.svg"]) assert.ok(md.includes(`](${f})`), f);

  const bars = parseSvg(readFileSync(join(out, "methods.svg"), "utf8"));
  const barSeries = seriesGroups(bars);
  assert.deepEqual([...barSeries.keys()], ["SFT", "FlyThinker"]);
  assert.equal((barSeries.get("SFT")!.rect as Node[]).length, 4);
  for (const m of ["rouge1", "rougeL", "bleu", "meteor"]) {
    const svg = parseSvg(readFileSync(join(out, `segments-${m}.svg`), "utf8"));
    const s = seriesGroups(svg);
    assert.deepEqual([...s.keys()], ["SFT", "FlyThinker"], m);
    const nonEmpty = sft.segments.filter((x: { n: number }) => x.n > 0).length;
    assert.equal(((s.get("SFT")!.polyline as Node)["@points"] as string).split(" ").length, nonEmpty, m);
  }
});

test("eval: an existing report folder is refused without --force and replaced with it; bad --pred specs", async () => {
  const out = join(dir, "again");
  await run(["eval", "--pred", `A=${fileA}`, "--out", out, "--bootstrap", "50", "--samples", "1"]);
  await assert.rejects(run(["eval", "--pred", `A=${fileA}`, "--out", out]), /already exists/);
  await run(["eval", "--pred", `B=${fileB}`, "--out", out, "--bootstrap", "50", "--force"]);
  assert.equal(JSON.parse(readFileSync(join(out, "metrics.json"), "utf8")).methods[0].name, "B");
  await assert.rejects(run(["eval", "--pred", fileA, "--out", join(dir, "x")]), /NAME=FILE/);
  await assert.rejects(run(["eval", "--pred", `A=${fileA}`, "--pred", `A=${fileB}`, "--out", join(dir, "y")]), /given twice/);
  assert.ok(!existsSync(join(dir, "y")));
});

test("metrics: plain text and JSONL inputs print {n, rouge1, rougeL, bleu, meteor} and a null BERTScore without an encoder", async () => {
  const predTxt = join(dir, "pred.txt");
  const refTxt = join(dir, "ref.txt");
  const some = pairs.slice(0, 12).map((p) => ({ p: p.prediction.replace(/\s+/g, " "), r: p.reference.replace(/\s+/g, " ") }));
  writeFileSync(predTxt, some.map((x) => x.p).join("\n") + "\n");
  writeFileSync(refTxt, some.map((x) => x.r).join("\r\n") + "\r\n");
  const out = JSON.parse((await run(["metrics", "--pred", predTxt, "--ref", refTxt, "--json"]))[0]!);
  const direct = scoreAll(some.map((x) => x.p), some.map((x) => x.r));
  assert.deepEqual(out, { n: 12, rouge1: direct.rouge1, rougeL: direct.rougeL, bleu: direct.bleu, meteor: direct.meteor, bertscore: null, bertscoreHash: null });
  // JSONL with both fields, --ref omitted; and separate JSONL files.
  const j = JSON.parse((await run(["metrics", "--pred", fileA, "--json"]))[0]!);
  const all = scoreAll(pairs.map((p) => p.prediction), pairs.map((p) => p.reference));
  assert.equal(j.n, 40);
  assert.equal(j.bleu, all.bleu);
  const j2 = JSON.parse((await run(["metrics", "--pred", fileA, "--ref", fileA, "--json"]))[0]!);
  assert.deepEqual(j2, j);
  const text = await run(["metrics", "--pred", predTxt, "--ref", refTxt]);
  assert.match(text.join("\n"), /BLEU\s+\d+\.\d\d\s+\(.*BP/);
});

test("bad input: different lengths, missing field, non-UTF-8, bad JSON: errors name the file and line", async () => {
  const a = join(dir, "a.txt");
  const b = join(dir, "b.txt");
  writeFileSync(a, "one\ntwo\nthree\n");
  writeFileSync(b, "one\ntwo\n");
  await assert.rejects(run(["metrics", "--pred", a, "--ref", b]), (e: Error) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.message, `${a} has 3 lines but ${b} has 2: ${a} line 3 has no counterpart in ${b}`);
    return true;
  });
  const j = join(dir, "missing.jsonl");
  writeFileSync(j, `{"prediction": "a", "reference": "b"}\n\n{"reference": "c"}\n`);
  await assert.rejects(run(["metrics", "--pred", j, "--json"]), { message: `${j}:3: missing field "prediction"` });
  await assert.rejects(run(["eval", "--pred", `X=${j}`, "--out", join(dir, "z")]), { message: `${j}:3: missing field "prediction"` });
  const bad = join(dir, "latin1.txt");
  writeFileSync(bad, Buffer.concat([Buffer.from("fine\ncaf"), Buffer.from([0xe9]), Buffer.from("\nok\n")]));
  await assert.rejects(run(["metrics", "--pred", bad, "--ref", a]), { message: `${bad}:2: not valid UTF-8 text` });
  const broken = join(dir, "broken.jsonl");
  writeFileSync(broken, `{"prediction": "a", "reference": "b"}\n{"prediction": "a",\n`);
  await assert.rejects(run(["metrics", "--pred", broken]), (e: Error) => e instanceof UserError && e.message.startsWith(`${broken}:2: not valid JSON`));
  const typed = join(dir, "typed.jsonl");
  writeFileSync(typed, `{"prediction": 3, "reference": "b"}\n`);
  await assert.rejects(run(["metrics", "--pred", typed]), { message: `${typed}:1: field "prediction" must be a string, got number` });
  await assert.rejects(run(["metrics", "--pred", a]), /--ref is required/);
  await assert.rejects(run(["metrics", "--pred", join(dir, "nope.txt"), "--ref", a]), /cannot read .*nope\.txt/);
});

test("bad input through the real command: message without a stack, exit code 2", () => {
  const a = join(dir, "a2.txt");
  writeFileSync(a, "x\ny\n");
  const b = join(dir, "b2.txt");
  writeFileSync(b, "x\n");
  const r = spawnSync(process.execPath, [join(ROOT, "bin", "flythinker.js"), "metrics", "--pred", a, "--ref", b], { encoding: "utf8" });
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim(), `flythinker: ${a} has 2 lines but ${b} has 1: ${a} line 2 has no counterpart in ${b}`);
});
