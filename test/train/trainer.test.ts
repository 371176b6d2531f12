import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildLossGraph, weightInputs, type PairConfig } from "../../src/flythinker/graph.ts";
import { makeBatch, planEpoch } from "../../src/train/batching.ts";
import { listCheckpoints, loadTrainingCheckpoint } from "../../src/train/checkpoint.ts";
import { parseMetrics } from "../../src/train/metrics.ts";
import { createEngine } from "../../src/train/steps.ts";
import { Trainer, TrainingDiverged } from "../../src/train/trainer.ts";
import { Rng } from "../../src/util/random.ts";
import { config, fusion, pairWeights, patternExamples, randomExamples, tiny } from "./helpers.ts";

const tmp = mkdtempSync(join(tmpdir(), "trainer-test-"));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

const GEN = tiny();
const RSN = tiny({ hiddenSize: 8, numHeads: 1, numKvHeads: 1, intermediateSize: 16 });

test("trainer: SFT equals FlyThinker with lambda = 0, step for step (20 steps)", async () => {
  const train = randomExamples(40, 64, 5);
  const sftPair: PairConfig = { generator: GEN, fusion: fusion() };
  const flyPair: PairConfig = { generator: GEN, reasoner: RSN, fusion: fusion({ lambda: 0 }) };
  const sft = await Trainer.create({ pair: sftPair, weights: pairWeights(sftPair), train, config: config({ method: "sft", maxSteps: 20 }), threads: 1 });
  const fly = await Trainer.create({ pair: flyPair, weights: pairWeights(flyPair), train, config: config({ method: "flythinker", maxSteps: 20 }), threads: 1 });
  const a = await sft.run();
  const b = await fly.run();
  assert.equal(a.metrics.length, 20);
  assert.equal(b.metrics.length, 20);
  for (let i = 0; i < 20; i++) {
    assert.ok(Math.abs(a.metrics[i]!.loss - b.metrics[i]!.loss) <= 1e-6, `step ${i + 1}: ${a.metrics[i]!.loss} vs ${b.metrics[i]!.loss}`);
    assert.ok(Math.abs(a.metrics[i]!.grad_norm - b.metrics[i]!.grad_norm) <= 1e-6);
  }
  // The losses move: training happened (the first is ln(64)-ish, the last clearly lower).
  assert.ok(a.metrics[19]!.loss < a.metrics[0]!.loss - 0.3, `${a.metrics[0]!.loss} -> ${a.metrics[19]!.loss}`);
  // And the Generators end equal.
  const wa = sft.weights().get("generator.model.embed_tokens.weight")!;
  const wb = fly.weights().get("generator.model.embed_tokens.weight")!;
  let diff = 0;
  for (let i = 0; i < wa.length; i++) diff = Math.max(diff, Math.abs(wa[i]! - wb[i]!));
  assert.ok(diff <= 1e-6, `generator weights differ by ${diff}`);
});

test("trainer: gradient accumulation over 2 half batches equals 1 full batch", async () => {
  const pair: PairConfig = { generator: GEN, reasoner: RSN, fusion: fusion({ fuse: "projection" }) };
  const examples = [
    { promptIds: [3, 9, 27], targetIds: [17, 51, 25, 11] },
    { promptIds: [8, 1, 44, 2, 60], targetIds: [5] },
    { promptIds: [33, 12], targetIds: [7, 19] },
    { promptIds: [40, 41, 42, 43], targetIds: [50, 51, 52, 53, 54] },
  ];
  const opt = { eps: 1e-6 };
  const make = async (accum: number) => {
    const lg = buildLossGraph(pair);
    return createEngine(lg, weightInputs(lg), pairWeights(pair), { gradAccum: accum, optimizer: opt, compile: { threads: 1 } });
  };
  const full = await make(1);
  const accum = await make(2);
  const mask = { enhance: "global" as const };
  const fullBatch = makeBatch(examples, [0, 1, 2, 3], mask);
  const halves = [makeBatch(examples, [0, 1], mask), makeBatch(examples, [2, 3], mask)];
  assert.notEqual(halves[0]!.scored, halves[1]!.scored, "test wants micro-batches of different token counts");
  for (const lr of [1e-2, 5e-3, 2e-3]) {
    const a = await full.step([fullBatch], lr);
    const b = await accum.step(halves, lr);
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-5, `loss ${a.loss} vs ${b.loss}`);
    assert.ok(Math.abs(a.gradNorm - b.gradNorm) <= 1e-5 * Math.max(1, a.gradNorm), `grad norm ${a.gradNorm} vs ${b.gradNorm}`);
    assert.equal(a.scored, b.scored);
  }
  assert.equal(full.stepCount, 3);
  assert.equal(accum.stepCount, 3);
  assert.deepEqual([...accum.params.keys()], [...full.params.keys()]);
  let worst = 0;
  for (const [n, p] of full.params) {
    const q = accum.params.get(n)!;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
  }
  // Three AdamW steps move weights by up to ~3 x lr; agreement is to float rounding.
  assert.ok(worst <= 1e-5, `max parameter difference ${worst}`);
  const init = pairWeights(pair).get("generator.lm_head.weight")!;
  const moved = full.params.get("generator.lm_head.weight")!.reduce((m, v, i) => Math.max(m, Math.abs(v - init[i]!)), 0);
  assert.ok(moved > 1e-2, `weights moved by ${moved} only`);
});

