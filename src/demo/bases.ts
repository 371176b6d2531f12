// The demo's shipped base models (the repository's bases/ folder): a Generator and a Reasoner pretrained on English
// books, speeches and the train users' mail by `flythinker demo --pretrain`, stored as bf16 HF folders with the demo's
// tokenizer. The default demo checks them against its settings and fine-tunes from them instead of pretraining.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { PersonalRecord } from "../data/index.ts";
import type { EnglishDocument } from "../data/english-corpora.ts";
import { endOfTargetId, recordPrompt } from "../data/prompt-ids.ts";
import { type ScoredText } from "../eval/bits-per-byte.ts";
import type { ModelConfig } from "../model/config.ts";
import { readConfig } from "../model/config.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { Example } from "../train/batching.ts";
import { UserError } from "../util/errors.ts";
import type { ModelShape } from "./options.ts";
import { packChunks } from "./pretrain.ts";

import { BASE_FOLDERS, type BaseRole } from "../model/shipped-bases.ts";
export { BASE_FOLDERS, SHIPPED_BASES_DIR, type BaseRole } from "../model/shipped-bases.ts";

/** Files of a shipped base folder that must be present. */
export const BASE_FILES = ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] as const;

/** Token ids of English documents for pretraining: each document's text followed by the end-of-turn token. */
export function englishDocumentIds(docs: readonly EnglishDocument[], tok: TextTokenizer): number[][] {
  const end = endOfTargetId(tok);
  return docs.map((d) => {
    const ids = tok.encode(d.text, { addSpecialTokens: false });
    return end === null ? ids : [...ids, end];
  });
}

/**
 * The pretraining examples of a mixed run: the English documents packed into chunks, then the mail documents packed
 * into chunks `mailRepeats` times (the mail is small next to the English, and it is what the bases are judged on).
 * The trainer shuffles the examples every epoch.
 */
export function mixedChunks(
  english: readonly (readonly number[])[],
  mail: readonly (readonly number[])[],
  seqLen: number,
  mailRepeats: number,
): Example[] {
  if (!Number.isInteger(mailRepeats) || mailRepeats < 1) throw new UserError(`mail repeats must be a positive integer, got ${mailRepeats}`);
  const out = packChunks(english, seqLen).map((e) => ({ ...e, id: `english-${e.id}` }));
  const mailChunks = packChunks(mail, seqLen);
  for (let r = 0; r < mailRepeats; r++) for (const e of mailChunks) out.push({ ...e, id: `mail${r}-${e.id}` });
  return out;
}

/** The texts bits per byte is measured on: each record's mail (cut at a sentence end to `textTokens` tokens) after
 * its non-personalised prompt, as the bases were pretrained. */
export function mailScoredTexts(
  records: readonly PersonalRecord[],
  tok: TextTokenizer,
  opts: { inputTokens: number; textTokens: number },
): ScoredText[] {
  return records
    .map((r) => {
      const { promptIds, target } = recordPrompt(r, tok, { historyK: 0, budgets: { profile: 0, input: opts.inputTokens, target: opts.textTokens } });
      return { id: r.id, promptIds, textIds: tok.encode(target, { addSpecialTokens: false }), bytes: Buffer.byteLength(target, "utf8") };
    })
    .filter((t) => t.textIds.length > 0);
}

export function sha256OfFile(file: string): string {
  return createHash("sha256").update(readFileSync(file)).digest("hex");
}

/** The shipped folder of one base, checked: its files are present, its tokenizer is the one given (same
 * tokenizer.json bytes as the Generator's) and its shape and vocabulary are the demo's. */
export function checkShippedBase(
  basesDir: string,
  role: BaseRole,
  want: { shape: ModelShape; vocabSize: number },
): { dir: string; config: ModelConfig; hashes: Record<string, string> } {
  const dir = join(basesDir, BASE_FOLDERS[role]);
  const hint = "run `npx flythinker demo --pretrain` to build them, or `--quick` for the from-scratch run";
  for (const f of BASE_FILES) {
    if (!existsSync(join(dir, f))) throw new UserError(`${join(dir, f)}: missing; the demo's shipped ${role} base needs it (${hint})`);
  }
  const config = readConfig(join(dir, "config.json"));
  const fields = ["hiddenSize", "numLayers", "numHeads", "numKvHeads", "headDim", "intermediateSize"] as const;
  const diff = fields.filter((k) => config[k] !== want.shape[k]);
  if (diff.length > 0) {
    throw new UserError(
      `${join(dir, "config.json")}: the shipped ${role} base has ${diff.map((k) => `${k} ${config[k]}`).join(", ")}, ` +
        `the demo asks for ${diff.map((k) => `${k} ${want.shape[k]}`).join(", ")} (${hint}, or leave the ${role} shape at its default)`,
    );
  }
  if (config.vocabSize !== want.vocabSize) {
    throw new UserError(
      `${join(dir, "config.json")}: the shipped ${role} base has a vocabulary of ${config.vocabSize}, the demo asks for ${want.vocabSize} (${hint}, or leave --vocab-size at its default)`,
    );
  }
  const hashes = Object.fromEntries(BASE_FILES.map((f) => [f, sha256OfFile(join(dir, f))]));
  return { dir, config, hashes };
}

/** Checks that both shipped bases use the same tokenizer. */
export function checkSameTokenizer(generator: { dir: string; hashes: Record<string, string> }, reasoner: { dir: string; hashes: Record<string, string> }): void {
  if (generator.hashes["tokenizer.json"] !== reasoner.hashes["tokenizer.json"]) {
    throw new UserError(`${join(reasoner.dir, "tokenizer.json")}: differs from ${join(generator.dir, "tokenizer.json")}; both bases must share the demo's tokenizer`);
  }
}
