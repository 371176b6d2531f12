// The generation session's parts on hand-made logits: each logits processor, their order, the final choice, the
// stopping criteria and the one rule for stop ids; then the session itself over a scripted step model.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  RepetitionPenalty, Temperature, TopK, TopP, samplingProcessors, type LogitsBatch, type LogitsProcessor,
} from "../../src/model/generation/processors.ts";
import { argmax, drawToken } from "../../src/model/generation/pick.ts";
import { StoppingCriteria, readGenerationConfig, stopIds } from "../../src/model/generation/stopping.ts";
import { generateRows, type BatchEvent } from "../../src/model/generation/session.ts";
import type { StepModel } from "../../src/model/generation/step-model.ts";
import { draw, samplingDistribution } from "../../src/model/sampling.ts";
import { presetConfig } from "../../src/model/config.ts";
import { trainBpe, CHATML_TEMPLATE } from "../../src/tokenizer/bpe.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { Rng } from "../../src/util/random.ts";

const NEG = -Infinity;

/** A batch over hand-made rows (each row's history given). */
function batchOf(rows: number[][], histories: number[][] = rows.map(() => [])): LogitsBatch {
  const vocab = rows[0]!.length;
  return {
    logits: Float32Array.from(rows.flat()),
    rows: rows.length,
    vocab,
    temperature: new Float64Array(rows.length).fill(1),
    history: (r) => histories[r]!,
  };
}

const rowsOf = (b: LogitsBatch) => Array.from({ length: b.rows }, (_, r) => Array.from(b.logits.subarray(r * b.vocab, (r + 1) * b.vocab)));

test("repetition penalty: each row's seen ids, positive logits divided and negative multiplied, once per id", () => {
  const b = batchOf([[2, -1, 0.5, 3], [2, -1, 0.5, 3]], [[0, 1, 1, 9], [3]]);
  new RepetitionPenalty(2).process(b);
  assert.deepEqual(rowsOf(b), [[1, -2, 0.5, 3], [2, -1, 0.5, 1.5]]);
  new RepetitionPenalty(2).process(b); // a fresh processor sees the same rows again: penalised once more
  assert.deepEqual(rowsOf(b)[0], [0.5, -4, 0.5, 3]);
});

test("temperature is carried per row (it multiplies) and leaves the logits as they are", () => {
  const b = batchOf([[1, 2, 3], [0, 0, 1]]);
  new Temperature(2).process(b);
  new Temperature(1.5).process(b);
  assert.deepEqual([...b.temperature], [3, 3]);
  assert.deepEqual(rowsOf(b), [[1, 2, 3], [0, 0, 1]]);
  assert.throws(() => new Temperature(0), /temperature must be a number > 0/);
});

test("top-k: everything below the k-th largest logit of its row becomes -Infinity (ties at the boundary stay)", () => {
  const b = batchOf([[1, 3, 2, 2, 0], [5, 4, 3, 2, 1]]);
  new TopK(2).process(b);
  assert.deepEqual(rowsOf(b), [[NEG, 3, 2, 2, NEG], [5, 4, NEG, NEG, NEG]]);
  const all = batchOf([[1, 3, 2]]);
  new TopK(5).process(all);
  assert.deepEqual(rowsOf(all), [[1, 3, 2]], "k above the vocabulary keeps everything");
});

test("top-p: keeps each token while the probability ranked above it is below p, at the row's temperature", () => {
  const probs = [0.1, 0.5, 0.1, 0.3];
  const logits = probs.map(Math.log);
  const b = batchOf([logits, logits]);
  b.temperature[1] = 100; // nearly uniform: three quarters of the mass needs three tokens (the lowest ids among ties)
  new TopP(0.51).process(b);
  const kept = rowsOf(b).map((row) => row.flatMap((v, i) => (v > NEG ? [i] : [])));
  assert.deepEqual(kept, [[1, 3], [0, 1, 3]]);
  const one = batchOf([logits]);
  new TopP(0.01).process(one);
  assert.deepEqual(rowsOf(one)[0]!.map((v) => v > NEG), [false, true, false, false], "the most likely token always stays");
});

