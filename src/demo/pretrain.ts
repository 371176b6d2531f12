// Pretraining the demo's base models from scratch on the TRAIN users' mails, so every method starts from a model
// that already writes English and knows the chat format. Each training record becomes one document: the record's
// query as a non-personalised chat prompt (no history, as the Non-pers baseline asks) followed by the user's mail and
// the end-of-turn token. The documents are concatenated and cut into chunks of seqLen tokens; every token of a chunk
// after the first is scored (a plain language-model objective).
import { join } from "node:path";
import type { PersonalRecord } from "../data/index.ts";
import { flattenPair, unflattenPair } from "../flythinker/pair-params.ts";
import { type Checkpoint, loadCheckpoint, saveCheckpoint } from "../model/checkpoint.ts";
import type { ModelConfig } from "../model/config.ts";
import { atomicWriteBytes } from "../util/files.ts";
import { initParams } from "../model/init.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { Example } from "../train/batching.ts";
import { endOfTargetId, recordPrompt } from "../data/prompt-ids.ts";
import type { Reporter } from "../train/progress.ts";
import { DEFAULT_TRAIN_CONFIG, Trainer, type TrainResult } from "../train/trainer.ts";
import { UserError } from "../util/errors.ts";
import type { PretrainSettings } from "./options.ts";

/** Token ids of the pretraining documents, one array per record (prompt, mail, end-of-turn token). */
export function pretrainDocuments(
  records: readonly PersonalRecord[],
  tok: TextTokenizer,
  opts: { inputTokens: number; docTokens: number },
): number[][] {
  const end = endOfTargetId(tok);
  return records.map((r) => {
    const { promptIds, target } = recordPrompt(r, tok, {
      historyK: 0,
      budgets: { profile: 0, input: opts.inputTokens, target: opts.docTokens },
    });
    const ids = tok.encode(target, { addSpecialTokens: false });
    return end === null ? [...promptIds, ...ids] : [...promptIds, ...ids, end];
  });
}

/** Concatenates documents and cuts them into chunks of `seqLen` tokens (the last partial chunk is kept when it has
 * at least two tokens). Each chunk is an example with a 1-token prompt, so every later token is scored. */
export function packChunks(docs: readonly (readonly number[])[], seqLen: number): Example[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new UserError(`pretraining sequence length must be >= 2, got ${seqLen}`);
  const stream = docs.flat();
  const out: Example[] = [];
  for (let i = 0; i < stream.length; i += seqLen) {
    const chunk = stream.slice(i, i + seqLen);
    if (chunk.length < 2) break;
    out.push({ id: `chunk-${out.length}`, promptIds: chunk.slice(0, 1), targetIds: chunk.slice(1) });
  }
  return out;
}

export interface PretrainRun {
  config: ModelConfig;
  chunks: readonly Example[];
  val?: readonly Example[];
  settings: PretrainSettings;
  seed: number;
  /** Folder with the tokenizer files copied into the model folder. */
  tokenizerDir: string;
  threads?: number;
  reporter?: Reporter;
}

/** Trains a freshly initialised model on the chunks; writes DIR/model (HF folder with the tokenizer),
 * DIR/metrics.jsonl and DIR/loss.svg. */
export async function pretrainModel(dir: string, run: PretrainRun): Promise<TrainResult> {
  const weights = flattenPair({ generator: initParams(run.config, { seed: run.seed }) });
  const s = run.settings;
  const pair = { generator: run.config, fusion: { lambda: 0, fuse: "prefix", enhance: "global" } } as const;
  const trainer = await Trainer.create({
    pair,
    weights,
    train: run.chunks,
    val: run.val,
    config: {
      ...DEFAULT_TRAIN_CONFIG,
      method: "sft",
      epochs: s.epochs,
      maxSteps: s.steps,
      lr: s.lr,
      batchTokens: s.batchTokens,
      warmupRatio: s.warmupRatio,
      seed: run.seed,
    },
    padId: run.config.eosTokenId !== null && !Array.isArray(run.config.eosTokenId) ? run.config.eosTokenId : 0,
    threads: run.threads,
    reporter: run.reporter,
  });
  const result = await trainer.run();
  const { generator } = unflattenPair(pair, trainer.weights());
  saveCheckpoint(join(dir, "model"), run.config, generator, { tokenizerFrom: run.tokenizerDir });
  atomicWriteBytes(join(dir, "metrics.jsonl"), trainer.metrics.text());
  atomicWriteBytes(join(dir, "loss.svg"), trainer.metrics.svg("Pretraining loss"));
  return result;
}

/** The model folder of a pretraining stage. */
export function pretrainedModel(dir: string): { dir: string; checkpoint: () => Checkpoint } {
  const modelDir = join(dir, "model");
  return { dir: modelDir, checkpoint: () => loadCheckpoint(modelDir) };
}
