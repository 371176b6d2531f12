// Every way to generate goes through one session: `generate --prompt` on a plain model folder, an SFT output and a
// FlyThinker output (in the prompt format of their training), and the same stop behaviour (stop id, stop string,
// token budget) from LoadedModel.generate, FlyThinker.generate, FlyThinker.predict, `generate --prompt` and
// `generate --data`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildProgram } from "../../src/cli/main.ts";
import { output } from "../../src/cli/commands/model.ts";
import { train, FlyThinker, type PersonalRecord } from "../../src/index.ts";
import { loadCheckpoint, saveCheckpoint } from "../../src/model/checkpoint.ts";
import { LoadedModel } from "../../src/model/loaded-model.ts";
import { generateBatch } from "../../src/model/generate.ts";
import { messagePromptIds } from "../../src/flythinker/model-generation.ts";
import { UserError } from "../../src/util/errors.ts";
import { writePair, writePairsFile } from "../train/fixtures.ts";

const root = mkdtempSync(join(tmpdir(), "gen-entry-"));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the CLI in this process: what it printed to stdout (both ways commands print) and stderr. */
async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  let out = "";
  let err = "";
  const saved = { ...output };
  const log = console.log;
  const write = process.stderr.write;
  output.out = (t) => void (out += t);
  output.err = (t) => void (err += t);
  console.log = (...xs: unknown[]) => void (out += xs.join(" ") + "\n");
  process.stderr.write = ((t: string) => ((err += t), true)) as typeof process.stderr.write;
  try {
    await buildProgram().parseAsync(["node", "flythinker", ...args]);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    err += e.message;
  } finally {
    Object.assign(output, saved);
    console.log = log;
    process.stderr.write = write;
  }
  return { out, err };
}

/** Multiplies a model folder's weights (norms aside) so that its greedy text is not one repeated token. */
function sharpen(dir: string, tokenizerFrom: string): void {
  const ck = loadCheckpoint(dir);
  for (const [name, w] of ck.weights) if (!name.includes("norm")) for (let i = 0; i < w.length; i++) w[i]! *= 25;
  saveCheckpoint(dir, ck.config, ck.weights, { overwrite: true, tokenizerFrom });
}

const { generator, reasoner } = writePair(root);
const pairs = join(root, "pairs.jsonl");
writePairsFile(pairs, 12, 3);
const sftDir = join(root, "sft");
const flyDir = join(root, "fly");
/** Prompt options recorded by training: a query budget of 4 tokens, which `generate --prompt` must apply. */
const trainedPrompt = { budgets: { input: 4 } };
const message = "the cat sat on the mat and the dog ran home";
const config = { maxSteps: 2, lr: 1e-3, batchTokens: 256 };
const trained = (async () => {
  await train({ method: "sft", generator, data: pairs, out: sftDir, config, run: { prompt: trainedPrompt } });
  await train({ method: "flythinker", generator, reasoner, data: pairs, out: flyDir, config, run: { prompt: trainedPrompt } });
  sharpen(generator, generator);
  sharpen(join(sftDir, "generator"), generator);
  sharpen(join(flyDir, "generator"), generator);
})();

test("generate --prompt works for a plain folder, an SFT output and a FlyThinker output (sequential = parallel)", async () => {
  await trained;
  const greedy = ["--greedy", "--max-new-tokens", "10"];

  // Plain folder: the message through the chat template, stopping at the model's ids.
  const plain = LoadedModel.fromDir(generator);
  const tok = plain.tokenizer!;
  const chatIds = tok.encodeChat([{ role: "user", content: message }], { addGenerationPrompt: true });
  const [ref] = await generateBatch(await plain.decoder(), [chatIds], { greedy: true, maxNewTokens: 10, eosIds: plain.eosIds(true) }, tok);
  const p = await cli("generate", "--model", generator, "--prompt", message, ...greedy, "--stats");
  assert.equal(p.out, ref!.text + "\n", p.err);
  assert.ok(ref!.ids.length > 0);
  assert.match(p.err, new RegExp(`^\\[${chatIds.length} prompt tokens, ${ref!.ids.length} generated`));

  // SFT output: the Generator alone, on the prompt of a query in the trained format (the query cut to 4 tokens).
  const trainedIds = messagePromptIds(tok, message, trainedPrompt);
  assert.ok(trainedIds.length < chatIds.length, "the trained query budget shortens the prompt");
  assert.ok(tok.decode(trainedIds).includes("the cat sat on") && !tok.decode(trainedIds).includes("dog"));
  const sftGen = LoadedModel.fromDir(join(sftDir, "generator"));
  const [sftRef] = await generateBatch(await sftGen.decoder(), [trainedIds], { greedy: true, maxNewTokens: 10, eosIds: sftGen.eosIds(true) }, tok);
  const s = await cli("generate", "--model", sftDir, "--prompt", message, ...greedy, "--stats");
  assert.equal(s.out, sftRef!.text + "\n", s.err);
  assert.match(s.err, new RegExp(`^\\[${trainedIds.length} prompt tokens`));

  // FlyThinker output: sampled with one seed, both decoding modes give the library's text.
  const sampled = ["--temperature", "1.3", "--top-p", "0.95", "--seed", "7", "--max-new-tokens", "12"];
  const par = await cli("generate", "--model", flyDir, "--prompt", message, ...sampled, "--mode", "parallel");
  const seq = await cli("generate", "--model", flyDir, "--prompt", message, ...sampled, "--mode", "sequential");
  assert.equal(par.err, "");
  assert.equal(par.out, seq.out);
  const fly = FlyThinker.load(flyDir);
  let text = "";
  for await (const piece of fly.generate(message, { temperature: 1.3, topP: 0.95, seed: 7, maxNewTokens: 12, mode: "sequential" })) text += piece.text;
  assert.equal(par.out, text + "\n");
  assert.ok(text.length > 0);
});