test("trainer: AdamW applied group by group in slices (the large-model step) equals the fused step, with and without accumulation", async () => {
  const pair: PairConfig = { generator: GEN, reasoner: RSN, fusion: fusion({ fuse: "projection" }) };
  const examples = [
    { promptIds: [3, 9, 27], targetIds: [17, 51, 25, 11] },
    { promptIds: [8, 1, 44, 2, 60], targetIds: [5] },
    { promptIds: [33, 12], targetIds: [7, 19] },
  ];
  // A clip norm the first steps exceed, so the JS-side clipping factor takes part.
  const opt = { eps: 1e-6, clipNorm: 0.5 };
  const make = async (accum: number, groupedApply: boolean, applySlice?: number) => {
    const lg = buildLossGraph(pair);
    return createEngine(lg, weightInputs(lg), pairWeights(pair), { gradAccum: accum, groupedApply, applySlice, optimizer: opt, compile: { threads: 1 } });
  };
  const fused = await make(1, false);
  const grouped = await make(1, true);
  const groupedAccum = await make(2, true);
  // Slices of 37 values: most cross the boundary between two parameters of a packed group.
  const sliced = await make(1, true, 37);
  // The grouped update writes in place: views taken before the steps see the new values.
  const view = sliced.params.get("generator.lm_head.weight")!;
  const before = view.slice();
  const mask = { enhance: "global" as const };
  const all = makeBatch(examples, [0, 1, 2], mask);
  const parts = [makeBatch(examples, [0], mask), makeBatch(examples, [1, 2], mask)];
  for (const lr of [1e-2, 5e-3, 2e-3]) {
    const a = await fused.step([all], lr);
    const b = await grouped.step([all], lr);
    const c = await groupedAccum.step(parts, lr);
    const d = await sliced.step([all], lr);
    assert.ok(a.gradNorm > 0.5, `the step is clipped (norm ${a.gradNorm})`);
    for (const [label, r] of [["grouped", b], ["grouped + accumulation", c], ["grouped in slices", d]] as const) {
      assert.ok(Math.abs(a.loss - r.loss) <= 1e-5, `${label}: loss ${a.loss} vs ${r.loss}`);
      assert.ok(Math.abs(a.gradNorm - r.gradNorm) <= 1e-5 * a.gradNorm, `${label}: grad norm ${a.gradNorm} vs ${r.gradNorm}`);
    }
  }
  assert.equal(sliced.params.get("generator.lm_head.weight"), view);
  assert.ok(view.some((x, i) => x !== before[i]), "the view taken before the steps was updated in place");
  for (const engine of [grouped, groupedAccum, sliced]) {
    assert.equal(engine.stepCount, 3);
    let worst = 0;
    for (const [n, p] of fused.params) {
      const q = engine.params.get(n)!;
      for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!));
      const [m1, m2] = [fused.m.get(n)!, engine.m.get(n)!];
      for (let i = 0; i < m1.length; i++) worst = Math.max(worst, Math.abs(m1[i]! - m2[i]!));
    }
    assert.ok(worst <= 1e-5, `max parameter / moment difference ${worst}`);
  }
});

test("trainer: accumulation in the trainer takes grad-accum batches per step", async () => {
  const pair: PairConfig = { generator: GEN, fusion: fusion() };
  const train = randomExamples(30, 64, 2);
  const one = await Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: 1 }), threads: 1 });
  const two = await Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: 1, gradAccum: 2 }), threads: 1 });
  assert.equal(two.stepsPerEpoch, Math.ceil(one.stepsPerEpoch / 2));
  const r1 = await one.run();
  const r2 = await two.run();
  const tokens = (r: typeof r1) => r.metrics.reduce((s, m) => s + m.tokens, 0);
  const real = train.reduce((s, e) => s + e.promptIds.length + e.targetIds.length, 0);
  assert.equal(tokens(r1), real);
  assert.equal(tokens(r2), real);
});

