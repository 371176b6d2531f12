// Model commands:
//   init-model --preset NAME | --config FILE --out DIR [--tokenizer FILE|DIR] [--seed N]   random model folder (HF layout)
//   forward --model DIR --ids 1,2,3 [--json]                                  logits + final-norm hidden states
//   generate --model DIR --prompt TEXT [sampling flags]                       streams the generated text (any model folder)
//
// `generate` runs one of several modes (a function each); the plain text mode is "text". Other modules add modes,
// with their own flags, through `registerGenerateMode`.

import type { Command } from "commander";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError } from "../../util/errors.ts";
import { intFlag, numberFlag } from "../flags.ts";
import { addPromptFlags, type PromptFlags } from "../prompt-flags.ts";
import { addQuantizeFlags, quantizeFromFlags, type QuantizeFlags } from "../quantize-flags.ts";
import { addDeviceFlag, providersFromFlags, type DeviceFlags } from "../device-flags.ts";
import { generateForData } from "./generate-data.ts";
import { TOKENIZER_FILES, saveCheckpoint } from "../../model/checkpoint.ts";
import { type ModelConfig, PRESET_NAMES, configToJson, parameterCount, parseConfig, presetConfig } from "../../model/config.ts";
import { initWeights, withTokenizer } from "../../model/init.ts";
import { LoadedModel } from "../../model/loaded-model.ts";
import { generate, type GenerateOptions } from "../../model/generate.ts";
import { PairDecoder, type DecodeMode } from "../../flythinker/decode.ts";
import { loadAnyModel, type AnyModel } from "../../flythinker/model.ts";
import { messagePromptIds, pairGenerationConfig, pairStopIds } from "../../flythinker/model-generation.ts";
import { argmax } from "../../model/sampling.ts";
import { TextTokenizer } from "../../tokenizer/tokenizer.ts";

// ---- flag parsing ------------------------------------------------------------------------------------------------

function idList(value: string, flag: string): number[] {
  const parts = value.split(",").map((s) => s.trim());
  if (parts.some((p) => !/^\d+$/.test(p))) {
    throw new UserError(`${flag} must be comma-separated token ids (non-negative integers), got "${value}"`);
  }
  return parts.map(Number);
}

const collect = (v: string, acc: string[]) => [...acc, v];

/** Where these commands print (tests swap it to capture the output). */
export const output = {
  out: (text: string): void => void process.stdout.write(text),
  err: (text: string): void => void process.stderr.write(text),
};
const println = (text: string) => output.out(text + "\n");

// ---- init-model --------------------------------------------------------------------------------------------------

interface InitModelFlags {
  preset?: string;
  config?: string;
  out: string;
  tokenizer?: string;
  seed: string;
  force?: boolean;
}

