// `demo --full` on a microscopic configuration with two small sweeps (lambda 0 / 0.5 and two seeds): the sweep stages
// after the main study, the report's ablation section with each sweep's table and plot links, lambda = 0 reproducing
// its SFT reference, and the closing section reading the seed sweep's ratios.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { microDemoOptions } from "./micro.ts";
import { runDemo } from "../../src/demo/pipeline.ts";
import { silentConsole } from "../../src/demo/progress.ts";
import { FULL_ABLATIONS } from "../../src/demo/ablations.ts";
import { demoOptionsFromFlags } from "../../src/cli/commands/demo.ts";
import type { SweepSummary } from "../../src/sweep/report.ts";

const tmp = mkdtempSync(join(tmpdir(), "demo-full-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

test("demo --full: the sweeps after the main study, their section in the report, lambda 0 = SFT, the seed ratios in the findings", async () => {
  const full = [
    { name: "ablation-lambda", title: "Thought strength lambda", grid: ["lambda=0,0.5"] },
    { name: "seeds", title: "Two training seeds", grid: ["seed=0,1"] },
  ];
  const out = join(tmp, "out");
  const r = await runDemo(microDemoOptions(out, { efficiency: null, full }), silentConsole);
  assert.deepEqual(r.stages.slice(-3).map((s) => s.name), ["eval", "ablation-lambda", "seeds"]);
  assert.ok(!r.stages.some((s) => s.name === "efficiency"), "--no-efficiency leaves the stage out");
  const lambda = JSON.parse(readFileSync(join(out, "ablation-lambda", "sweep", "sweep.json"), "utf8")) as SweepSummary;
  assert.deepEqual(lambda.points.map((p) => p.name), ["lambda=0", "lambda=0.5"]);
  assert.equal(lambda.lambdaZero.length, 1);
  assert.ok(lambda.lambdaZero[0]!.scoresEqual && lambda.lambdaZero[0]!.identical === lambda.lambdaZero[0]!.total, "lambda 0 reproduces SFT");
  const seeds = JSON.parse(readFileSync(join(out, "seeds", "sweep", "sweep.json"), "utf8")) as SweepSummary;
  assert.deepEqual(seeds.references.map((x) => x.name), ["sft,seed=0", "sft,seed=1"]);
  // the sweeps generate with the main study's length rule and batch, so their scores compare with the main table's
  const stage = JSON.parse(readFileSync(join(out, "seeds", "stage.json"), "utf8")) as { settings: { generation: Record<string, unknown> } };
  assert.equal(stage.settings.generation.minNewTokens, "reference");
  assert.equal(stage.settings.generation.maxNewTokens, microDemoOptions(out).maxNewTokens);
  assert.equal(stage.settings.generation.batch, 8);

  const report = readFileSync(join(out, "report.md"), "utf8");
  assert.match(report, /## Ablations and seeds \(`demo --full`\)/);
  assert.match(report, /### Thought strength lambda\n/);
  assert.match(report, /- lambda=0 vs sft: \d+ of \d+ generated texts identical; scores equal\./);
  assert.ok(report.includes("![sweep-lambda.svg](ablation-lambda/sweep/sweep-lambda.svg)"));
  assert.ok(existsSync(join(out, "ablation-lambda", "sweep", "sweep-lambda.svg")));
  assert.match(report, /#### Mean \+- sd over seeds/);
  assert.ok(!report.includes("## Efficiency"));
  const ratios = seeds.points.map((p) => `${p.normalized.rouge1.toFixed(3)} (seed ${p.values.seed})`).join(", ");
  assert.ok(report.includes(`over 2 training seeds (the seed sweep), FlyThinker's ROUGE-1 over SFT's of the same seed was ${ratios}`), report.slice(-1500));
  assert.match(report, /the main table is one seed \(2 in the seed sweep\)/);
});

test("demo --full flag: the paper's three ablations and three seeds; not with --pretrain", () => {
  assert.deepEqual(demoOptionsFromFlags({ full: true }).full, FULL_ABLATIONS);
  assert.deepEqual(FULL_ABLATIONS.map((a) => a.grid), [["lambda=0,0.25,0.5,1"], ["enhance=global,input,output", "fuse=prefix,projection"], ["history-k=1,2,4"], ["seed=0,1,2"]]);
  assert.equal(demoOptionsFromFlags({}).full, null);
  assert.throws(() => demoOptionsFromFlags({ full: true, pretrain: true }), /--full or --pretrain/);
});
