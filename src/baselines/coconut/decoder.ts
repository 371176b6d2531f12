// Coconut decoding as a step model for the one generation session (model/generation): a prompt is
// question + <bot> + <|latent|> * n + <eot> (+ anything after). The prefill runs the tokens before the first slot,
// then one cached step per slot whose input embedding is the previous position's final-norm hidden state, then the
// tokens after the slots; the next-token logits of that last position start the answer, which then decodes with the
// key/value cache like any other model. Rows of a batch share n and the number of tokens after the slots.
//
// The model reads input embeddings (a Decoder with input "embeds"); token embeddings are rows of the float
// embedding table, looked up here.
import { Decoder, type DecoderOptions } from "../../model/decode.ts";
import type { ModelConfig } from "../../model/config.ts";
import type { StepModel } from "../../model/generation/step-model.ts";
import { UserError } from "../../util/errors.ts";
import type { LatentTokens } from "./layout.ts";

const EMBED = "model.embed_tokens.weight";

/** Where a prompt's latent slots are: the ids before them, their count, the ids after them. */
export interface PromptSplit {
  head: number[];
  latents: number;
  tail: number[];
}

/** Splits a prompt at its one run of <|latent|> ids (none: all of it is the head). */
export function splitAtLatents(prompt: readonly number[], latentId: number, what = "prompt"): PromptSplit {
  const first = prompt.indexOf(latentId);
  if (first < 0) return { head: [...prompt], latents: 0, tail: [] };
  let end = first;
  while (end < prompt.length && prompt[end] === latentId) end++;
  if (prompt.indexOf(latentId, end) >= 0) throw new UserError(`${what}: the latent slots (id ${latentId}) must form one run`);
  if (first === 0) throw new UserError(`${what}: nothing precedes the latent slots`);
  return { head: prompt.slice(0, first), latents: end - first, tail: prompt.slice(end) };
}

export class CoconutStepModel implements StepModel {
  /** The vectors fed at the latent slots of the last prefill: per row, n * hidden floats. */
  lastThoughts: Float32Array[] = [];

  private constructor(
    readonly config: ModelConfig,
    readonly tokens: LatentTokens,
    private readonly decoder: Decoder,
    private readonly embed: Float32Array,
  ) {}

  /** `weights` by HF name (float32). Call `release` when done. */
  static async create(config: ModelConfig, weights: ReadonlyMap<string, Float32Array>, tokens: LatentTokens, options: Pick<DecoderOptions, "compile" | "weights"> = {}): Promise<CoconutStepModel> {
    const embed = weights.get(EMBED);
    if (!embed) throw new UserError(`coconut decoding needs the float tensor ${EMBED}`);
    for (const [name, id] of Object.entries(tokens)) {
      if (!Number.isInteger(id) || id < 0 || id >= config.vocabSize) throw new UserError(`coconut: the ${name} token id ${id} is outside the vocabulary (size ${config.vocabSize})`);
    }
    const decoder = await Decoder.create(config, weights, { ...options, input: "embeds", logits: "last", hidden: "last" });
    return new CoconutStepModel(config, tokens, decoder, embed);
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** Input embeddings [ids.length * hidden] of token ids. */
  embedIds(ids: readonly number[]): Float32Array {
    const D = this.config.hiddenSize;
    const V = this.config.vocabSize;
    const out = new Float32Array(ids.length * D);
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new UserError(`token id ${id} is outside the vocabulary (size ${V})`);
      out.set(this.embed.subarray(id * D, (id + 1) * D), i * D);
    });
    return out;
  }

  async prefillLogits(prompts: readonly (readonly number[])[]): Promise<Float32Array> {
    const splits = prompts.map((p, r) => splitAtLatents(p, this.tokens.latent, `prompt ${r}`));
    const n = splits[0]!.latents;
    const tailLen = splits[0]!.tail.length;
    splits.forEach((s, r) => {
      if (s.latents !== n || s.tail.length !== tailLen) {
        throw new UserError(`prompt ${r} has ${s.latents} latent slots and ${s.tail.length} tokens after them; prompt 0 has ${n} and ${tailLen} (a batch shares them)`);
      }
    });
    const D = this.config.hiddenSize;
    let out = await this.decoder.prefill(splits.map((s) => this.embedIds(s.head)));
    this.lastThoughts = splits.map(() => new Float32Array(n * D));
    for (let j = 0; j < n; j++) {
      const thoughts = out.hidden.map((h) => Float32Array.from(h)); // [hidden] per row: the hidden state before slot j
      thoughts.forEach((t, r) => this.lastThoughts[r]!.set(t, j * D));
      out = await this.decoder.step(thoughts);
    }
    if (tailLen > 0) out = await this.decoder.append(splits.map((s) => this.embedIds(s.tail)));
    return this.joinLogits(out.logits);
  }

  async stepLogits(tokens: readonly number[]): Promise<Float32Array> {
    return this.joinLogits((await this.decoder.step(tokens.map((t) => this.embedIds([t])))).logits);
  }

  keepRows(rows: readonly number[]): void {
    this.decoder.keepRows(rows);
  }

  async release(): Promise<void> {
    await this.decoder.release();
  }

  /** [rows, vocab] from per-row logits. */
  private joinLogits(rows: readonly Float32Array[]): Float32Array {
    const V = this.vocabSize;
    const out = new Float32Array(rows.length * V);
    rows.forEach((r, i) => out.set(r, i * V));
    return out;
  }
}