function readJsonObject(path: string, what: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`${what} ${path}: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new UserError(`${what} ${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/** Tokenizer files to put in the model folder: from a folder, or a tokenizer.json file (+ its tokenizer_config.json). */
function tokenizerSource(path: string): { files: Record<string, Uint8Array>; tokenizer: TextTokenizer } {
  if (!existsSync(path)) throw new UserError(`--tokenizer: ${path} does not exist`);
  const files: Record<string, Uint8Array> = {};
  if (statSync(path).isDirectory()) {
    if (!existsSync(join(path, "tokenizer.json"))) throw new UserError(`--tokenizer: folder ${path} has no tokenizer.json`);
    for (const f of TOKENIZER_FILES) if (existsSync(join(path, f))) files[f] = readFileSync(join(path, f));
  } else {
    files["tokenizer.json"] = readFileSync(path);
    const cfg = join(dirname(path), "tokenizer_config.json");
    if (basename(path) !== "tokenizer_config.json" && existsSync(cfg)) files["tokenizer_config.json"] = readFileSync(cfg);
  }
  const text = (b: Uint8Array | undefined) => (b ? JSON.parse(Buffer.from(b).toString("utf8")) : {});
  let tokenizer: TextTokenizer;
  try {
    tokenizer = new TextTokenizer(text(files["tokenizer.json"]), text(files["tokenizer_config.json"]), path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`--tokenizer ${path}: ${(e as Error).message}`);
  }
  return { files, tokenizer };
}

/** The config of a fresh model: a preset, a config.json, or a preset with a config.json's fields on top. */
export function initConfig(preset: string | undefined, configFile: string | undefined): ModelConfig {
  if (!preset && !configFile) throw new UserError(`init-model needs --preset (${PRESET_NAMES.join(", ")}) or --config FILE`);
  const base = preset ? configToJson(presetConfig(preset)) : {};
  if (!configFile) return presetConfig(preset!);
  return parseConfig({ ...base, ...readJsonObject(configFile, "--config") }, configFile);
}

async function initModel(o: InitModelFlags): Promise<void> {
  let config = initConfig(o.preset, o.config);
  const seed = intFlag(o.seed, "--seed", { min: 0 });
  let files: Record<string, Uint8Array> = {};
  if (o.tokenizer) {
    const src = tokenizerSource(o.tokenizer);
    files = src.files;
    // Presets made for this toolkit's small tokenizers take the tokenizer's vocabulary size; a Qwen-shaped preset or
    // an explicit config keeps a larger embedding table (as Qwen2.5 pads its own).
    const keepLarger = o.config !== undefined || o.preset === "qwen2.5-0.5b-shape";
    config = withTokenizer(config, src.tokenizer, { keepLargerVocab: keepLarger });
  }
  config = { ...config, torchDtype: "float32" };
  const weights = initWeights(config, { seed });
  saveCheckpoint(o.out, config, weights, { files, overwrite: o.force ?? false });
  println(
    `wrote ${o.out}: ${config.modelType}, ${parameterCount(config).toLocaleString("en-US")} parameters ` +
      `(vocab ${config.vocabSize}, hidden ${config.hiddenSize}, ${config.numLayers} layers, ` +
      `${config.numHeads}/${config.numKvHeads} heads), seed ${seed}${o.tokenizer ? ", with tokenizer files" : ""}`,
  );
}

// ---- forward -----------------------------------------------------------------------------------------------------

interface ForwardFlags extends DeviceFlags {
  model: string;
  ids?: string;
  text?: string;
  json?: boolean;
  threads?: string;
}

function threadsOf(value: string | undefined): { threads?: number } {
  return value === undefined ? {} : { threads: intFlag(value, "--threads", { min: 1 }) };
}

async function forwardCommand(o: ForwardFlags): Promise<void> {
  if ((o.ids === undefined) === (o.text === undefined)) throw new UserError("forward needs exactly one of --ids and --text");
  const model = LoadedModel.fromDir(o.model);
  const ids = o.ids !== undefined ? idList(o.ids, "--ids") : model.requireTokenizer("--text").encode(o.text!);
  if (ids.length === 0) throw new UserError("forward: no tokens to run");
  for (const id of ids) {
    if (id >= model.config.vocabSize) {
      throw new UserError(`--ids: token id ${id} is outside the vocabulary of ${o.model} (vocab_size ${model.config.vocabSize})`);
    }
  }
  const providers = providersFromFlags(o);
  const out = await model.forward([ids], { ...threadsOf(o.threads), ...(providers ? { providers } : {}) });
  const { vocabSize: V, hiddenSize: D } = model.config;
  const rows = (a: Float32Array, width: number) => ids.map((_, p) => Array.from(a.subarray(p * width, (p + 1) * width)));
  if (o.json) {
    println(JSON.stringify({ logits: rows(out.logits[0]!, V), hidden: rows(out.hidden[0]!, D) }));
    return;
  }
  const tok = model.tokenizer;
  const show = (id: number) => (tok ? `${id} ${JSON.stringify(tok.decode([id]))}` : String(id));
  println(`position  token  ->  most likely next tokens (logit)`);
  ids.forEach((id, p) => {
    const l = out.logits[0]!.subarray(p * V, (p + 1) * V).slice();
    const top: string[] = [];
    for (let k = 0; k < Math.min(5, V); k++) {
      const best = argmax(l);
      top.push(`${show(best)} (${l[best]!.toFixed(3)})`);
      l[best] = -Infinity;
    }
    println(`${String(p).padStart(8)}  ${show(id)}  ->  ${top.join(", ")}`);
  });
}

// ---- generate ----------------------------------------------------------------------------------------------------

/** Flags of `generate`. */
export interface GenerateFlags extends QuantizeFlags, DeviceFlags {
  model?: string;
  prompt?: string;
  system?: string;
  raw?: boolean;
  maxNewTokens?: string;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  seed?: string;
  greedy?: boolean;
  stop: string[];
  threads?: string;
  stats?: boolean;
  /** FlyThinker decoding: parallel (Reasoner in its own thread) or sequential. */
  mode: string;
  data?: string;
  split: string;
  out?: string;
  baseline?: string;
  cosLambda?: string;
  limit?: string;
  batch?: string;
  resume?: boolean;
  force?: boolean;
  skipBad?: boolean;
  shard?: string;
  [flag: string]: unknown;
}

/** Sampling options from the flags, on top of `defaults` (e.g. the model's generation_config.json). */
export function samplingFromFlags(o: GenerateFlags, defaults: GenerateOptions = {}): GenerateOptions {
  const opts: GenerateOptions = { ...defaults, maxNewTokens: intFlag(o.maxNewTokens ?? "256", "--max-new-tokens", { min: 1 }) };
  if (o.temperature !== undefined) opts.temperature = numberFlag(o.temperature, "--temperature", { min: 0 });
  if (o.topK !== undefined) opts.topK = intFlag(o.topK, "--top-k", { min: 0 });
  if (o.topP !== undefined) opts.topP = numberFlag(o.topP, "--top-p");
  if (o.repetitionPenalty !== undefined) opts.repetitionPenalty = numberFlag(o.repetitionPenalty, "--repetition-penalty", { min: 0 });
  if (o.greedy) opts.greedy = true;
  else if (o.temperature !== undefined && opts.temperature! > 0) opts.greedy = false;
  opts.seed = intFlag(o.seed ?? "0", "--seed", { min: 0 });
  if (o.stop.length) opts.stopStrings = o.stop;
  return opts;
}

/** Prompt ids: through the chat template when the tokenizer has one (unless raw), else the plain text. */
export function promptIds(tok: TextTokenizer, prompt: string, o: { raw?: boolean; system?: string }): { ids: number[]; chat: boolean } {
  const chat = !o.raw && tok.chatTemplate !== null;
  if (!chat && o.system !== undefined) throw new UserError("--system needs a chat template (the tokenizer has none, or --raw is set)");
  const messages = [...(o.system !== undefined ? [{ role: "system", content: o.system }] : []), { role: "user", content: prompt }];
  const ids = chat ? tok.encodeChat(messages, { addGenerationPrompt: true }) : tok.encode(prompt);
  if (ids.length === 0) throw new UserError("the prompt is empty (no tokens)");
  return { ids, chat };
}

/**
 * The prompt ids of `--prompt` for a loaded folder: a plain model's through its chat template (unless --raw); a
 * trained model's in the prompt format of its training (a query without history), unless --raw or --system ask for
 * the plain message. `chat`: whether the chat template was used.
 */
function textPromptIds(loaded: AnyModel, prompt: string, o: GenerateFlags): { ids: number[]; chat: boolean } {
  const { tok } = loaded;
  if (loaded.kind === "model" || o.raw || o.system !== undefined) return promptIds(tok, prompt, o);
  const ids = messagePromptIds(tok, prompt, loaded.trainedPrompt);
  if (ids.length === 0) throw new UserError("the prompt is empty (no tokens)");
  return { ids, chat: tok.chatTemplate !== null };
}

/** One prompt, text streamed to stdout, for a plain model folder or a trained FlyThinker / SFT output. */
async function generateText(o: GenerateFlags): Promise<void> {
  if (!o.model) throw new UserError("generate needs --model DIR");
  if (o.prompt === undefined) throw new UserError("generate needs --prompt TEXT");
  const quantize = quantizeFromFlags(o);
  const loaded = loadAnyModel(o.model, quantize ? { quantize } : {});
  const { tok, model } = loaded;
  const opts = samplingFromFlags(o, pairGenerationConfig(model).sampling);
  const { ids, chat } = textPromptIds(loaded, o.prompt, o);
  opts.eosIds = pairStopIds(model, tok, chat);
  const providers = providersFromFlags(o);
  const decoder = await PairDecoder.create(model, {
    mode: o.mode as DecodeMode,
    ...(o.threads !== undefined ? { generatorThreads: intFlag(o.threads, "--threads", { min: 1 }) } : {}),
    ...(providers ? { providers } : {}),
  });
  try {
    const t0 = performance.now();
    let first = 0;
    let n = 0;
    const it = generate(decoder, ids, opts, tok);
    for (;;) {
      const r = await it.next();
      if (r.done) {
        output.out("\n");
        if (o.stats) {
          const total = performance.now() - t0;
          const perToken = n > 1 ? (total - first) / (n - 1) : 0;
          output.err(
            `[${ids.length} prompt tokens, ${r.value.ids.length} generated (${r.value.finishReason}); ` +
              `first token ${first.toFixed(0)} ms, then ${perToken.toFixed(1)} ms/token]\n`,
          );
        }
        return;
      }
      if (r.value.id !== null && n++ === 0) first = performance.now() - t0;
      if (r.value.text) output.out(r.value.text);
    }
  } finally {
    await decoder.close();
  }
}


// ---- registration ------------------------------------------------------------------------------------------------

export function register(program: Command): void {
  program
    .command("init-model")
    .description("Write a randomly initialised model folder in Hugging Face layout (config.json, model.safetensors)")
    .option("--preset <name>", `model shape: ${PRESET_NAMES.join(" | ")}`)
    .option("--config <file>", "config.json to use (on top of --preset when both are given)")
    .requiredOption("--out <dir>", "folder to write")
    .option("--tokenizer <file|dir>", "tokenizer.json (or a folder of tokenizer files) to include; vocab size and bos/eos ids follow it")
    .option("--seed <n>", "seed of the random weights", "0")
    .option("--force", "replace an existing --out folder")
    .action(initModel);

  const forward = program
    .command("forward")
    .description("Logits and final-norm hidden states of every position of a token sequence")
    .requiredOption("--model <dir>", "model folder (HF layout)")
    .option("--ids <list>", "comma-separated token ids, e.g. 1,2,3")
    .option("--text <text>", "text to tokenize instead of --ids (needs tokenizer files)")
    .option("--json", 'print {"logits": [[...]...], "hidden": [[...]...]} (one row per position)')
    .option("--threads <n>", "ONNX Runtime threads (default: all cores)");
  addDeviceFlag(forward).action(forwardCommand);

  const cmd = program
    .command("generate")
    .description(
      "Generate text: one --prompt streamed to stdout, or every record of --data written to --out as JSONL " +
        '({"id","user","prediction","reference"}); works for model folders, SFT and FlyThinker outputs',
    )
    .option("--model <dir>", "model folder (HF layout with tokenizer files, or a folder written by `flythinker train`)")
    .option("--prompt <text>", "the prompt (wrapped in the chat template when the tokenizer has one; for a training output, in the prompt format of its training)")
    .option("--data <dir|file>", "dataset folder or JSONL of records: generate for each record")
    .option("--split <name>", "split of a dataset folder", "test")
    .option("--out <file>", "predictions JSONL to write (with --data)")
    .option("--limit <n>", "generate for the first n records only")
    .option("--baseline <kind>", "tuning-free baseline for a plain model: non-pers | rag | cos (context steering)")
    .option("--cos-lambda <x>", "with --baseline cos: steering strength, any real number (0 = rag, -1 = non-pers; default 1)")
    .option("--mode <mode>", "FlyThinker decoding: parallel (Reasoner in its own thread) | sequential", "parallel")
    .option("--batch <n>", "with --data: records decoded together (more tokens/s; each record's text still follows its own seed)", "8")
    .option("--resume", "with --data: continue the unfinished run of --out (OUT.partial) with the same options")
    .option("--force", "with --data: discard an unfinished OUT.partial and start over; break an output lock left on another host")
    .option("--skip-bad", "with --data: skip records whose prompt cannot be built (listed at the end, exit status 1) instead of stopping")
    .option("--shard <I/N>", "with --data: generate the I-th of N contiguous slices of whole batches (join them with `flythinker merge`)")
    .option("--summaries <file>", "LLM-TRSR models: JSONL of {id, summary} for the records (default: as in training)")
    .option("--system <text>", "system message for the chat template")
    .option("--raw", "do not apply the chat template")
    .option("--max-new-tokens <n>", "most tokens to generate", "256")
    .option("--temperature <t>", "sampling temperature (0 = greedy; default 1, 0.8 with --data, or the model's generation_config.json)")
    .option("--top-k <k>", "keep the k most likely tokens (0 = off)")
    .option("--top-p <p>", "nucleus sampling mass (1 = off; 0.95 with --data)")
    .option("--repetition-penalty <r>", "HF repetition penalty (1 = off)")
    .option("--seed <n>", "sampling seed", "0")
    .option("--greedy", "always take the most likely token")
    .option("--stop <text>", "stop when the output contains this text (repeatable; not printed)", collect, [] as string[])
    .option("--threads <n>", "ONNX Runtime threads (default: all cores)")
    .option("--stats", "print token counts and timing to stderr");
  addPromptFlags(addDeviceFlag(addQuantizeFlags(cmd))).action(async (o: GenerateFlags & PromptFlags) => {
    if (o.mode !== "parallel" && o.mode !== "sequential") {
      throw new UserError(`--mode must be parallel or sequential, got "${o.mode}"`);
    }
    if (o.data !== undefined) {
      const promptFlagsGiven = ["historyK", "retrieval", "budgetProfile", "budgetInput", "budgetTarget", "stopWords"]
        .some((k) => cmd.getOptionValueSource(k) === "cli");
      await generateForData(o, promptFlagsGiven);
    }
    else await generateText(o);
  });
}
