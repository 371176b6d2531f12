// CoS on a tiny random model folder, through the same path `generate --baseline cos` takes: lambda = 0 is RAG
// token for token (and its per-step log-probs are log_softmax(z_c / T) within 1e-6), lambda = -1 is non-pers, an
// empty history makes lambda irrelevant, and records decoded together equal records decoded one at a time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { baselinePromptOptions, cosProcessors, cosRows, parseBaselineKind, parseCosLambda, type BaselineKind } from "../../src/baselines/index.ts";
import { generateForRecords, PAPER_SAMPLING, type RecordPrediction } from "../../src/flythinker/generate-records.ts";
import { PairDecoder } from "../../src/flythinker/decode.ts";
import { loadAnyModel } from "../../src/flythinker/model.ts";
import { recordPrompt } from "../../src/data/prompt-ids.ts";
import type { PersonalRecord } from "../../src/data/index.ts";
import { generateRows } from "../../src/model/generation/session.ts";
import type { StepModel } from "../../src/model/generation/step-model.ts";
import type { LogitsProcessor } from "../../src/model/generation/processors.ts";
import { UserError } from "../../src/util/errors.ts";
import { Rng } from "../../src/util/random.ts";
import { GEN_CONFIG, makeTokenizer, sentence, writeModel } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "cos-"));
test.after(() => rmSync(root, { recursive: true, force: true }));
const dir = join(root, "model");
writeModel(dir, GEN_CONFIG(300), makeTokenizer(300), 21);
const { model, tok } = loadAnyModel(dir);

function records(n: number, historyItems = 3): PersonalRecord[] {
  const rng = new Rng(8);
  return Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    task: "email",
    user: `u${i % 2}`,
    input: sentence(rng, 5),
    output: sentence(rng, 6),
    profile: Array.from({ length: historyItems }, () => ({ input: sentence(rng, 3), output: sentence(rng, 6), subject: sentence(rng, 2) })),
  }));
}

async function predict(recs: readonly PersonalRecord[], baseline: BaselineKind, cosLambda?: number, batch = 4, repetitionPenalty = 1): Promise<RecordPrediction[]> {
  const out: RecordPrediction[] = [];
  const opts = { ...PAPER_SAMPLING, maxNewTokens: 16, seed: 3, mode: "parallel" as const, prompt: {}, baseline, cosLambda, batch, repetitionPenalty };
  for await (const p of generateForRecords(model, tok, recs, opts)) out.push(p);
  return out;
}

const texts = (ps: RecordPrediction[]) => ps.map((p) => [p.prediction, p.new_tokens]);

test("cos with lambda 0 writes RAG's text token for token; lambda -1 writes non-pers's; other lambdas differ", async () => {
  const recs = records(6);
  const rag = await predict(recs, "rag");
  const nonPers = await predict(recs, "non-pers");
  assert.deepEqual(texts(await predict(recs, "cos", 0)), texts(rag));
  assert.deepEqual(texts(await predict(recs, "cos", -1)), texts(nonPers));
  assert.notDeepEqual(texts(rag), texts(nonPers), "the history changes what is written");
  const steered = await predict(recs, "cos", 2);
  assert.notDeepEqual(texts(steered), texts(rag));
  assert.ok(steered.every((p, i) => p.prompt_tokens === rag[i]!.prompt_tokens && p.history.length === rag[i]!.history.length), "the prompt reported is RAG's");
});