test("trainer: a fractional --epochs trains that share of an epoch's steps (rounded up); zero or negative is refused", async () => {
  const pair: PairConfig = { generator: GEN, fusion: fusion() };
  const train = randomExamples(30, 64, 2);
  const whole = await Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: 1 }), threads: 1 });
  const part = await Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: 0.4 }), threads: 1 });
  assert.ok(whole.stepsPerEpoch >= 5, `steps per epoch ${whole.stepsPerEpoch}`);
  assert.equal(part.stepsPerEpoch, whole.stepsPerEpoch);
  assert.equal(part.totalSteps, Math.ceil(0.4 * whole.stepsPerEpoch));
  const r = await part.run();
  assert.equal(r.metrics.length, part.totalSteps);
  // the steps come from one shuffled epoch: no example is seen twice
  assert.ok(r.metrics.reduce((s, m) => s + m.tokens, 0) < train.reduce((s, e) => s + e.promptIds.length + e.targetIds.length, 0));
  const twoAndHalf = await Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: 2.5 }), threads: 1 });
  assert.equal(twoAndHalf.totalSteps, Math.ceil(2.5 * whole.stepsPerEpoch));
  for (const bad of [0, -1, Number.NaN]) {
    await assert.rejects(Trainer.create({ pair, weights: pairWeights(pair), train, config: config({ method: "sft", epochs: bad }), threads: 1 }), /--epochs must be a positive number/);
  }
  for (const t of [whole, part, twoAndHalf]) await t.close();
});

test("trainer: a NaN loss stops training with a clear message and keeps the last good checkpoint", async () => {
  const pair: PairConfig = { generator: GEN, fusion: fusion() };
  // Token 62 appears in one example only; its embedding row is NaN, so the step that reads it has a NaN loss.
  const train = randomExamples(24, 60, 4);
  train[17] = { id: "poison", promptIds: [1, 62, 3], targetIds: [4, 5] };
  const weights = pairWeights(pair);
  weights.get("generator.model.embed_tokens.weight")!.fill(NaN, 62 * GEN.hiddenSize, 63 * GEN.hiddenSize);
  // A seed whose first epoch reaches the poisoned example at the third step or later.
  const lengths = train.map((e) => e.promptIds.length + e.targetIds.length);
  let seed = 1;
  while (planEpoch(lengths, 64, new Rng(seed)).findIndex((b) => b.includes(17)) < 2) seed++;
  const poisonedStep = planEpoch(lengths, 64, new Rng(seed)).findIndex((b) => b.includes(17)) + 1;
  const dir = join(tmp, "nan");
  const t = await Trainer.create({
    pair,
    weights,
    train,
    config: config({ method: "sft", epochs: 1, seed }),
    cadence: { checkpointEvery: 1, evalEvery: 0 },
    dir,
    threads: 1,
  });
  let err: unknown;
  await t.run().catch((e) => (err = e));
  assert.ok(err instanceof TrainingDiverged, `expected TrainingDiverged, got ${err}`);
  const e = err as TrainingDiverged;
  assert.equal(e.step, poisonedStep);
  assert.match(e.message, new RegExp(`the loss became NaN .* at step ${e.step} \\(epoch 1, batch \\d+ of \\d+\\); the update was not applied`));
  assert.match(e.message, new RegExp(`last good checkpoint is .*step-${String(e.step - 1).padStart(8, "0")} \\(step ${e.step - 1}\\)`));
  assert.equal(t.stepsDone, e.step - 1);
  const cks = listCheckpoints(join(dir, "checkpoints"));
  assert.deepEqual(cks.map((c) => c.step), [e.step - 2, e.step - 1]);
  const last = loadTrainingCheckpoint(cks[cks.length - 1]!.dir);
  assert.equal(last.state.step, e.step - 1);
  assert.equal(e.lastCheckpoint, cks[cks.length - 1]!.dir);
  // The kept state is the trainer's last good state: finite except the poisoned row, equal to the current weights.
  const emb = last.params.get("generator.model.norm.weight")!;
  assert.ok(emb.every(Number.isFinite));
  assert.deepEqual(last.params.get("generator.lm_head.weight"), t.weights().get("generator.lm_head.weight"));
  const rows = parseMetrics(readFileSync(join(dir, "metrics.jsonl"), "utf8"));
  assert.equal(rows.length, e.step - 1);
  assert.ok(rows.every((r) => Number.isFinite(r.loss)));
});

