// `verify` and `generate --data` on a trained tiny FlyThinker folder, run in-process through the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, writeEmailRecords } from "./run-cli.ts";
import { train } from "../../src/index.ts";
import { writePair, writePairsFile } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "cli-fly-"));
test.after(() => rmSync(root, { recursive: true, force: true }));



test("verify and generate --data on a trained FlyThinker folder", async () => {
  const { generator, reasoner } = writePair(root);
  const pairs = join(root, "pairs.jsonl");
  writePairsFile(pairs, 16, 2);
  const out = join(root, "fly");
  await train({ method: "flythinker", generator, reasoner, data: pairs, out, config: { maxSteps: 4, lr: 1e-3, batchTokens: 256 } });
  const records = join(root, "records.jsonl");
  writeEmailRecords(records, 3);

  for (const extra of [[], ["--data", records]]) {
    const r = await runCli("verify", "--model", out, "--n", "2", "--max-target", "6", "--json", ...extra);
    const report = JSON.parse(r.out) as { ok: boolean; max_abs_diff: number; records: unknown[] };
    assert.equal(r.code, undefined, "verify exits 0");
    assert.equal(report.ok, true);
    assert.ok(report.max_abs_diff <= 1e-4, `max diff ${report.max_abs_diff}`);
    assert.equal(report.records.length, 2);
  }

  // Sampled generation: the same seed gives the same text in parallel and sequential mode (same logits).
  const par = join(root, "par.jsonl");
  const seq = join(root, "seq.jsonl");
  await runCli("generate", "--model", out, "--data", records, "--out", par, "--max-new-tokens", "8", "--seed", "3");
  await runCli("generate", "--model", out, "--data", records, "--out", seq, "--max-new-tokens", "8", "--seed", "3", "--mode", "sequential");
  const lines = readFileSync(par, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines.map((l) => l.id), ["rec0", "rec1", "rec2"]);
  for (const l of lines) {
    assert.equal(typeof l.prediction, "string");
    assert.equal(typeof l.reference, "string");
    assert.ok(["user0", "user1"].includes(l.user as string));
  }
  const strip = (f: string) => readFileSync(f, "utf8").trim().split("\n").map((l) => (JSON.parse(l) as { prediction: string }).prediction);
  assert.deepEqual(strip(par), strip(seq));

  // Baselines are for plain model folders.
  const rag = join(root, "rag.jsonl");
  await runCli("generate", "--model", generator, "--baseline", "rag", "--data", records, "--out", rag, "--max-new-tokens", "4");
  assert.equal(readFileSync(rag, "utf8").trim().split("\n").length, 3);
  await assert.rejects(
    runCli("generate", "--model", out, "--baseline", "rag", "--data", records, "--out", rag),
    /--baseline is for plain model folders/,
  );

  // CoS: lambda 0 writes RAG's predictions; a real lambda (negative too) is taken; bad values name the flag.
  const cos = join(root, "cos.jsonl");
  const printed = await runCli("generate", "--model", generator, "--baseline", "cos", "--cos-lambda", "0", "--data", records, "--out", cos, "--max-new-tokens", "4");
  assert.match(printed.out, /wrote 3 predictions \(model \+ cos, lambda 0\)/);
  assert.deepEqual(strip(cos), strip(rag));
  await runCli("generate", "--model", generator, "--baseline", "cos", "--cos-lambda", "-2.5", "--data", records, "--out", cos, "--max-new-tokens", "4");
  assert.equal(strip(cos).length, 3);
  await assert.rejects(
    runCli("generate", "--model", generator, "--baseline", "cos", "--cos-lambda", "strong", "--data", records, "--out", cos),
    /--cos-lambda must be a real number \(e.g. 1 or -0.5\), got "strong"/,
  );
  await assert.rejects(runCli("generate", "--model", generator, "--cos-lambda", "1", "--data", records, "--out", cos), /--cos-lambda needs --baseline cos/);
  await assert.rejects(
    runCli("generate", "--model", generator, "--baseline", "steer", "--data", records, "--out", cos),
    /unknown --baseline "steer"; expected non-pers, rag or cos/,
  );
});

test("train --method cot through the CLI: the folder says cot, generate writes parsed answers and raw outputs, eval counts parse failures", async () => {
  const { generator } = writePair(join(root, "cot-models"));
  const records = join(root, "cot-records.jsonl");
  writeEmailRecords(records, 6);
  const out = join(root, "cot");
  const t = await runCli("train", "--method", "cot", "--generator", generator, "--data", records, "--out", out, "--max-steps", "2", "--batch-tokens", "1024", "--lr", "1e-3", "--threads", "1");
  assert.match(t.out, /^cot: 2 steps/m);
  const manifest = JSON.parse(readFileSync(join(out, "flythinker.json"), "utf8")) as { method: string; training: { cot: unknown } };
  assert.equal(manifest.method, "cot");
  assert.deepEqual(manifest.training.cot, { rationales: null, selfTrainIters: 0, selfTrainK: 4 });
  const preds = join(root, "cot-preds.jsonl");
  const g = await runCli("generate", "--model", out, "--data", records, "--out", preds, "--max-new-tokens", "5", "--seed", "1");
  assert.match(g.out, /CoT: 6 of 6 new predictions had no answer separator/);
  const lines = readFileSync(preds, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { prediction: string; raw: string; parse_failed: boolean });
  assert.equal(lines.length, 6);
  for (const l of lines) {
    assert.equal(l.parse_failed, true);
    assert.equal(l.prediction, l.raw.trim());
  }
  // A prediction with the separator is scored on its answer.
  const edited = join(root, "cot-edited.jsonl");
  const fixed = lines.map((l, i) => (i < 2 ? { ...l, raw: `- s\n\nNow, considering the style summary, we can generate the final answer: ${l.prediction}`, parse_failed: false } : l));
  writeFileSync(edited, fixed.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const report = join(root, "cot-report");
  await runCli("eval", "--pred", `CoT=${edited}`, "--out", report, "--bootstrap", "10");
  assert.match(readFileSync(join(report, "report.md"), "utf8"), /- CoT: 4 of 6 outputs had no answer separator \(scored on the whole output\)/);
});
