// The library API end to end on tiny models: train (FlyThinker and SFT) -> FlyThinker.load -> generate / predict ->
// evaluate; the streamed text equals what the decoder produces, and sequential equals parallel decoding.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { train, FlyThinker, evaluate, scoreAll, type PersonalRecord } from "../src/index.ts";
import { writePair, writePairsFile } from "./train/fixtures.ts";
import { Rng } from "../src/util/random.ts";
import { sentence } from "./train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "api-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

function records(n: number): PersonalRecord[] {
  const rng = new Rng(3);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    task: "email",
    user: `u${i % 2}`,
    input: sentence(rng, 4),
    output: sentence(rng, 6),
    profile: [{ input: sentence(rng, 3), output: sentence(rng, 5), subject: sentence(rng, 2) }],
  }));
}

test("library: train -> FlyThinker.load -> generate/predict -> evaluate", async () => {
  const { generator, reasoner } = writePair(root);
  const data = join(root, "pairs.jsonl");
  writePairsFile(data, 24, 5);
  const config = { maxSteps: 6, lr: 1e-3, batchTokens: 256, seed: 1 };
  const fly = await train({ method: "flythinker", generator, reasoner, data, out: join(root, "fly"), config });
  const sft = await train({ method: "sft", generator, data, out: join(root, "sft"), config });
  assert.equal(fly.manifest.method, "flythinker");
  assert.equal(sft.manifest.method, "sft");
  assert.equal(fly.result.steps, 6);

  const model = FlyThinker.load(join(root, "fly"));
  assert.equal(model.method, "flythinker");
  const greedy = { greedy: true, maxNewTokens: 12 };
  const collect = async (mode: "parallel" | "sequential") => {
    const pieces: { id: number; text: string }[] = [];
    for await (const p of model.generate("the cat sat", { ...greedy, mode })) pieces.push(p);
    return pieces;
  };
  const par = await collect("parallel");
  const seq = await collect("sequential");
  assert.deepEqual(par, seq, "parallel and sequential decoding choose the same tokens");
  const ids = par.filter((p) => p.id >= 0).map((p) => p.id);
  assert.ok(ids.length >= 1 && ids.length <= 12);
  assert.equal(par.map((p) => p.text).join(""), model.tokenizer.decode(ids, { skipSpecialTokens: true }));

  const preds = [];
  for await (const p of model.predict(records(3), { greedy: true, maxNewTokens: 8 })) preds.push(p);
  assert.deepEqual(preds.map((p) => p.id), ["r0", "r1", "r2"]);
  // Records decoded together (the default batch) and one at a time, with sampling: the same texts, record by record.
  const sampled = async (batch: number) => {
    const out = [];
    for await (const p of model.predict(records(5), { maxNewTokens: 10, seed: 4, batch })) out.push(p.prediction);
    return out;
  };
  const alone = await sampled(1);
  assert.deepEqual(await sampled(3), alone);
  assert.ok(new Set(alone).size > 1, "the seeded samples differ between records");
  const scores = await evaluate(preds.map((p) => p.prediction), preds.map((p) => p.reference));
  const direct = scoreAll(preds.map((p) => p.prediction), preds.map((p) => p.reference));
  assert.deepEqual(scores, direct);
  assert.ok(Number.isFinite(scores.rouge1));
});

test("library: CoS on a plain model folder through loadAnyModel + generateForRecords (lambda 0 = rag)", async () => {
  const { generateForRecords, loadAnyModel } = await import("../src/index.ts");
  const { generator } = writePair(join(root, "cos"));
  const { model, tok } = loadAnyModel(generator);
  const run = async (baseline: "rag" | "cos", cosLambda?: number) => {
    const out: string[] = [];
    for await (const p of generateForRecords(model, tok, records(4), { temperature: 0.8, topP: 0.95, maxNewTokens: 8, seed: 2, mode: "parallel", prompt: {}, baseline, cosLambda })) out.push(p.prediction);
    return out;
  };
  const rag = await run("rag");
  assert.deepEqual(await run("cos", 0), rag);
  assert.notDeepEqual(await run("cos", 3), rag);
});