test("trainer: metrics.jsonl has one line per step with validation where asked, and loss.svg is drawn", async () => {
  const pair: PairConfig = { generator: GEN, reasoner: RSN, fusion: fusion() };
  const dir = join(tmp, "metrics");
  const t = await Trainer.create({
    pair,
    weights: pairWeights(pair),
    train: patternExamples(32, 64, 1),
    val: patternExamples(8, 64, 2),
    config: config({ method: "flythinker", maxSteps: 12 }),
    cadence: { checkpointEvery: 5, evalEvery: 4 },
    dir,
    threads: 1,
  });
  const r = await t.run();
  const rows = parseMetrics(readFileSync(join(dir, "metrics.jsonl"), "utf8"));
  assert.deepEqual(rows, r.metrics);
  assert.deepEqual(rows.map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual(rows.filter((m) => m.val_loss !== undefined).map((m) => m.step), [4, 8, 12]);
  assert.equal(r.finalValLoss, rows[11]!.val_loss);
  assert.ok(Math.abs(r.finalValLoss! - (await t.validate())) < 1e-6);
  for (const m of rows) {
    assert.deepEqual(Object.keys(m).filter((k) => k !== "val_loss"), ["step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "step_ms", "rss_mb", "peak_rss_mb"]);
    assert.ok(Number.isFinite(m.loss) && m.grad_norm > 0 && m.tokens > 0 && m.tokens_per_s > 0 && m.step_ms! > 0);
    // tokens/s is the step's tokens over its wall time (step_ms is rounded to the microsecond)
    assert.ok(Math.abs(m.tokens / (m.step_ms! / 1000) - m.tokens_per_s) <= 1e-3 * m.tokens_per_s, `${m.tokens} / ${m.step_ms} ms vs ${m.tokens_per_s}`);
    // Resident memory in MiB: a Node process with ONNX Runtime loaded holds tens of MiB at least, and the peak is a peak.
    assert.ok(Number.isInteger(m.rss_mb) && m.rss_mb! > 20 && m.rss_mb! < 64 * 1024, `rss_mb ${m.rss_mb}`);
    assert.ok(Number.isInteger(m.peak_rss_mb) && m.peak_rss_mb! >= m.rss_mb!, `peak ${m.peak_rss_mb} < rss ${m.rss_mb}`);
  }
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]!.peak_rss_mb! >= rows[i - 1]!.peak_rss_mb!, "the peak never falls");
  assert.equal(rows[0]!.lr, 0); // warm-up: ceil(0.1 x 12) = 2 steps, the first at lr 0
  assert.equal(rows[1]!.lr, 5e-3);
  assert.equal(rows[2]!.lr, 1e-2);
  const svg = readFileSync(join(dir, "loss.svg"), "utf8");
  assert.match(svg, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  const points = (name: string) => {
    const m = new RegExp(`data-series="${name}"[^>]*>\\n<polyline [^>]*points="([^"]*)"`).exec(svg);
    assert.ok(m, `no polyline for ${name}`);
    return m[1]!.split(" ").length;
  };
  assert.equal(points("train loss"), 12);
  assert.equal(points("validation loss"), 3);
  // Checkpoints at 5, 10 and the end (12); two kept.
  assert.deepEqual(listCheckpoints(join(dir, "checkpoints")).map((c) => c.step), [10, 12]);
  assert.deepEqual(readdirSync(join(dir, "checkpoints")).sort(), ["step-00000010", "step-00000012"]);
});

test("trainer: stopping and resuming from a checkpoint continues exactly (in process)", async () => {
  const pair: PairConfig = { generator: GEN, reasoner: RSN, fusion: fusion({ enhance: "output" }) };
  const train = randomExamples(30, 64, 8);
  const val = randomExamples(6, 64, 9);
  const cfg = config({ method: "flythinker", epochs: 3, gradAccum: 2 });
  const base = { pair, weights: pairWeights(pair), train, val, config: cfg, threads: 1, cadence: { checkpointEvery: 3, evalEvery: 5 } };
  const whole = await (await Trainer.create({ ...base, dir: join(tmp, "whole") })).run();
  const dir = join(tmp, "parts");
  const first = await Trainer.create({ ...base, dir });
  await first.run({ stopAfter: 7 }); // checkpoint at 6; step 7 is lost
  assert.ok(existsSync(join(dir, "checkpoints", "step-00000006")));
  const second = await Trainer.create({ ...base, dir, resume: true });
  assert.equal(second.stepsDone, 6);
  const rest = await second.run();
  assert.equal(rest.resumedFrom, 6);
  assert.equal(rest.metrics.length, whole.metrics.length);
  assert.ok(whole.metrics.length > 8);
  for (let i = 0; i < whole.metrics.length; i++) {
    assert.equal(rest.metrics[i]!.loss, whole.metrics[i]!.loss, `step ${i + 1}`);
    assert.equal(rest.metrics[i]!.val_loss, whole.metrics[i]!.val_loss);
  }
  assert.equal(rest.finalValLoss, whole.finalValLoss);
  // Resuming with other settings is refused, naming them.
  await assert.rejects(
    Trainer.create({ ...base, dir, resume: true, config: { ...cfg, lr: 0.5 } }),
    /other settings:\n {2}config\.lr: 0\.01 in the checkpoint, 0\.5 now/,
  );
  await assert.rejects(Trainer.create({ ...base, dir, resume: true, train: train.slice(1) }), /training data differ/);
});
