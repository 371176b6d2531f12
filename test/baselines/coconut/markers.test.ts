// Coconut's marker tokens: ids after the vocabulary, new rows copied from one token, old rows unchanged, the folder
// loadable, and a tokenizer that already has such names refused with their ids.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { addLatentMarkers, latentTokensOf, withMarkerRows, LATENT_MARKERS } from "../../../src/baselines/coconut/markers.ts";
import { trainBpe, tokenizerFiles } from "../../../src/tokenizer/bpe.ts";
import { TextTokenizer } from "../../../src/tokenizer/tokenizer.ts";
import { loadCheckpoint, saveCheckpoint } from "../../../src/model/checkpoint.ts";
import { withTokenizer, initWeights } from "../../../src/model/init.ts";
import { tinyConfig } from "./helpers.ts";
import { UserError } from "../../../src/util/errors.ts";

const tmp = mkdtempSync(join(tmpdir(), "coconut-markers-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A model folder with a trained tokenizer ("<<" is a token of it) and a tied or untied tiny model. */
function folder(name: string, tied: boolean, text = "a<<b c<<d e<<f\n".repeat(20), padRows = 0): string {
  const dir = join(tmp, name);
  const bpe = trainBpe(text, { vocabSize: 300, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] });
  const files = tokenizerFiles(bpe);
  const tok = new TextTokenizer(JSON.parse(files["tokenizer.json"]!), JSON.parse(files["tokenizer_config.json"]!), "t");
  const base = withTokenizer(tinyConfig({ tieWordEmbeddings: tied }), tok);
  const config = { ...base, vocabSize: base.vocabSize + padRows };
  saveCheckpoint(dir, config, initWeights(config, { seed: 2, std: 0.2 }), { files });
  return dir;
}

for (const tied of [true, false]) {
  test(`coconut markers: new rows equal the copied row, existing rows unchanged, folder loadable (${tied ? "tied" : "untied"})`, () => {
    const src = folder(`src-${tied}`, tied);
    const before = loadCheckpoint(src);
    const tok = TextTokenizer.fromDir(src);
    const out = join(tmp, `out-${tied}`);
    const r = addLatentMarkers(src, out);
    const V = tok.vocabSize;
    assert.deepEqual(r.tokens, { bot: V, eot: V + 1, latent: V + 2 });
    assert.equal(r.copiedFrom, tok.tokenToId("<<"));
    assert.notEqual(r.copiedFrom, null);

    const after = loadCheckpoint(out);
    assert.equal(after.config.vocabSize, V + 3);
    assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).vocab_size, V + 3);
    const D = after.config.hiddenSize;
    const tables = tied ? ["model.embed_tokens.weight"] : ["model.embed_tokens.weight", "lm_head.weight"];
    for (const name of tables) {
      const old = before.weights.get(name)!;
      const now = after.weights.get(name)!;
      assert.equal(now.length, (V + 3) * D);
      assert.deepEqual(now.subarray(0, V * D), old, `${name}: existing rows changed`);
      const copied = old.subarray(r.copiedFrom * D, (r.copiedFrom + 1) * D);
      for (const id of [V, V + 1, V + 2]) assert.deepEqual(now.subarray(id * D, (id + 1) * D), copied, `${name} row ${id}`);
    }
    // Everything else unchanged.
    for (const [name, w] of before.weights) if (!tables.includes(name) && name !== "lm_head.weight") assert.deepEqual(after.weights.get(name), w, name);

    // The tokenizer knows the markers (one token each, in text too) and the folder states them HF's way.
    const newTok = TextTokenizer.fromDir(out);
    assert.deepEqual(latentTokensOf(newTok), r.tokens);
    assert.equal(newTok.vocabSize, V + 3);
    assert.deepEqual(newTok.encode(`x${LATENT_MARKERS.bot}${LATENT_MARKERS.latent}${LATENT_MARKERS.eot}`, { addSpecialTokens: false }).slice(-3), [V, V + 2, V + 1]);
    const cfg = JSON.parse(readFileSync(join(out, "tokenizer_config.json"), "utf8"));
    assert.equal(cfg.added_tokens_decoder[String(V + 2)].content, "<|latent|>");
    assert.equal(newTok.decode([V + 2]), "<|latent|>");
  });
}

test("coconut markers: a padded table keeps its size and the markers take spare rows; no '<<' falls back to id 0", () => {
  const src = folder("padded", true, "plain words only here\n".repeat(20), 5);
  const before = loadCheckpoint(src);
  const tok = TextTokenizer.fromDir(src);
  assert.equal(tok.tokenToId("<<"), null);
  const r = addLatentMarkers(src, join(tmp, "padded-out"));
  assert.equal(r.copiedFrom, 0);
  assert.equal(r.config.vocabSize, before.config.vocabSize);
  const w = loadCheckpoint(join(tmp, "padded-out")).weights.get("model.embed_tokens.weight")!;
  const D = before.config.hiddenSize;
  assert.deepEqual(w.subarray(tok.vocabSize * D, (tok.vocabSize + 1) * D), before.weights.get("model.embed_tokens.weight")!.subarray(0, D));
  // A chosen row, and the pure function grows a table exactly when needed.
  const grown = withMarkerRows({ ...before.config, vocabSize: 4, hiddenSize: 1 }, new Map([["model.embed_tokens.weight", Float32Array.of(1, 2, 3, 4)]]), { bot: 4, eot: 5, latent: 6 }, 2);
  assert.deepEqual([...grown.weights.get("model.embed_tokens.weight")!], [1, 2, 3, 4, 3, 3, 3]);
  assert.equal(grown.config.vocabSize, 7);
});

test("coconut markers: a tokenizer that already has a marker name is refused with its id", () => {
  const src = folder("dup", true);
  const tj = JSON.parse(readFileSync(join(src, "tokenizer.json"), "utf8"));
  const id = TextTokenizer.fromDir(src).vocabSize;
  tj.added_tokens.push({ id, content: "<|latent|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  writeFileSync(join(src, "tokenizer.json"), JSON.stringify(tj));
  assert.throws(() => addLatentMarkers(src, join(tmp, "dup-out")), (e: unknown) => e instanceof UserError && e.message.includes(`<|latent|> (id ${id})`));
  assert.throws(() => latentTokensOf(TextTokenizer.fromDir(folder("none", true))), /lacks the latent tokens <\|start-latent\|>, <\|end-latent\|>, <\|latent\|>/);
});