test("every entry point stops alike: at a stop id (not printed), before a stop string, at the token budget", async () => {
  await trained;
  const record: PersonalRecord = { id: "q", task: "email", user: "u", input: message, output: "the reference", profile: [] };
  const records = join(root, "records.jsonl");
  writeFileSync(records, JSON.stringify(record) + "\n");
  const genDir = join(sftDir, "generator");
  const fly = FlyThinker.load(sftDir);
  const tok = fly.tokenizer;
  const prompt = messagePromptIds(tok, message, trainedPrompt);

  /** The text (trimmed, as predictions are) from each entry point, greedy, with these stops. */
  const fromEach = async (maxNewTokens: number, stop: string[]): Promise<Record<string, string>> => {
    const model = LoadedModel.fromDir(genDir);
    const it = model.generate(prompt, { greedy: true, maxNewTokens, stopStrings: stop, eosIds: model.eosIds(true) });
    let loaded = "";
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      loaded += r.value.text;
    }
    let streamed = "";
    for await (const piece of fly.generate(record, { greedy: true, maxNewTokens, stopStrings: stop, mode: "sequential" })) streamed += piece.text;
    const predicted = [];
    for await (const p of fly.predict([record], { greedy: true, maxNewTokens, stopStrings: stop })) predicted.push(p.prediction);
    const flags = ["--greedy", "--max-new-tokens", String(maxNewTokens), ...stop.flatMap((s) => ["--stop", s])];
    const cliPrompt = (await cli("generate", "--model", sftDir, "--prompt", message, ...flags)).out;
    const out = join(root, "preds.jsonl");
    await cli("generate", "--model", sftDir, "--data", records, "--out", out, ...flags);
    const cliData = (JSON.parse(readFileSync(out, "utf8").trim()) as { prediction: string }).prediction;
    return {
      "LoadedModel.generate": loaded.trim(),
      "FlyThinker.generate": streamed.trim(),
      "FlyThinker.predict": predicted[0]!,
      "generate --prompt": cliPrompt.slice(0, -1).trim(),
      "generate --data": cliData,
    };
  };
  const every = (text: string) => ({
    "LoadedModel.generate": text,
    "FlyThinker.generate": text,
    "FlyThinker.predict": text,
    "generate --prompt": text,
    "generate --data": text,
  });

  // The unstopped ids, and a token first seen at step k >= 2 to stop on.
  const base = LoadedModel.fromDir(genDir);
  const [full] = await generateBatch(await base.decoder(), [prompt], { greedy: true, maxNewTokens: 12, eosIds: base.eosIds(true) }, tok);
  const ids = full!.ids;
  const k = ids.findIndex((id, i) => i >= 2 && !ids.slice(0, i).includes(id));
  assert.ok(k >= 2, `greedy ids without a fresh token after step 2: ${ids.join(",")}`);
  const cut = (n: number) => tok.decode(ids.slice(0, n), { skipSpecialTokens: true }).trim();
  assert.ok(cut(k).length > 0 && cut(k) !== cut(12), `the stop id cuts the text: ${JSON.stringify(cut(12))} at ${k}`);

  // A stop id from the Generator's generation_config.json (read by every entry point).
  writeFileSync(join(genDir, "generation_config.json"), JSON.stringify({ eos_token_id: ids[k] }));
  assert.deepEqual(await fromEach(12, []), every(cut(k)));
  rmSync(join(genDir, "generation_config.json"));

  // A stop string: the text ends before it.
  const fullText = full!.text;
  const mid = Math.floor(fullText.length / 2);
  const stop = fullText.slice(mid, mid + 2);
  const before = fullText.slice(0, fullText.indexOf(stop)).trim();
  assert.ok(before.length > 0 && before.length < fullText.trim().length);
  assert.deepEqual(await fromEach(12, [stop]), every(before));

  // The token budget.
  assert.deepEqual(await fromEach(3, []), every(cut(3)));
});
