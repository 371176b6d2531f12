// KV-cache decoding: cached steps equal a full forward at every position; batched (left-padded) decoding equals
// decoding each prompt alone; embeddings input, hidden-state outputs, row dropping; generation and streaming text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../src/graph/index.ts";
import { compile, type CompiledGraph } from "../../src/runtime/session.ts";
import { declareParams, embedTokens, forward } from "../../src/model/qwen2.ts";
import { Decoder } from "../../src/model/decode.ts";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { generate, generateBatch, TextAssembler } from "../../src/model/generate.ts";
import { argmax } from "../../src/model/sampling.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { trainBpe, tokenizerFiles } from "../../src/tokenizer/bpe.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { UserError } from "../../src/util/errors.ts";
import { loadParityFixture } from "./fixtures.ts";

type Weights = ReadonlyMap<string, Float32Array>;

/** The plain forward (no cache, no mask, no positions: the path checked against PyTorch), one sequence at a time. */
class FullForward {
  private constructor(private readonly run: CompiledGraph<"logits" | "hidden">, private readonly weights: Weights, private readonly config: ModelConfig) {}
  static async create(config: ModelConfig, weights: Weights): Promise<FullForward> {
    const g = new Graph();
    const params = declareParams(g, config);
    const ids = g.input("ids", "int64", [1, "seq"]);
    const out = forward(config, params, { embeds: embedTokens(params, ids) });
    return new FullForward(await compile(g, { logits: out.logits, hidden: out.hidden }), weights, config);
  }
  /** Logits [n * V] and hidden [n * D] of every position. */
  async of(ids: readonly number[]): Promise<{ logits: Float32Array; hidden: Float32Array }> {
    const r = await this.run.run({
      ...Object.fromEntries(this.weights),
      ids: { data: BigInt64Array.from(ids, (v) => BigInt(v)), dims: [1, ids.length] },
    });
    return { logits: r.logits.data as Float32Array, hidden: r.hidden.data as Float32Array };
  }
  last(a: Float32Array, width: number): Float32Array {
    return a.subarray(a.length - width);
  }
  get vocab(): number {
    return this.config.vocabSize;
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const untied = loadParityFixture("untied").checkpoint;
const tied = loadParityFixture("tied").checkpoint;

for (const [name, ck] of [["untied", untied], ["tied", tied]] as const) {
  test(`cached decoding (${name}): every step's logits equal a full forward of the sequence so far (1e-5)`, async () => {
    const full = await FullForward.create(ck.config, ck.weights);
    const V = ck.config.vocabSize;
    const dec = await Decoder.create(ck.config, ck.weights);
    const seqs = [[5, 17, 42, 96], [71, 3, 3, 58, 20, 91, 44], [9]];
    let out = await dec.prefill(seqs);
    assert.equal(dec.length, 7);
    assert.deepEqual([0, 1, 2].map((r) => dec.padding(r)), [3, 0, 6]);
    let worst = 0;
    let checks = 0;
    for (let step = 0; step < 8; step++) {
      for (let r = 0; r < seqs.length; r++) {
        const ref = full.last((await full.of(seqs[r]!)).logits, V);
        worst = Math.max(worst, maxAbsDiff(out.logits[r]!, ref));
        checks++;
      }
      // Greedy continuation; at step 4 the middle row is dropped (the cache is compacted, common padding cut).
      const next = out.logits.map((l) => argmax(l));
      next.forEach((t, r) => seqs[r]!.push(t));
      if (step === 4) {
        dec.keepRows([0, 2]);
        seqs.splice(1, 1);
        next.splice(1, 1);
        assert.equal(dec.rows, 2);
        assert.deepEqual([dec.padding(0), dec.padding(1)], [0, 3], "3 positions of padding no kept row needs are cut");
        assert.equal(dec.tokens(1), 5, "1 prompt token + 4 steps");
      }
      out = await dec.step(next);
    }
    assert.equal(checks, 3 * 5 + 2 * 3);
    assert.ok(worst <= 1e-5, `cached logits differ from the full forward by ${worst}`);
  });
}

test("cached decoding past the cache's first capacity (it grows in place) still equals the full forward", async () => {
  const { config, weights } = untied;
  const full = await FullForward.create(config, weights);
  const dec = await Decoder.create(config, weights);
  const seq = [9, 4];
  let out = await dec.prefill([seq]); // capacity for 2 * 2 + 64 positions
  let worst = 0;
  for (let step = 0; step < 90; step++) {
    if (step % 10 === 0 || step > 60) {
      worst = Math.max(worst, maxAbsDiff(out.logits[0]!, full.last((await full.of(seq)).logits, config.vocabSize)));
    }
    const next = argmax(out.logits[0]!);
    seq.push(next);
    out = await dec.step([next]);
  }
  assert.equal(dec.length, 92);
  assert.ok(worst <= 1e-5, `cached logits differ from the full forward by ${worst}`);
  await dec.release();
});

test("weights fed to every run equal weights compiled in as constants", async () => {
  const { config, weights } = untied;
  const a = await Decoder.create(config, weights, { weights: "constants" });
  const b = await Decoder.create(config, weights, { weights: "inputs" });
  let outA = await a.prefill([[5, 17, 42], [8]]);
  let outB = await b.prefill([[5, 17, 42], [8]]);
  for (let step = 0; step < 4; step++) {
    outA.logits.forEach((l, r) => assert.deepEqual(Array.from(outB.logits[r]!), Array.from(l), `step ${step} row ${r}`));
    const next = outA.logits.map((l) => argmax(l));
    outA = await a.step(next);
    outB = await b.step(next);
  }
  await Promise.all([a.release(), b.release()]);
});

test("append: several tokens per row at once equal the same tokens one by one", async () => {
  const { config, weights } = untied;
  const a = await Decoder.create(config, weights, { logits: "all", hidden: "all" });
  const b = await Decoder.create(config, weights, { logits: "all", hidden: "all" });
  await a.prefill([[1, 2], [3]]);
  await b.prefill([[1, 2], [3]]);
  const chunk = await a.append([[4, 5, 6], [7, 8, 9]]);
  const steps = [];
  for (const t of [[4, 7], [5, 8], [6, 9]]) steps.push(await b.step(t));
  const V = config.vocabSize;
  const D = config.hiddenSize;
  for (let r = 0; r < 2; r++) {
    assert.equal(chunk.logits[r]!.length, 3 * V);
    for (let j = 0; j < 3; j++) {
      assert.ok(maxAbsDiff(chunk.logits[r]!.subarray(j * V, (j + 1) * V), steps[j]!.logits[r]!) <= 1e-5);
      assert.ok(maxAbsDiff(chunk.hidden[r]!.subarray(j * D, (j + 1) * D), steps[j]!.hidden[r]!) <= 1e-5);
    }
  }
});

test("hidden states: 'last' and 'all' equal the full forward's final-norm hidden states", async () => {
  const { config, weights } = tied;
  const full = await FullForward.create(config, weights);
  const D = config.hiddenSize;
  const all = await Decoder.create(config, weights, { hidden: "all", logits: "none" });
  const last = await Decoder.create(config, weights, { hidden: "last" });
  const prompts = [[10, 20, 30], [40, 50, 60, 70, 80]];
  const pa = await all.prefill(prompts);
  const pl = await last.prefill(prompts);
  assert.equal(pa.logits.length, 0);
  for (let r = 0; r < 2; r++) {
    const ref = (await full.of(prompts[r]!)).hidden;
    assert.equal(pa.hidden[r]!.length, prompts[r]!.length * D, "padded positions are not returned");
    assert.ok(maxAbsDiff(pa.hidden[r]!, ref) <= 1e-5);
    assert.ok(maxAbsDiff(pl.hidden[r]!, full.last(ref, D)) <= 1e-5);
  }
  const sl = await last.step([1, 2]);
  const ref = (await full.of([...prompts[1]!, 2])).hidden;
  assert.ok(maxAbsDiff(sl.hidden[1]!, full.last(ref, D)) <= 1e-5);
});

test("embeddings input: feeding embedding rows equals feeding their ids", async () => {
  const { config, weights } = untied;
  const D = config.hiddenSize;
  const table = weights.get("model.embed_tokens.weight")!;
  const rowsOf = (ids: number[]) => {
    const e = new Float32Array(ids.length * D);
    ids.forEach((id, j) => e.set(table.subarray(id * D, (id + 1) * D), j * D));
    return e;
  };
  const byIds = await Decoder.create(config, weights);
  const byEmb = await Decoder.create(config, weights, { input: "embeds" });
  const prompts = [[3, 1, 4, 1, 5], [9, 2]];
  const a = await byIds.prefill(prompts);
  const b = await byEmb.prefill(prompts.map(rowsOf));
  for (let r = 0; r < 2; r++) assert.ok(maxAbsDiff(a.logits[r]!, b.logits[r]!) <= 1e-6);
  const a2 = await byIds.step([7, 8]);
  const b2 = await byEmb.step([rowsOf([7]), rowsOf([8])]);
  for (let r = 0; r < 2; r++) assert.ok(maxAbsDiff(a2.logits[r]!, b2.logits[r]!) <= 1e-6);
  await assert.rejects(byEmb.step([7, 8]), UserError);
});

test("embedHook: extra graph inputs change the embeddings in-graph (fed per call through `extra`)", async () => {
  const { config, weights } = untied;
  const D = config.hiddenSize;
  const table = weights.get("model.embed_tokens.weight")!;
  const hooked = await Decoder.create(config, weights, {
    embedHook: (embeds) => embeds.add(embeds.graph.input("shift", "float32", ["rows", "seq", D])),
  });
  const plain = await Decoder.create(config, weights);
  // Row 0 reads token 3 shifted by E[8] - E[3] (= token 8); row 1 (left-padded by 1) is not shifted.
  const shift = new Float32Array(2 * 2 * D);
  for (let k = 0; k < D; k++) shift[1 * D + k] = table[8 * D + k]! - table[3 * D + k]!;
  const a = await hooked.prefill([[5, 3], [7]], { shift: { data: shift, dims: [2, 2, D] } });
  const b = await plain.prefill([[5, 8], [7]]);
  for (let r = 0; r < 2; r++) assert.ok(maxAbsDiff(a.logits[r]!, b.logits[r]!) <= 1e-5);
  const zero = { shift: { data: new Float32Array(2 * D), dims: [2, 1, D] } };
  const a2 = await hooked.step([4, 6], zero);
  const b2 = await plain.step([4, 6]);
  for (let r = 0; r < 2; r++) assert.ok(maxAbsDiff(a2.logits[r]!, b2.logits[r]!) <= 1e-5);
});

test("decoder errors: ids outside the vocabulary, empty prompts, steps before a prefill, wrong row counts", async () => {
  const dec = await Decoder.create(untied.config, untied.weights);
  await assert.rejects(dec.step([1]), /call prefill first/);
  await assert.rejects(dec.prefill([[1, 97]]), /token id 97 is outside the vocabulary \(size 97\)/);
  await assert.rejects(dec.prefill([[1], []]), /prompt 1 is empty/);
  await dec.prefill([[1], [2]]);
  await assert.rejects(dec.step([1]), /got 1 rows, the batch has 2/);
  assert.throws(() => dec.keepRows([2]), /no row 2/);
});

test("batched generation equals generating each prompt alone (greedy and seeded sampling)", async () => {
  const model = new LoadedModel(untied.config, untied.weights);
  const prompts = [[5, 17, 42, 96], [71, 3], [9, 9, 9, 9, 9, 9]];
  for (const opts of [
    { greedy: true, maxNewTokens: 10 },
    { temperature: 0.9, topK: 20, topP: 0.9, repetitionPenalty: 1.3, maxNewTokens: 10, seed: 11 },
  ]) {
    const batched = await generateBatch(await model.decoder(), prompts, opts);
    const dec = await model.decoder();
    for (let r = 0; r < prompts.length; r++) {
      // Row r of a batch samples with seed + r.
      const alone = await generateBatch(dec, [prompts[r]!], { ...opts, seed: (opts.seed ?? 0) + r });
      assert.deepEqual(batched[r]!.ids, alone[0]!.ids, `row ${r}`);
      assert.equal(batched[r]!.ids.length, 10);
      assert.equal(batched[r]!.finishReason, "length");
    }
  }
});

test("generation: greedy ids are the argmax of the full forward; EOS ends a row early, others go on", async () => {
  const { config, weights } = untied;
  const full = await FullForward.create(config, weights);
  const model = new LoadedModel(config, weights);
  const prompt = [5, 17, 42];
  const res = await generateBatch(await model.decoder(), [prompt], { greedy: true, maxNewTokens: 6 });
  const seq = [...prompt];
  for (let i = 0; i < 6; i++) seq.push(argmax(full.last((await full.of(seq)).logits, full.vocab)));
  assert.deepEqual(res[0]!.ids, seq.slice(3));
  // Declare the 3rd generated token an end-of-sequence id: row 0 stops before it, row 1 (another prompt) does not.
  const eos = seq[5]!;
  const other = [71, 3, 3, 58];
  const both = await generateBatch(await model.decoder(), [prompt, other], { greedy: true, maxNewTokens: 6, eosIds: [eos] });
  assert.deepEqual(both[0]!.ids, seq.slice(3, 5));
  assert.equal(both[0]!.finishReason, "eos");
  const alone = await generateBatch(await model.decoder(), [other], { greedy: true, maxNewTokens: 6, eosIds: [eos] });
  assert.deepEqual(both[1], alone[0]);
  // Same seed, same output; sampling differs from greedy for these weights.
  const s1 = await generateBatch(await model.decoder(), [prompt], { temperature: 1.5, maxNewTokens: 8, seed: 3 });
  const s2 = await generateBatch(await model.decoder(), [prompt], { temperature: 1.5, maxNewTokens: 8, seed: 3 });
  const s3 = await generateBatch(await model.decoder(), [prompt], { temperature: 1.5, maxNewTokens: 8, seed: 4 });
  assert.deepEqual(s1[0]!.ids, s2[0]!.ids);
  assert.notDeepEqual(s1[0]!.ids, s3[0]!.ids);
  const none = await generateBatch(await model.decoder(), [prompt], { maxNewTokens: 0 });
  assert.deepEqual(none[0], { ids: [], text: "", finishReason: "length" });
});

// A tiny tokenizer (byte-level BPE) for the text side of generation.
const corpus = "Hello world. The cat sat on the mat. Hello again, world! Stop here. ".repeat(4);
const bpe = trainBpe(corpus, { vocabSize: 256 + 40 + 3 });
const files = tokenizerFiles(bpe);
const tokenizer = new TextTokenizer(JSON.parse(files["tokenizer.json"]!), JSON.parse(files["tokenizer_config.json"]!), "test tokenizer");

test("streamed text: pieces concatenate to the decoded ids; stop strings end the text before them", () => {
  const ids = tokenizer.encode("Hello world. Stop here.", { addSpecialTokens: false });
  const plain = new TextAssembler(tokenizer);
  const pieces = ids.map((id) => plain.push(id));
  pieces.push(plain.flush());
  assert.equal(pieces.join(""), "Hello world. Stop here.");
  assert.equal(plain.text, "Hello world. Stop here.");

  const stop = new TextAssembler(tokenizer, ["Stop"]);
  let out = "";
  let stoppedAt = -1;
  ids.forEach((id, i) => {
    out += stop.push(id);
    if (stop.stopped && stoppedAt < 0) stoppedAt = i;
  });
  assert.equal(out, "Hello world. ");
  assert.equal(stop.text, "Hello world. ");
  assert.equal(tokenizer.decode(ids.slice(0, stoppedAt + 1)).includes("Stop"), true);
  assert.equal(tokenizer.decode(ids.slice(0, stoppedAt)).includes("Stop"), false, "stops at the token completing it");

  // A possible start of a stop string is held back, then released when it turns out not to be one.
  const hold = new TextAssembler(tokenizer, ["world!"]);
  const w = tokenizer.encode("world.", { addSpecialTokens: false });
  const got = w.map((id) => hold.push(id));
  assert.equal(got.slice(0, -1).join(""), "", "'world' could begin 'world!'");
  assert.equal(got.join(""), "world.");
  assert.equal(hold.stopped, false);
});

test("streamed text: an incomplete UTF-8 character is held back until its last byte", () => {
  const ids = tokenizer.encode("é", { addSpecialTokens: false });
  assert.equal(ids.length, 2, "é is two byte tokens in this small vocabulary");
  const a = new TextAssembler(tokenizer);
  assert.equal(a.push(ids[0]!), "");
  assert.equal(a.push(ids[1]!), "é");
});

test("generate() streams {id, text} pieces whose ids and text match the batch result", async () => {
  const V = tokenizer.vocabSize;
  const config: ModelConfig = { ...untied.config, vocabSize: V, bosTokenId: null, eosTokenId: null };
  // Reuse the fixture's layers with a fresh embedding table and head of the tokenizer's size.
  const weights = new Map(untied.weights);
  const D = config.hiddenSize;
  for (const name of ["model.embed_tokens.weight", "lm_head.weight"]) {
    const t = new Float32Array(V * D);
    for (let i = 0; i < t.length; i++) t[i] = Math.sin(i * 0.37 + (name.length % 7)) * 0.5;
    weights.set(name, t);
  }
  const model = new LoadedModel(config, weights, undefined, tokenizer);
  const prompt = tokenizer.encode("The cat", { addSpecialTokens: false });
  const pieces = [];
  const it = generate(await model.decoder(), prompt, { greedy: true, maxNewTokens: 12 }, tokenizer);
  let r = await it.next();
  while (!r.done) {
    pieces.push(r.value);
    r = await it.next();
  }
  const result = r.value;
  const batch = await generateBatch(await model.decoder(), [prompt], { greedy: true, maxNewTokens: 12 }, tokenizer);
  assert.deepEqual(result, batch[0]);
  assert.deepEqual(pieces.map((p) => p.id), result.ids);
  assert.equal(pieces.map((p) => p.text).join(""), result.text);
  assert.equal(result.text, tokenizer.decode(result.ids, { skipSpecialTokens: true }));
  assert.equal(result.ids.length, 12);
  // The same through LoadedModel.generate (the model's tokenizer; no eos ids in this config).
  const viaModel = [];
  for await (const piece of model.generate(prompt, { greedy: true, maxNewTokens: 12 })) viaModel.push(piece);
  assert.deepEqual(viaModel, pieces);
});
