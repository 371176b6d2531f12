// Model folders (tiny random Qwen2 models with a small trained BPE tokenizer) and data files for CLI-level tests.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { saveCheckpoint } from "../../src/model/checkpoint.ts";
import type { ModelConfig } from "../../src/model/config.ts";
import { initWeights } from "../../src/model/init.ts";
import { trainBpe } from "../../src/tokenizer/bpe.ts";
import { Rng } from "../../src/util/random.ts";
import type { RunOptions } from "../../src/train/run.ts";
import { silentReporter } from "../../src/train/progress.ts";
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from "../../src/train/trainer.ts";
import { tiny } from "./helpers.ts";

const WORDS = ["the", "cat", "dog", "sat", "ran", "on", "a", "mat", "fast", "slow", "red", "blue", "big", "small", "home", "park"];

export function sentence(rng: Rng, n: number): string {
  return Array.from({ length: n }, () => WORDS[rng.int(WORDS.length)]!).join(" ");
}

/** A corpus and the BPE tokenizer trained on it (vocabulary of `vocab` ids, special tokens last). */
export function makeTokenizer(vocab = 300, seed = 1, extra = ""): { json: Record<string, unknown>; config: Record<string, unknown> } {
  const rng = new Rng(seed);
  const texts = Array.from({ length: 200 }, () => sentence(rng, 8) + ". ") ;
  texts.push(extra);
  const bpe = trainBpe(texts, { vocabSize: vocab, minFrequency: 1 });
  return { json: bpe.toTokenizerJson(), config: bpe.toTokenizerConfig() };
}

export function writeModel(
  dir: string,
  config: ModelConfig,
  tok: { json: Record<string, unknown>; config: Record<string, unknown> },
  seed: number,
): void {
  saveCheckpoint(dir, config, initWeights(config, { seed, std: 0.1 }), {
    files: { "tokenizer.json": JSON.stringify(tok.json), "tokenizer_config.json": JSON.stringify(tok.config) },
  });
}

export const GEN_CONFIG = (vocab: number): ModelConfig => tiny({ vocabSize: vocab, eosTokenId: vocab - 1 });
export const RSN_CONFIG = (vocab: number): ModelConfig =>
  tiny({ vocabSize: vocab, eosTokenId: vocab - 1, hiddenSize: 8, numHeads: 1, numKvHeads: 1, headDim: 8, intermediateSize: 16 });

/** Generator and Reasoner folders sharing one tokenizer, under `root`. */
export function writePair(root: string, vocab = 300): { generator: string; reasoner: string } {
  const tok = makeTokenizer(vocab);
  const generator = join(root, "gen");
  const reasoner = join(root, "rsn");
  writeModel(generator, GEN_CONFIG(vocab), tok, 11);
  writeModel(reasoner, RSN_CONFIG(vocab), tok, 12);
  return { generator, reasoner };
}

/** A JSONL file of {prompt, target} pairs. */
export function writePairsFile(file: string, n: number, seed: number): void {
  const rng = new Rng(seed);
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({ id: `pair${i}`, prompt: `write: ${sentence(rng, 2 + rng.int(6))}`, target: sentence(rng, 2 + rng.int(8)) }),
  );
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, lines.join("\n") + "\n");
}

/**
 * runTraining options of the run tests: the given folders and config over the defaults (lr 1e-2, seed 2), prefix
 * fusion at lambda 0.5, one thread, no progress output, no checkpoints or evaluation unless `rest` says; `rest` is
 * spread last.
 */
export function quietRunOptions(
  folders: Pick<RunOptions, "generator" | "data" | "out"> & { reasoner?: string },
  config: Partial<TrainConfig>,
  rest: Partial<RunOptions> = {},
): RunOptions {
  return {
    ...folders,
    config: { ...DEFAULT_TRAIN_CONFIG, lr: 1e-2, seed: 2, ...config },
    fusion: { lambda: 0.5, fuse: "prefix", enhance: "global" },
    cadence: { checkpointEvery: 0, evalEvery: 0 },
    threads: 1,
    reporter: silentReporter,
    ...rest,
  };
}