test("the processors of the sampling options come in HF order; greedy keeps only the repetition penalty", () => {
  const names = (list: LogitsProcessor[]) => list.map((p) => p.constructor.name);
  assert.deepEqual(names(samplingProcessors({ temperature: 0.7, topK: 5, topP: 0.9, repetitionPenalty: 1.2 })), ["RepetitionPenalty", "Temperature", "TopK", "TopP"]);
  assert.deepEqual(names(samplingProcessors({ greedy: true, topK: 5, topP: 0.9, repetitionPenalty: 1.2 })), ["RepetitionPenalty"]);
  assert.deepEqual(names(samplingProcessors({ temperature: 0, topP: 0.5 })), []);
  assert.deepEqual(names(samplingProcessors({})), []);
});

test("the draw after the processors equals a draw from samplingDistribution with the same generator", () => {
  const logits = [0.3, 2, -1, 1.5, 0.2, 1.9, -3, 0.8];
  const opts = { temperature: 0.7, topK: 6, topP: 0.85 };
  const a = new Rng(11);
  const b = new Rng(11);
  for (let i = 0; i < 40; i++) {
    const batch = batchOf([logits]);
    for (const p of samplingProcessors(opts)) p.process(batch);
    assert.equal(drawToken(batch.logits, batch.temperature[0]!, a), draw(samplingDistribution(Float32Array.from(logits), opts), b));
  }
  assert.equal(argmax(Float32Array.from([1, 4, NaN, 4])), 1);
});

test("stopping criteria: a stop id ends before the token, a stop string or the budget after it", () => {
  const c = new StoppingCriteria([7, 3], 4);
  assert.equal(c.isStopId(7), true);
  assert.equal(c.isStopId(4), false);
  assert.equal(c.afterToken(3, false), null);
  assert.equal(c.afterToken(4, false), "length");
  assert.equal(c.afterToken(2, true), "stop");
  assert.throws(() => new StoppingCriteria([], -1), /max new tokens must be an integer >= 0/);
  assert.throws(() => new StoppingCriteria([], 3, [""]), /stop strings must not be empty/);
});

test("stop ids: config.json, generation_config.json, the tokenizer's eos, and <|im_end|> only for chat prompts", () => {
  const bpe = trainBpe("the cat sat on the mat. ".repeat(10), { vocabSize: 270 });
  const tok = new TextTokenizer(bpe.toTokenizerJson(), { ...bpe.toTokenizerConfig({ chatTemplate: CHATML_TEMPLATE }), eos_token: "<|endoftext|>" }, "test");
  const dir = mkdtempSync(join(tmpdir(), "stop-ids-"));
  try {
    writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [5, 6], do_sample: false, top_p: 0.5 }));
    const generationConfig = readGenerationConfig(dir);
    assert.deepEqual(generationConfig, { sampling: { greedy: true, topP: 0.5 }, eosIds: [5, 6] });
    assert.deepEqual(readGenerationConfig(join(dir, "none")), { sampling: {}, eosIds: [] });
    const config = { ...presetConfig("tiny"), eosTokenId: [2, 5] };
    const plain = stopIds({ config, tokenizer: tok, generationConfig });
    assert.deepEqual(plain, [2, 5, 6, tok.endOfTextId!].sort((a, b) => a - b));
    assert.deepEqual(stopIds({ config, tokenizer: tok, generationConfig, chat: true }), [...plain, tok.imEndId!].sort((a, b) => a - b));
    assert.deepEqual(stopIds({}), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A step model that returns scripted logits: at step t, row `r` (a prompt index) prefers `script[r][t]`. */
class ScriptedModel implements StepModel {
  readonly vocabSize = 6;
  live: number[] = [];
  t = 0;
  kept: number[][] = [];
  fed: number[][] = [];

  constructor(private readonly script: number[][]) {}

  private logits(): Float32Array {
    const out = new Float32Array(this.live.length * this.vocabSize);
    this.live.forEach((r, i) => (out[i * this.vocabSize + this.script[r]![this.t]!] = 5));
    return out;
  }

  async prefillLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    this.live = prompts.map((_, r) => r);
    this.t = 0;
    return this.logits();
  }

  async stepLogits(tokens: readonly number[]): Promise<Float32Array> {
    this.fed.push([...tokens]);
    this.t++;
    return this.logits();
  }

  keepRows(rows: readonly number[]): void {
    this.kept.push([...rows]);
    this.live = rows.map((i) => this.live[i]!);
  }
}

