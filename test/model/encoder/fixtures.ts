// Loaders for the encoder fixtures in test/fixtures/encoder (written by scripts/encoder_reference.py; see its header).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const ENCODER_VARIANTS = ["bert", "bert-legacy", "roberta", "distilbert"] as const;
export type EncoderVariant = (typeof ENCODER_VARIANTS)[number];

export interface Packed {
  shape: number[];
  data: number[];
}

export interface EncoderFixture {
  dir: string;
  texts: string[];
  /** The BERTScore encoding of each text (special tokens included). */
  ids: number[][];
  batch: { ids: number[][]; mask: number[][]; positions: number[][] };
  /** hidden_states[0..L] of the batch, each [3, seq, hidden]. */
  hiddenStates: Packed[];
  pairs: { cand: string; refs: string[] }[];
  /** By layer: per pair [P, R, F], without and with idf. */
  bertscore: Record<string, { no_idf: number[][]; idf: number[][] }>;
}

export function fixtureDir(variant: EncoderVariant): string {
  return join(fileURLToPath(new URL("../../fixtures/encoder", import.meta.url)), variant);
}

export function loadEncoderFixture(variant: EncoderVariant): EncoderFixture {
  const dir = fixtureDir(variant);
  const e = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8")) as {
    texts: string[];
    ids: number[][];
    batch: EncoderFixture["batch"];
    hidden_states: Packed[];
    pairs: EncoderFixture["pairs"];
    bertscore: EncoderFixture["bertscore"];
  };
  return { dir, texts: e.texts, ids: e.ids, batch: e.batch, hiddenStates: e.hidden_states, pairs: e.pairs, bertscore: e.bertscore };
}
