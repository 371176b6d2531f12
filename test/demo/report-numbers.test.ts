// The report-vs-metrics checker itself: silent on a rendered report, loud on a changed number or a missing row.
import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluateRuns, renderMarkdown, type RunInput } from "../../src/eval/report.ts";
import { Rng } from "../../src/util/random.ts";
import { reportNumberMismatches } from "./report-numbers.ts";

const WORDS = "the list mail patch server build kernel user reply thanks week code".split(" ");
const rng = new Rng(9);
const text = (n: number) => Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]!).join(" ");
const refs = Array.from({ length: 12 }, () => text(40 + rng.int(120)));
const run = (name: string): RunInput => ({ name, records: refs.map((reference, i) => ({ id: `r${i}`, prediction: text(60), reference, line: i + 1 })) });
const runs = [run("SFT"), run("FlyThinker"), run("Non-pers")];
const result = evaluateRuns(runs, { bootstrap: { resamples: 100, seed: 2 } });
const report = renderMarkdown(result, runs);

test("report numbers: every printed value of a rendered report matches its result", () => {
  const r = reportNumberMismatches(report, result);
  assert.deepEqual(r.problems, []);
  // 3 methods: n, 4 metrics and Impr.; 8 interval ends;, 4 metrics x 4 segments x (value, n); 2 x (paired n + 4 x 2)
  assert.equal(r.checked, 3 * (6 + 8 + 32) + 2 * 9);
});

test("report numbers: a changed value and a missing row are reported", () => {
  const fly = result.methods[1]!;
  const shown = fly.metrics.meteor.toFixed(4);
  const changed = report.replace(`| FlyThinker | 12 |`, `| FlyThinker | 13 |`);
  assert.match(reportNumberMismatches(changed, result).problems.join("\n"), /Scores FlyThinker n: report shows 13, metrics.json holds 12/);
  const other = (Number(shown) + 0.0002).toFixed(4);
  const tampered = report.replace(new RegExp(`(\\| FlyThinker \\| 12 \\|[^\\n]*)${shown}`), `$1${other}`);
  assert.notEqual(tampered, report);
  assert.match(reportNumberMismatches(tampered, result).problems.join("\n"), new RegExp(`Scores FlyThinker meteor: report shows ${other}`));
  const dropped = report.split("\n").filter((l) => !l.startsWith("| Non-pers |")).join("\n");
  assert.ok(reportNumberMismatches(dropped, result).problems.includes("Scores: no row for Non-pers"));
});