test("session over a step model: a stop id ends a row (not in its ids), the budget ends the others; finished rows leave", async () => {
  const model = new ScriptedModel([[1, 2, 3, 4, 5], [2, 0, 4, 4, 4], [3, 3, 3, 3, 3]]);
  const events: BatchEvent[] = [];
  const it = generateRows(model, [[1], [2], [3]], { greedy: true, maxNewTokens: 3, eosIds: [0] });
  let results;
  for (;;) {
    const r = await it.next();
    if (r.done) {
      results = r.value;
      break;
    }
    events.push(r.value);
  }
  assert.deepEqual(results.map((r) => [r.ids, r.finishReason]), [[[1, 2, 3], "length"], [[2], "eos"], [[3, 3, 3], "length"]]);
  assert.deepEqual(model.kept, [[0, 2]], "row 1 leaves after its stop id");
  assert.deepEqual(model.fed, [[1, 2, 3], [2, 3]]);
  assert.deepEqual(events.filter((e) => e.finish).map((e) => [e.row, e.finish, e.piece.id]), [[1, "eos", null], [0, "length", 3], [2, "length", 3]]);
});

test("a processor that mixes two rows fits the same list (row 0 guided away from row 1)", async () => {
  // Guidance: row 0 := 2 * row0 - row1 on every step; row 1 is left alone.
  const guide: LogitsProcessor = {
    process(b) {
      if (b.rows < 2) return;
      for (let i = 0; i < b.vocab; i++) b.logits[i] = 2 * b.logits[i]! - b.logits[b.vocab + i]!;
    },
  };
  const model = new ScriptedModel([[1, 1], [1, 1]]);
  // Both rows prefer 1 (logit 5); after guidance row 0's logit of 1 is 5, still the largest, so add a bias first.
  const bias: LogitsProcessor = { process: (b) => void (b.logits[b.vocab + 1] = 20) };
  const [g, u] = await (async () => {
    const it = generateRows(model, [[1], [1]], { greedy: true, maxNewTokens: 2, processors: [bias, guide] });
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  })();
  // Row 0: 2 * [0,5,0,...] - [0,20,0,...] = [0,-10,0,...]: its argmax is id 0. Row 1 keeps preferring 1.
  assert.deepEqual(g!.ids, [0, 0]);
  assert.deepEqual(u!.ids, [1, 1]);
});

test("minNewTokens: a stop id cannot end a row before its minimum (per prompt), then it does; the budget still ends rows", async () => {
  const collect = async (it: AsyncGenerator<BatchEvent, { ids: number[]; finishReason: string }[]>) => {
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  };
  // Every row prefers the stop id 0 at every step; the next best (all other logits 0) is the lowest id, 1.
  const script = [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]];
  const per = await collect(generateRows(new ScriptedModel(script), [[1], [2], [3]], { greedy: true, maxNewTokens: 3, eosIds: [0], minNewTokens: [0, 2, 5] }));
  assert.deepEqual(per.map((r) => [r.ids, r.finishReason]), [[[], "eos"], [[1, 1], "eos"], [[1, 1, 1], "length"]]);
  const all = await collect(generateRows(new ScriptedModel(script), [[1], [2]], { greedy: true, maxNewTokens: 4, eosIds: [0], minNewTokens: 1 }));
  assert.deepEqual(all.map((r) => r.ids), [[1], [1]]);
  await assert.rejects(collect(generateRows(new ScriptedModel(script), [[1], [2]], { minNewTokens: [1] })), /minNewTokens has 1 entries for 2 prompts/);
  await assert.rejects(collect(generateRows(new ScriptedModel(script), [[1]], { minNewTokens: -1 })), /minNewTokens\[0\] must be an integer >= 0, got -1/);
});