test("cos, lambda 0: each step's log-probs are log_softmax(z_c / T) of the context row within 1e-6", async () => {
  const recs = records(3);
  const ctx = recs.map((r) => recordPrompt(r, tok, baselinePromptOptions("rag", {})).promptIds);
  const plain = recs.map((r) => recordPrompt(r, tok, baselinePromptOptions("non-pers", {})).promptIds);
  const { prompts, tiedTo } = cosRows(ctx, plain);
  const decoder = await PairDecoder.create(model);
  // The raw logits of each step (a copy), and the leader rows right after steering.
  const raw: Float32Array[] = [];
  const seen: { steered: Float32Array; leaders: number[] }[] = [];
  const capture: StepModel = {
    vocabSize: decoder.vocabSize,
    prefillLogits: async (p) => {
      const l = await decoder.prefillLogits(p);
      raw.push(l.slice());
      return l;
    },
    stepLogits: async (t) => {
      const l = await decoder.stepLogits(t);
      raw.push(l.slice());
      return l;
    },
    keepRows: (r) => decoder.keepRows(r),
  };
  const spy: LogitsProcessor = {
    process: (b) => {
      const leaders = Array.from(b.leader!.subarray(0, b.rows)).filter((l, i) => l === i);
      seen.push({ steered: b.logits.slice(), leaders });
    },
  };
  const processors = cosProcessors(PAPER_SAMPLING, 0);
  processors.splice(2, 0, spy); // Temperature, ContextSteering, spy, TopP
  assert.deepEqual(processors.map((p) => p.constructor.name), ["Temperature", "ContextSteering", "Object", "TopP"]);
  try {
    const it = generateRows(capture, prompts, { ...PAPER_SAMPLING, maxNewTokens: 12, seed: 3, tiedTo, processors }, tok);
    while (!(await it.next()).done);
  } finally {
    await decoder.close();
  }
  assert.equal(raw.length, seen.length);
  assert.ok(raw.length >= 2);
  const V = model.pair.generator.vocabSize;
  let worst = 0;
  let checked = 0;
  for (const [s, z] of raw.entries()) {
    for (const r of seen[s]!.leaders) {
      const zr = Array.from(z.subarray(r * V, (r + 1) * V), (v) => v / PAPER_SAMPLING.temperature!);
      const m = Math.max(...zr);
      const lse = m + Math.log(zr.reduce((a, v) => a + Math.exp(v - m), 0));
      const lp = seen[s]!.steered.subarray(r * V, (r + 1) * V);
      for (let i = 0; i < V; i++) worst = Math.max(worst, Math.abs(lp[i]! - (zr[i]! - lse)));
      checked++;
    }
  }
  assert.ok(checked >= 3);
  assert.ok(worst <= 1e-6, `largest difference ${worst}`);
});

test("cos with a repetition penalty: each stream is penalised by its own prompt and the shared tokens", async () => {
  const recs = records(4);
  // lambda -1 samples from the follower's stream alone: equal to non-pers only if the follower's history is its own
  // prompt plus the tokens the leader drew.
  assert.deepEqual(texts(await predict(recs, "cos", -1, 4, 1.5)), texts(await predict(recs, "non-pers", undefined, 4, 1.5)));
  assert.deepEqual(texts(await predict(recs, "cos", 0, 4, 1.5)), texts(await predict(recs, "rag", undefined, 4, 1.5)));
  assert.notDeepEqual(texts(await predict(recs, "rag", undefined, 4, 1.5)), texts(await predict(recs, "rag")), "the penalty changes the text");
});

test("cos with an empty history: the output does not depend on lambda", async () => {
  const recs = records(4, 0);
  const at0 = texts(await predict(recs, "cos", 0));
  for (const lambda of [-1, 0.5, 3, -2.5]) assert.deepEqual(texts(await predict(recs, "cos", lambda)), at0, `lambda ${lambda}`);
  assert.deepEqual(at0, texts(await predict(recs, "non-pers")));
});

test("cos: records decoded together equal records decoded one at a time", async () => {
  const recs = records(5);
  const alone = await predict(recs, "cos", 2, 1);
  assert.deepEqual(texts(await predict(recs, "cos", 2, 3)), texts(alone));
  assert.deepEqual(texts(await predict(recs, "cos", 2, 8)), texts(alone));
  assert.ok(new Set(alone.map((p) => p.prediction)).size > 1);
});

test("bad input: --cos-lambda must be a real number; an unknown --baseline lists the valid ones", () => {
  assert.equal(parseCosLambda("1.5"), 1.5);
  assert.equal(parseCosLambda("-1"), -1);
  assert.equal(parseCosLambda(" 0 "), 0);
  for (const v of ["abc", "", "1,5", "Infinity", "NaN"]) {
    assert.throws(() => parseCosLambda(v), (e: unknown) => e instanceof UserError && e.message === `--cos-lambda must be a real number (e.g. 1 or -0.5), got "${v}"`);
  }
  assert.throws(() => parseBaselineKind("steer"), (e: unknown) => e instanceof UserError && e.message === 'unknown --baseline "steer"; expected non-pers, rag or cos');
});
