// Turning data into training examples (prompt ids + target ids): canonical records through the prompt builder
// (history, query, the model's chat template; prompt ids come from data/prompt-ids.ts), or JSONL files of
// {"prompt", "target"} text pairs used as they are.
// The target ends with the token that closes the model's turn, so the trained model learns where to stop.
import { createReadStream, existsSync, statSync } from "node:fs";
import { createInterface } from "node:readline";
import { readDatasetSplits, readJsonl, type PersonalRecord } from "../data/index.ts";
import { endOfTargetId, recordPrompt, type PromptBuildOptions } from "../data/prompt-ids.ts";
import type { ModelConfig } from "../model/config.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UserError } from "../util/errors.ts";
import { readJsonlObjects } from "../util/jsonl.ts";
import type { Example } from "./batching.ts";

function targetIds(text: string, tok: TextTokenizer, end: number | null): number[] {
  const ids = tok.encode(text, { addSpecialTokens: false });
  return end === null ? ids : [...ids, end];
}

/** What a method needs of each example beyond prompt and target. */
export interface ExampleOptions {
  /** Also the record's history-free prompt (the Non-pers prompt), as `counterPromptIds` (NextQuill). */
  counterfactual?: boolean;
  /** Text in place of the history in that prompt, with the history template (absent: the template without history). */
  counterHistory?: string;
  /** A summary of each record's history in its prompt (LLM-TRSR). */
  summaryOf?: (record: PersonalRecord) => string;
  /**
   * The target text from the record, the history items its prompt shows (indices into record.profile) and the
   * (budgeted) response; absent: the response (CoT: rationale, separator, response).
   */
  targetOf?: (record: PersonalRecord, shown: readonly number[], response: string) => string;
}

/** Examples of canonical records: prompt from the prompt builder, target = the (budgeted) response + end token. */
export function recordExamples(
  records: readonly PersonalRecord[],
  tok: TextTokenizer,
  opts: PromptBuildOptions = {},
  config?: ModelConfig,
  extra: ExampleOptions = {},
): Example[] {
  const end = endOfTargetId(tok, config);
  return records.map((r) => {
    const { promptIds, target, usedHistory } = recordPrompt(r, tok, extra.summaryOf ? { ...opts, summary: extra.summaryOf(r) } : opts);
    const text = extra.targetOf ? extra.targetOf(r, usedHistory, target) : target;
    const e: Example = { id: r.id, promptIds, targetIds: targetIds(text, tok, end) };
    if (!extra.counterfactual) return e;
    return { ...e, counterPromptIds: recordPrompt(r, tok, { ...opts, historyK: 0, emptyHistory: extra.counterHistory }).promptIds };
  });
}

export interface TextPair {
  prompt: string;
  target: string;
  id: string;
}

/** Examples of text pairs: the prompt text is tokenised as it is (no template), the target gets the end token. */
export function pairExamples(pairs: readonly TextPair[], tok: TextTokenizer, config?: ModelConfig): Example[] {
  const end = endOfTargetId(tok, config);
  return pairs.map((p) => ({
    id: p.id,
    promptIds: tok.encode(p.prompt, { addSpecialTokens: true }),
    targetIds: targetIds(p.target, tok, end),
  }));
}

async function firstObject(file: string): Promise<Record<string, unknown> | null> {
  const rl = createInterface({ input: createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity });
  try {
    for await (const line of rl) {
      if (line.trim() === "") continue;
      try {
        const v = JSON.parse(line) as unknown;
        return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
      } catch {
        return null;
      }
    }
    return null;
  } finally {
    rl.close();
  }
}

/** Is this JSONL file made of {"prompt", "target"} pairs (rather than canonical records)? */
export async function isPairsFile(file: string): Promise<boolean> {
  const o = await firstObject(file);
  return o !== null && typeof o.prompt === "string" && typeof o.target === "string" && !("profile" in o);
}

/** Reads a JSONL file of {"prompt": string, "target": string} objects (an "id" is optional). */
export async function readPairs(file: string): Promise<TextPair[]> {
  const expected = 'an object with string fields "prompt" and "target"';
  const out: TextPair[] = [];
  for (const { line: n, object: o } of readJsonlObjects(file, { expected })) {
    if (typeof o.prompt !== "string" || typeof o.target !== "string") throw new UserError(`${file}:${n}: expected ${expected}`);
    if (o.target === "") throw new UserError(`${file}:${n}: field "target" is empty`);
    out.push({ prompt: o.prompt, target: o.target, id: typeof o.id === "string" ? o.id : `${file}:${n}` });
  }
  return Promise.resolve(out);
}

export interface TrainingData {
  train: Example[];
  val: Example[];
  /** What was read, for the log. */
  description: string;
}

export async function fileExamples(file: string, tok: TextTokenizer, opts: PromptBuildOptions, config?: ModelConfig, extra: ExampleOptions = {}): Promise<Example[]> {
  if (await isPairsFile(file)) {
    if (extra.counterfactual || extra.summaryOf || extra.targetOf) throw new UserError(`${file}: this method needs records (history and query), not {"prompt", "target"} pairs`);
    return pairExamples(await readPairs(file), tok, config);
  }
  const { records } = await readJsonl(file, { strict: true });
  return recordExamples(records, tok, opts, config, extra);
}

/**
 * Training (and validation) examples from `--data`: a dataset folder (train.jsonl, optional val.jsonl of canonical
 * records), or one JSONL file of canonical records or of text pairs; `valFile` adds validation examples to a file.
 */
export async function loadTrainingData(
  data: string,
  tok: TextTokenizer,
  opts: PromptBuildOptions = {},
  config?: ModelConfig,
  valFile?: string,
  extra: ExampleOptions = {},
): Promise<TrainingData> {
  if (!existsSync(data)) throw new UserError(`--data ${data}: no such file or folder`);
  if (statSync(data).isDirectory()) {
    const { splits } = await readDatasetSplits(data, { strict: true });
    if (!splits.train || splits.train.length === 0) throw new UserError(`${data}: no training records (train.jsonl is missing or empty)`);
    const train = recordExamples(splits.train, tok, opts, config, extra);
    const val = valFile ? await fileExamples(valFile, tok, opts, config, extra) : recordExamples(splits.val ?? [], tok, opts, config, extra);
    return { train, val, description: `${data}: ${train.length} training and ${val.length} validation records` };
  }
  const train = await fileExamples(data, tok, opts, config, extra);
  const val = valFile ? await fileExamples(valFile, tok, opts, config, extra) : [];
  return { train, val, description: `${data}: ${train.length} training examples${valFile ? `, ${valFile}: ${val.length} validation examples` : ""}` };
}
