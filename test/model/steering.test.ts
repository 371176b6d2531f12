// Context steering on hand-made logits: the identities of its definition (lambda = 0 and -1, identical streams,
// linearity in lambda), normalisation and no NaN with -Infinity or huge negative scores, its place in the processor
// list; then tied rows in the session (a follower takes its leader's tokens and leaves with it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { samplingProcessors, TopP, type LogitsBatch, type LogitsProcessor } from "../../src/model/generation/processors.ts";
import { ContextSteering, checkLambda } from "../../src/model/generation/steering.ts";
import { generateRows, type BatchEvent, type GenerationResult } from "../../src/model/generation/session.ts";
import type { StepModel } from "../../src/model/generation/step-model.ts";
import { Rng } from "../../src/util/random.ts";
import { UserError } from "../../src/util/errors.ts";

const V = 50;
const T = 0.8;

function randomRow(rng: Rng, scale = 3): number[] {
  return Array.from({ length: V }, () => scale * (rng.float() * 2 - 1));
}

/** log_softmax(row / t) in float64: the independent reference. */
function logSoftmax(row: readonly number[], t: number): number[] {
  const x = row.map((v) => v / t);
  const finite = x.filter((v) => v > -Infinity);
  const m = Math.max(...finite);
  const lse = m + Math.log(finite.reduce((s, v) => s + Math.exp(v - m), 0));
  return x.map((v) => v - lse);
}

/** A batch of one leader (row 0, with context) and its follower (row 1, without), both at temperature T. */
function pair(withContext: readonly number[], without: readonly number[], t = T): LogitsBatch {
  return {
    logits: Float32Array.from([...withContext, ...without]),
    rows: 2,
    vocab: withContext.length,
    temperature: Float64Array.of(t, t),
    history: () => [],
    leader: Int32Array.of(0, 0),
  };
}

function steered(lambda: number, zc: readonly number[], z0: readonly number[]): number[] {
  const b = pair(zc, z0);
  new ContextSteering(lambda).process(b);
  assert.equal(b.temperature[0], 1, "the leader's scores are log-probabilities: temperature 1");
  assert.deepEqual(Array.from(b.logits.subarray(V)), Array.from(Float32Array.from(z0)), "the follower's row is left alone");
  return Array.from(b.logits.subarray(0, V));
}

const maxDiff = (a: readonly number[], b: readonly number[]) => Math.max(...a.map((v, i) => (v === b[i] ? 0 : Math.abs(v - b[i]!))));

test("lambda = 0 gives log_softmax(z_c / T) and lambda = -1 gives log_softmax(z_0 / T), within 1e-6", () => {
  const rng = new Rng(5);
  for (let k = 0; k < 20; k++) {
    const zc = randomRow(rng, 6);
    const z0 = randomRow(rng, 6);
    const refC = logSoftmax(Array.from(Float32Array.from(zc)), T);
    const ref0 = logSoftmax(Array.from(Float32Array.from(z0)), T);
    assert.ok(maxDiff(steered(0, zc, z0), refC) <= 1e-6);
    assert.ok(maxDiff(steered(-1, zc, z0), ref0) <= 1e-6);
  }
});

test("equal streams give the same scores for every lambda (F = 0 exactly)", () => {
  const z = randomRow(new Rng(2));
  const at0 = steered(0, z, z);
  for (const lambda of [-3, -1, -0.4, 0.5, 1, 2, 3, 17.25]) assert.deepEqual(steered(lambda, z, z), at0, `lambda ${lambda}`);
});

test("linearity: lp(lambda) - lp(0) - lambda * (lp_c - lp_0) is one constant over the vocabulary", () => {
  const rng = new Rng(9);
  const zc = randomRow(rng);
  const z0 = randomRow(rng);
  const f = logSoftmax(Array.from(Float32Array.from(zc)), T).map((c, i) => c - logSoftmax(Array.from(Float32Array.from(z0)), T)[i]!);
  const at0 = steered(0, zc, z0);
  for (const lambda of [-2.5, 0.5, 1, 3]) {
    const lp = steered(lambda, zc, z0);
    const c = lp.map((v, i) => v - at0[i]! - lambda * f[i]!);
    assert.ok(Math.max(...c) - Math.min(...c) <= 1e-5, `lambda ${lambda}: spread ${Math.max(...c) - Math.min(...c)}`);
    // The distribution moves towards the tokens the context makes likelier.
    const top = f.indexOf(Math.max(...f));
    assert.equal(lambda > 0, lp[top]! > at0[top]!);
  }
});

test("exp(lp) sums to 1 and no NaN with -Infinity and huge negative logits; a forbidden token stays forbidden", () => {
  const rng = new Rng(3);
  for (const lambda of [-3, -1, -0.5, 0, 0.5, 1, 2, 3, 40]) {
    const zc = randomRow(rng);
    const z0 = randomRow(rng);
    zc[0] = -Infinity; // forbidden with context only
    z0[1] = -Infinity; // forbidden without context only
    zc[2] = z0[2] = -Infinity; // forbidden in both
    zc[3] = -1e30; // huge negative with context
    z0[4] = -1e30; // huge negative without context: lambda > 0 pushes it up, a lot
    zc[5] = z0[5] = -3.4e38; // near the float32 limit in both
    z0[6] = -3.4e38;
    const lp = steered(lambda, zc, z0);
    assert.ok(lp.every((v) => !Number.isNaN(v)), `lambda ${lambda}: NaN in ${lp}`);
    const sum = lp.reduce((s, v) => s + Math.exp(v), 0);
    assert.ok(Math.abs(sum - 1) <= 1e-5, `lambda ${lambda}: exp sums to ${sum}`);
    assert.equal(lp[2], -Infinity);
    // Token 0 is at -inf in the context stream: allowed only when that stream has weight 0 (lambda = -1).
    assert.equal(lp[0] === -Infinity, lambda !== -1, `lambda ${lambda}: token 0`);
    assert.equal(lp[1] === -Infinity, lambda !== 0, `lambda ${lambda}: token 1`);
    // lambda > 0 lifts the tokens the context rescues: the one at -3.4e38 without context takes all the mass.
    if (lambda > 0) assert.ok(lp[6]! > -1e-6 && lp[4]! < -1e29, `lambda ${lambda}: ${lp[6]}, ${lp[4]}`);
  }
  // Every token forbidden in a stream that counts: nothing to sample, said as such.
  assert.throws(() => steered(1, Array(V).fill(-Infinity), randomRow(rng)), (e: unknown) => e instanceof UserError && /cannot sample/.test(e.message));
  assert.throws(() => new ContextSteering(NaN), /lambda must be a finite number/);
  assert.equal(checkLambda(-7.5), -7.5);
});

