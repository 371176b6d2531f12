// Coconut's three marker tokens added to a model folder: <|start-latent|>, <|end-latent|> and <|latent|> get the next
// ids after the tokenizer's last one (tokenizer.json added_tokens, tokenizer_config.json added_tokens_decoder, and
// added_tokens.json when the folder has one), and their rows of the input embedding and of the LM head (when untied)
// are copies of one existing token's rows. The copied token: "<<" when the vocabulary has it (Coconut's choice),
// else id 0, unless the caller names one. A table padded past the tokenizer (Qwen2.5 has spare rows) keeps its size
// and the new ids take spare rows; otherwise it grows to the new ids. vocab_size in config.json follows, so the
// folder loads with this project's loader and with HF's.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCheckpoint, saveCheckpoint } from "../../model/checkpoint.ts";
import type { ModelConfig } from "../../model/config.ts";
import { TextTokenizer, readJson } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import type { LatentTokens } from "./layout.ts";

export const LATENT_MARKERS: Readonly<Record<keyof LatentTokens, string>> = {
  bot: "<|start-latent|>",
  eot: "<|end-latent|>",
  latent: "<|latent|>",
};

const MARKER_ORDER = ["bot", "eot", "latent"] as const;
/** Coconut initialises the new rows from this token ("to stabilize training"). */
export const COPY_TOKEN = "<<";
export const COPY_FALLBACK_ID = 0;
const TABLES = ["model.embed_tokens.weight", "lm_head.weight"];

/** Refuses a tokenizer that already has tokens named like the markers, naming their ids. */
export function checkNoMarkers(tok: TextTokenizer): void {
  const taken = Object.values(LATENT_MARKERS).flatMap((m) => {
    const id = tok.tokenToId(m);
    return id === null ? [] : [`${m} (id ${id})`];
  });
  if (taken.length > 0) throw new UserError(`${tok.source} already has ${taken.join(", ")}; Coconut adds these tokens itself`);
}

/** Which row the new rows copy: `copyFrom`, else "<<" when the tokenizer has it, else COPY_FALLBACK_ID. */
export function copySource(tok: TextTokenizer, copyFrom?: number): number {
  if (copyFrom !== undefined) {
    if (!Number.isInteger(copyFrom) || copyFrom < 0 || copyFrom >= tok.vocabSize) {
      throw new UserError(`the row to copy must be a token id of ${tok.source} (0..${tok.vocabSize - 1}), got ${copyFrom}`);
    }
    return copyFrom;
  }
  return tok.tokenToId(COPY_TOKEN) ?? COPY_FALLBACK_ID;
}

/** Marker ids: the next ids after the tokenizer's vocabulary. */
export function markerIds(tok: TextTokenizer): LatentTokens {
  const base = tok.vocabSize;
  return { bot: base, eot: base + 1, latent: base + 2 };
}

/** tokenizer.json / tokenizer_config.json / added_tokens.json objects with the markers added (inputs unchanged). */
export function withMarkerTokens(
  tokenizerJson: Record<string, unknown>,
  tokenizerConfig: Record<string, unknown>,
  tokens: LatentTokens,
  addedTokens?: Record<string, unknown>,
) {
  const entry = (content: string) => ({ content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const added = [...((tokenizerJson.added_tokens as unknown[] | undefined) ?? [])];
  const decoder = { ...((tokenizerConfig.added_tokens_decoder as Record<string, unknown> | undefined) ?? {}) };
  const table = { ...(addedTokens ?? {}) };
  for (const k of MARKER_ORDER) {
    added.push({ id: tokens[k], ...entry(LATENT_MARKERS[k]) });
    decoder[String(tokens[k])] = entry(LATENT_MARKERS[k]);
    table[LATENT_MARKERS[k]] = tokens[k];
  }
  return {
    tokenizerJson: { ...tokenizerJson, added_tokens: added },
    tokenizerConfig: { ...tokenizerConfig, added_tokens_decoder: decoder },
    addedTokens: table,
  };
}

/**
 * The config and weights with rows for `tokens` copied from row `from` (embedding, and the head when untied). Rows
 * that exist keep their values; a table shorter than the new ids grows. Inputs are not changed.
 */
export function withMarkerRows(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, tokens: LatentTokens, from: number): { config: ModelConfig; weights: Map<string, Float32Array> } {
  const D = config.hiddenSize;
  const ids = MARKER_ORDER.map((k) => tokens[k]);
  const vocabSize = Math.max(config.vocabSize, Math.max(...ids) + 1);
  if (from < 0 || from >= config.vocabSize) throw new UserError(`row ${from} to copy is outside the embedding table (${config.vocabSize} rows)`);
  const out = new Map(weights);
  for (const name of TABLES) {
    const old = weights.get(name);
    if (!old) continue;
    const grown = new Float32Array(vocabSize * D);
    grown.set(old.subarray(0, config.vocabSize * D));
    const row = old.subarray(from * D, (from + 1) * D);
    for (const id of ids) grown.set(row, id * D);
    out.set(name, grown);
  }
  return { config: { ...config, vocabSize }, weights: out };
}

export interface MarkerResult {
  tokens: LatentTokens;
  /** The token id whose rows were copied. */
  copiedFrom: number;
  config: ModelConfig;
}

/** Writes `outDir`: the model folder `srcDir` with the markers added (see the file comment). */
export function addLatentMarkers(srcDir: string, outDir: string, opts: { copyFrom?: number; overwrite?: boolean } = {}): MarkerResult {
  const tok = TextTokenizer.fromDir(srcDir);
  checkNoMarkers(tok);
  const ck = loadCheckpoint(srcDir);
  const tokens = markerIds(tok);
  const from = copySource(tok, opts.copyFrom);
  const { config, weights } = withMarkerRows(ck.config, ck.weights, tokens, from);
  const configPath = join(srcDir, "tokenizer_config.json");
  const addedPath = join(srcDir, "added_tokens.json");
  const files = withMarkerTokens(
    readJson(join(srcDir, "tokenizer.json")),
    existsSync(configPath) ? readJson(configPath) : {},
    tokens,
    existsSync(addedPath) ? (JSON.parse(readFileSync(addedPath, "utf8")) as Record<string, unknown>) : undefined,
  );
  const text = (o: unknown) => JSON.stringify(o, null, 2) + "\n";
  saveCheckpoint(outDir, config, weights, {
    overwrite: opts.overwrite,
    tokenizerFrom: srcDir,
    files: {
      "tokenizer.json": text(files.tokenizerJson),
      "tokenizer_config.json": text(files.tokenizerConfig),
      ...(existsSync(addedPath) ? { "added_tokens.json": text(files.addedTokens) } : {}),
    },
  });
  return { tokens, copiedFrom: from, config };
}

/** The marker ids of a tokenizer that has all three (a Coconut model folder); UserError naming the missing ones. */
export function latentTokensOf(tok: TextTokenizer): LatentTokens {
  const ids = MARKER_ORDER.map((k) => [k, tok.tokenToId(LATENT_MARKERS[k])] as const);
  const missing = ids.filter(([, id]) => id === null).map(([k]) => LATENT_MARKERS[k]);
  if (missing.length > 0) throw new UserError(`${tok.source} lacks the latent tokens ${missing.join(", ")} (add them with the Coconut markers first)`);
  return Object.fromEntries(ids) as unknown as LatentTokens;
}
