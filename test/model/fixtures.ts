// Loaders for the parity fixtures in test/fixtures/model (produced by scripts/torch_reference.py; see the README
// there). Variants: "untied" and "tied" (qwen2 with q/k/v biases), "llama" (no biases, untied), "bf16" (qwen2,
// untied, weights stored as bfloat16; "bf16-f32twin" holds the same values as float32).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type Checkpoint, loadCheckpoint } from "../../src/model/checkpoint.ts";

export type ParityVariant = "untied" | "tied" | "llama" | "bf16";
export const PARITY_VARIANTS: readonly ParityVariant[] = ["untied", "tied", "llama", "bf16"];

export interface PackedArray {
  shape: number[];
  /** Row-major, exactly the float32 values the reference stored. */
  data: Float32Array;
}

export interface ParityFixture {
  variant: ParityVariant;
  dir: string;
  /** The fixture's checkpoint folder, loaded with loadCheckpoint (config + float32 weights). */
  checkpoint: Checkpoint;
  /** [batch 2][seq 7] */
  inputIds: number[][];
  /** labels[b][t] is the target of the logits at position t: inputIds[b][t + 1], or ignoreIndex. */
  labels: number[][];
  ignoreIndex: number;
  /** [2, 7, vocab] */
  logits: PackedArray;
  /** Final-norm hidden states, [2, 7, hidden]. */
  hidden: PackedArray;
  /** Mean cross-entropy over positions whose label is not ignoreIndex (float64). */
  loss: number;
  /** d loss / d weight for a few weights, by HF name (empty for "bf16"). */
  grads: Map<string, PackedArray>;
  /** The same model fed input embeddings instead of ids (absent for "bf16"). */
  inputsEmbedsCase: { inputsEmbeds: PackedArray; logits: PackedArray; hidden: PackedArray } | null;
}

export const FIXTURE_ROOT = fileURLToPath(new URL("../fixtures/model/", import.meta.url));

export function parityFixtureDir(variant: ParityVariant | "bf16-f32twin"): string {
  return join(FIXTURE_ROOT, variant);
}

interface RawPacked {
  shape: number[];
  data: number[];
}

function unpack(p: RawPacked): PackedArray {
  const data = Float32Array.from(p.data);
  const n = p.shape.reduce((a, b) => a * b, 1);
  if (n !== data.length) throw new Error(`fixture array of shape [${p.shape}] holds ${data.length} values`);
  return { shape: p.shape, data };
}

export function loadParityFixture(variant: ParityVariant): ParityFixture {
  const dir = parityFixtureDir(variant);
  const raw = JSON.parse(readFileSync(join(dir, "expected.json"), "utf8"));
  const grads = new Map<string, PackedArray>();
  for (const [name, p] of Object.entries(raw.grads ?? {})) grads.set(name, unpack(p as RawPacked));
  const e = raw.inputs_embeds_case;
  return {
    variant,
    dir,
    checkpoint: loadCheckpoint(dir),
    inputIds: raw.input_ids,
    labels: raw.labels,
    ignoreIndex: raw.ignore_index,
    logits: unpack(raw.logits),
    hidden: unpack(raw.hidden),
    loss: raw.loss,
    grads,
    inputsEmbedsCase: e
      ? { inputsEmbeds: unpack(e.inputs_embeds), logits: unpack(e.logits), hidden: unpack(e.hidden) }
      : null,
  };
}