test("steering sits after the temperature and before top-k / top-p; top-p skips the follower's row", () => {
  const names = (list: LogitsProcessor[]) => list.map((p) => p.constructor.name);
  const cos = new ContextSteering(1);
  assert.deepEqual(names(samplingProcessors({ temperature: 0.8, topK: 5, topP: 0.9, repetitionPenalty: 1.1 }, cos)), ["RepetitionPenalty", "Temperature", "ContextSteering", "TopK", "TopP"]);
  assert.deepEqual(names(samplingProcessors({ greedy: true, topP: 0.9 }, cos)), ["ContextSteering"]);
  const z = [4, 1, 0, -1];
  const b: LogitsBatch = { logits: Float32Array.from([...z, ...z]), rows: 2, vocab: 4, temperature: Float64Array.of(1, 1), history: () => [], leader: Int32Array.of(0, 0) };
  new TopP(0.5).process(b);
  assert.deepEqual(Array.from(b.logits), [4, -Infinity, -Infinity, -Infinity, ...z]);
});

/** Scripted logits: at every step, row r (a prompt index) gives `script[r]` (a fixed [vocab] row). */
class FixedModel implements StepModel {
  readonly vocabSize = 4;
  live: number[] = [];
  fed: number[][] = [];
  kept: number[][] = [];
  constructor(private readonly script: number[][]) {}
  private logits(): Float32Array {
    return Float32Array.from(this.live.flatMap((r) => this.script[r]!));
  }
  async prefillLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    this.live = prompts.map((_, r) => r);
    return this.logits();
  }
  async stepLogits(tokens: readonly number[]): Promise<Float32Array> {
    this.fed.push([...tokens]);
    return this.logits();
  }
  keepRows(rows: readonly number[]): void {
    this.kept.push([...rows]);
    this.live = rows.map((i) => this.live[i]!);
  }
}

async function run(model: StepModel, prompts: number[][], opts: Parameters<typeof generateRows>[2]): Promise<{ results: GenerationResult[]; events: BatchEvent[] }> {
  const events: BatchEvent[] = [];
  const it = generateRows(model, prompts, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { results: r.value, events };
    events.push(r.value);
  }
}

test("tied rows: a follower takes its leader's tokens, streams nothing, and leaves the batch with it", async () => {
  // Rows 0 and 1 lead; row 2 follows row 0, row 3 follows row 1. Greedy steering with lambda 1 on row 0: context
  // prefers 1 (4 vs 3.5 for token 2), no-context prefers 1 more strongly, so the steered argmax is token 2.
  const model = new FixedModel([[0, 4, 3.5, 0], [0, 0, 0, 5], [0, 6, 3.5, 0], [5, 0, 0, 0]]);
  const { results, events } = await run(model, [[1], [2], [1], [2]], {
    greedy: true,
    maxNewTokens: 3,
    eosIds: [3],
    tiedTo: [0, 1, 0, 1],
    processors: [new ContextSteering(1)],
  });
  assert.deepEqual(results.map((r) => r.ids), [[2, 2, 2], [], [2, 2, 2], []]);
  assert.deepEqual(results.map((r) => r.finishReason), ["length", "eos", "length", "eos"]);
  assert.deepEqual(model.kept, [[0, 2]], "row 1 stops on eos and its follower leaves with it");
  assert.deepEqual(model.fed, [[2, 2], [2, 2]], "the follower is fed its leader's token");
  assert.deepEqual([...new Set(events.map((e) => e.row))].sort(), [0, 1], "only leaders stream");
  // The same rows untied: row 0 alone picks its own argmax (token 1).
  const alone = await run(new FixedModel([[0, 4, 3.5, 0]]), [[1]], { greedy: true, maxNewTokens: 3, processors: [new ContextSteering(1)] });
  assert.deepEqual(alone.results[0]!.ids, [1, 1, 1]);
});

test("tiedTo is checked: length, a leader before its follower, one follower per leader, no chains", async () => {
  const m = () => new FixedModel([[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]]);
  const bad: [number[], RegExp][] = [
    [[0, 0], /tiedTo has 2 entries for 3 prompts/],
    [[1, 1, 2], /tiedTo\[0\] must be a prompt index in \[0, 0\], got 1/],
    [[0, 0, 0], /prompt 0 leads more than one row/],
    [[0, 0, 1], /tiedTo\[2\] = 1 is itself a follower/],
  ];
  for (const [tiedTo, message] of bad) {
    await assert.rejects(run(m(), [[1], [1], [1]], { greedy: true, maxNewTokens: 1, tiedTo }), (e: unknown) => e instanceof UserError && message.test(e.message));
  }
});
