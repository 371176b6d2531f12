// Held-out likelihood equals the trainer's own validation loss on the same records (SFT and FlyThinker), so the
// per-record values are the training objective, not a separate approximation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { buildProgram } from "../../src/cli/main.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDataset, type PersonalRecord } from "../../src/data/index.ts";
import { readTrainedModel } from "../../src/flythinker/trained-folder.ts";
import { heldOutExamples, heldOutNll, heldOutNllOf } from "../../src/train/heldout.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { runTraining } from "../../src/train/run.ts";
import { DEFAULT_TRAIN_CONFIG } from "../../src/train/trainer.ts";
import { Rng } from "../../src/util/random.ts";
import { sentence, writePair } from "./fixtures.ts";

const tmp = mkdtempSync(join(tmpdir(), "heldout-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));
const models = writePair(join(tmp, "models"));

function records(n: number, seed: number): PersonalRecord[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${seed}-${i}`,
    task: "email",
    user: `u${i % 3}`,
    input: sentence(rng, 3 + rng.int(4)),
    output: sentence(rng, 3 + rng.int(8)),
    profile: [0, 1].map(() => ({ input: sentence(rng, 3), output: sentence(rng, 4), subject: sentence(rng, 2) })),
  }));
}

const data = join(tmp, "dataset");

for (const method of ["sft", "flythinker"] as const) {
  test(`${method}: the token-weighted mean of per-record NLLs is the trainer's final validation loss (1e-5)`, async () => {
    await writeDataset(data, { train: records(10, 1), val: records(5, 2), test: records(4, 3) }, { name: "t", task: "email", source: "test", licence: "none", splitRule: "test" }, { overwrite: true });
    const out = join(tmp, method);
    await runTraining({
      generator: models.generator,
      reasoner: method === "flythinker" ? models.reasoner : undefined,
      data,
      out,
      config: { ...DEFAULT_TRAIN_CONFIG, method, maxSteps: 3, lr: 1e-2, batchTokens: 1024, seed: 2 },
      fusion: { lambda: 0.5, fuse: "prefix", enhance: "output" },
      prompt: { historyK: 1, retrieval: "recent" },
      cadence: { checkpointEvery: 0, evalEvery: 0 },
      threads: 1,
      reporter: silentReporter,
    });
    const model = readTrainedModel(out);
    const finalVal = (model.manifest.training as { final_val_loss: number }).final_val_loss;
    const progress: number[] = [];
    const r = await heldOutNllOf(out, data, { split: "val", onProgress: (d) => progress.push(d) });
    assert.equal(r.ids.length, 5);
    assert.deepEqual(progress, [1, 2, 3, 4, 5]);
    const tokens = r.tokens.reduce((a, b) => a + b, 0);
    const mean = r.nll.reduce((a, v, i) => a + v * r.tokens[i]!, 0) / tokens;
    assert.ok(Math.abs(mean - finalVal) <= 1e-5, `held-out ${mean} vs validation loss ${finalVal}`);
    // Each record's value is its own mean: scoring it alone again gives the same number.
    const examples = await heldOutExamples(model, data, "val");
    const one = await heldOutNll(model, [examples[2]!]);
    assert.ok(Math.abs(one.nll[0]! - r.nll[2]!) < 1e-6);
    assert.ok(r.nll.every((v) => v > 0 && Number.isFinite(v)));
  });
}

test("eval --nll: the report's held-out table holds each folder's per-record NLLs and the difference to SFT", async () => {
  const preds = join(tmp, "preds.jsonl");
  writeFileSync(preds, records(4, 3).map((r) => JSON.stringify({ id: r.id, user: r.user, prediction: r.input, reference: r.output })).join("\n") + "\n");
  const out = join(tmp, "report");
  const log = console.log;
  const err = process.stderr.write.bind(process.stderr);
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(["node", "flythinker", "eval", "--pred", `SFT=${preds}`, "--out", out, "--bootstrap", "50",
      "--nll", `SFT=${join(tmp, "sft")}`, "--nll", `FlyThinker=${join(tmp, "flythinker")}`, "--nll-data", data]);
  } finally {
    console.log = log;
    process.stderr.write = err;
  }
  const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
  const [sft, fly] = metrics.heldOut.methods;
  const direct = await heldOutNllOf(join(tmp, "flythinker"), data, { split: "test" });
  assert.deepEqual(fly.perRecord.map((r: { nll: number }) => r.nll), direct.nll);
  const directSft = await heldOutNllOf(join(tmp, "sft"), data, { split: "test" });
  const diff = direct.nll.reduce((a, v, i) => a + v - directSft.nll[i]!, 0) / direct.nll.length;
  assert.ok(Math.abs(fly.vsBaseline.delta - diff) < 1e-12);
  assert.equal(sft.vsBaseline, undefined);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /## Held-out likelihood[\s\S]*\| FlyThinker \| 4 \| \d+ \| \d\.\d{4} \| [+-]\d\.\d{4} \|/);
  assert.ok(lines.some((l) => l.startsWith("held-out NLL FlyThinker (4): ")));
});
