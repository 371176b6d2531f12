// BERTScore through `flythinker eval`, `metrics` and `bertscore-baseline` on the tiny DistilBERT fixture: the report's
// column equals the scorer's mean F, n/a without an encoder, Impr. against --relative-to, bad flags.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../../src/cli/main.ts";
import { BertScorer } from "../../../src/eval/bertscore/scorer.ts";
import { parseBaseline } from "../../../src/eval/bertscore/rescale.ts";
import { averageRelativeImprovement } from "../../../src/eval/improvement.ts";
import { fixtureDir } from "../../model/encoder/fixtures.ts";

const MODEL = fixtureDir("distilbert");
const dir = mkdtempSync(join(tmpdir(), "bs-cli-"));
const refs = ["the food was very good", "she said it was great", "a chef cooked the food", "he was the cook", "it was a good year"];
const write = (name: string, preds: string[]) => {
  const file = join(dir, name);
  writeFileSync(file, preds.map((p, i) => JSON.stringify({ id: `r${i}`, user: "u", prediction: p, reference: refs[i] })).join("\n") + "\n");
  return file;
};
const base = write("base.jsonl", ["good", "she said", "food", "the cook", "a year"]);
const good = write("good.jsonl", ["the food was good", "she said it was good", "a chef cooked food", "he was a cook", "it was a great year"]);

async function run(args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  const err = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } finally {
    console.log = log;
    process.stderr.write = err;
  }
  return lines;
}

test("eval --bertscore-model: the BERTScore column is the mean F; Impr. over five metrics against --relative-to", async () => {
  const out = join(dir, "report");
  await run(["eval", "--pred", `Base=${base}`, "--pred", `Good=${good}`, "--out", out, "--bootstrap", "50",
    "--bertscore-model", MODEL, "--bertscore-layer", "2", "--relative-to", "Base"]);
  const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
  const scorer = BertScorer.fromDir(MODEL, { layer: 2 });
  const direct = await scorer.score(["the food was good", "she said it was good", "a chef cooked food", "he was a cook", "it was a great year"], refs);
  await scorer.release();
  const [b, g] = metrics.methods;
  const meanF = direct.F.reduce((x, y) => x + y, 0) / direct.F.length;
  assert.ok(Math.abs(g.bertscore.F - meanF) < 1e-12, `${g.bertscore.F} vs ${meanF}`);
  assert.deepEqual(g.perSample.map((s: { bertscore: number }) => s.bertscore), direct.F);
  assert.ok(g.bertscore.F > b.bertscore.F);
  assert.equal(metrics.settings.bertscore, "distilbert_L2_no-idf_version=flythinker.ts(slow-tokenizer encoding)");
  assert.deepEqual(metrics.settings.imprMetrics, ["rouge1", "rougeL", "bleu", "meteor", "bertscore"]);
  assert.equal(b.impr, 0);
  const values = (m: { metrics: Record<string, number>; bertscore: { F: number } }) => ({ ...m.metrics, bertscore: m.bertscore.F });
  const want = averageRelativeImprovement(values(g), values(b), metrics.settings.imprMetrics).value!;
  assert.ok(Math.abs(g.impr - want) < 1e-9);
  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.match(md, /\| Method \| n \| ROUGE-1 \| ROUGE-L \| BLEU \| METEOR \| BERTScore \| Impr\. vs Base \(5 metrics\) \|/);
  assert.match(md, new RegExp(`\\| Good \\| 5 \\| .* \\| \\*\\*${g.bertscore.F.toFixed(4)}\\*\\* \\| \\+${g.impr.toFixed(2)}% \\|`));
  assert.match(md, /BERTScore rel\. \| p/);
});

test("eval without an encoder: BERTScore n/a and a four-metric Impr.", async () => {
  const out = join(dir, "plain");
  await run(["eval", "--pred", `Non-pers=${base}`, "--pred", `Good=${good}`, "--out", out, "--bootstrap", "20"]);
  const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
  assert.equal(metrics.methods[1].bertscore, null);
  assert.equal(metrics.settings.relativeTo, "Non-pers");
  assert.deepEqual(metrics.settings.imprMetrics, ["rouge1", "rougeL", "bleu", "meteor"]);
  const md = readFileSync(join(out, "report.md"), "utf8");
  assert.match(md, /BERTScore: n\/a \(no encoder given/);
  assert.match(md, /\| Good \| 5 \| .* \| n\/a \| \+\d+\.\d\d% \|/);
});

test("metrics --bertscore-model, bertscore-baseline, and bad flags", async () => {
  const j = JSON.parse((await run(["metrics", "--pred", good, "--json", "--bertscore-model", MODEL, "--bertscore-layer", "1", "--idf"]))[0]!);
  const scorer = BertScorer.fromDir(MODEL, { layer: 1, idf: true });
  const direct = await scorer.score(["the food was good", "she said it was good", "a chef cooked food", "he was a cook", "it was a great year"], refs);
  await scorer.release();
  assert.ok(Math.abs(j.bertscore - direct.F.reduce((x, y) => x + y, 0) / 5) < 1e-12);
  assert.equal(j.bertscoreHash, "distilbert_L1_idf_version=flythinker.ts(slow-tokenizer encoding)");

  const texts = join(dir, "texts.txt");
  writeFileSync(texts, [...refs, "the cook was great", "", "good food and a good year", "x ".repeat(40)].join("\n") + "\n");
  const tsv = join(dir, "distilbert.tsv");
  await run(["bertscore-baseline", "--model", MODEL, "--texts", texts, "--out", tsv, "--seed", "3"]);
  const rows = parseBaseline(readFileSync(tsv, "utf8"), tsv);
  assert.deepEqual(rows.map((r) => r.layer), [0, 1, 2]);
  for (const r of rows) for (const v of [r.P, r.R, r.F]) assert.ok(v > 0 && v < 1, `baseline ${v}`);
  // Rescaling with it: the hash says so (the file carries the model's name), and a missing layer names the layers.
  const r = JSON.parse((await run(["metrics", "--pred", good, "--json", "--bertscore-model", MODEL, "--bertscore-layer", "2", "--rescale", tsv]))[0]!);
  assert.match(r.bertscoreHash, /-rescaled$/);
  await assert.rejects(run(["metrics", "--pred", good, "--bertscore-model", MODEL, "--bertscore-layer", "2", "--rescale", join(dir, "none.tsv")]), /cannot read/);
  writeFileSync(join(dir, "short.tsv"), "LAYER,P,R,F\n0,0.1,0.1,0.1\n");
  await assert.rejects(run(["metrics", "--pred", good, "--bertscore-model", MODEL, "--bertscore-layer", "2", "--rescale", join(dir, "short.tsv")]), /no baseline for layer 2 \(the file has layers 0\)/);
  await assert.rejects(run(["metrics", "--pred", good, "--idf"]), /--idf needs --bertscore-model DIR/);
  await assert.rejects(run(["eval", "--pred", `A=${good}`, "--out", join(dir, "z"), "--relative-to", "B"]), /--relative-to B: no --pred of that name \(methods: A\)/);
});
