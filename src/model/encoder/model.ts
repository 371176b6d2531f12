// A BERT-family encoder ready to run: a Hugging Face folder's config, weights and tokenizer; texts to the token ids
// BERTScore encodes, and batched hidden states of one layer.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Graph } from "../../graph/index.ts";
import { compile, type CompiledGraph, type CompileOptions } from "../../runtime/session.ts";
import { TextTokenizer } from "../../tokenizer/tokenizer.ts";
import { UserError } from "../../util/errors.ts";
import { type EncoderConfig, positionIds, readEncoderConfig } from "./config.ts";
import { declareEncoderWeights, encoderHiddenStates } from "./forward.ts";
import { readEncoderWeights } from "./weights.ts";

/** HF's default `model_max_length` for these tokenizers. */
const DEFAULT_MAX_LENGTH = 512;

export interface EncodeProgress {
  done: number;
  total: number;
}

export interface HiddenStateOptions {
  /** Rows per run (default 64, the BERTScore package's batch size). */
  batchSize?: number;
  compile?: CompileOptions;
  onProgress?: (p: EncodeProgress) => void;
}

export class EncoderModel {
  /** Id of the sequence-start token ([CLS] or <s>) and of the sequence-end token ([SEP] or </s>). */
  readonly clsId: number;
  readonly sepId: number;
  /** The most tokens a text has after encoding, special tokens included. */
  readonly maxLength: number;
  private readonly graphs = new Map<number, Promise<CompiledGraph<"hidden">>>();

  constructor(
    readonly config: EncoderConfig,
    readonly weights: ReadonlyMap<string, Float32Array>,
    readonly tokenizer: TextTokenizer,
    /** What to call it in messages (its folder). */
    readonly source: string,
    modelMaxLength = DEFAULT_MAX_LENGTH,
  ) {
    const empty = tokenizer.encode("", { addSpecialTokens: true });
    if (empty.length !== 2) {
      throw new UserError(`${source}: the tokenizer must wrap a text in two special tokens ([CLS] ... [SEP] or <s> ... </s>), got ${empty.length} for an empty text`);
    }
    [this.clsId, this.sepId] = empty as [number, number];
    const positions = config.maxPositionEmbeddings - (config.modelType === "roberta" ? config.padTokenId + 1 : 0);
    this.maxLength = Math.min(modelMaxLength, positions);
  }

  /** Reads config.json, the safetensors weights, tokenizer.json and (optionally) tokenizer_config.json. */
  static fromDir(dir: string): EncoderModel {
    if (!existsSync(join(dir, "config.json"))) throw new UserError(`encoder folder ${dir} has no config.json`);
    const config = readEncoderConfig(join(dir, "config.json"));
    const weights = readEncoderWeights(dir, config);
    const tokenizer = TextTokenizer.fromDir(dir);
    let maxLength = DEFAULT_MAX_LENGTH;
    const tc = join(dir, "tokenizer_config.json");
    if (existsSync(tc)) {
      const v = (JSON.parse(readFileSync(tc, "utf8")) as Record<string, unknown>).model_max_length;
      // HF writes a huge sentinel when the length is unknown; the default then applies.
      if (typeof v === "number" && Number.isInteger(v) && v > 2 && v < 1e9) maxLength = v;
    }
    return new EncoderModel(config, weights, tokenizer, dir, maxLength);
  }

  /**
   * The ids of a text as the BERTScore package encodes it with the slow tokenizer: stripped, a space prepended for
   * byte-level BPE (RoBERTa), truncated to maxLength - 2 subwords, wrapped in the two special tokens. An empty text
   * gives just the two.
   */
  encodeText(text: string): number[] {
    const s = text.trim();
    if (s === "") return [this.clsId, this.sepId];
    const body = this.tokenizer.encode(this.config.modelType === "roberta" ? ` ${s}` : s, { addSpecialTokens: false });
    return [this.clsId, ...body.slice(0, this.maxLength - 2), this.sepId];
  }

  private graph(layer: number, options?: CompileOptions): Promise<CompiledGraph<"hidden">> {
    let c = this.graphs.get(layer);
    if (!c) {
      const g = new Graph();
      const w = declareEncoderWeights(g, this.config);
      const ids = g.input("ids", "int64", ["batch", "seq"]);
      const positions = g.input("positions", "int64", ["batch", "seq"]);
      const mask = g.input("mask", "int64", ["batch", "seq"]);
      const states = encoderHiddenStates(this.config, w, { ids, positions, mask }, layer);
      c = compile(g, { hidden: states[layer]! }, { ...options, constants: new Map(this.weights) });
      this.graphs.set(layer, c);
    }
    return c;
  }

  /**
   * Hidden states of `layer` (0 = embeddings, i = the output of layer i) for each row of ids: per row a
   * Float32Array [n * hidden]. Rows run in batches of similar length (sorted by length, padded at the end).
   */
  async hiddenStates(rows: readonly (readonly number[])[], layer: number, options: HiddenStateOptions = {}): Promise<Float32Array[]> {
    if (!Number.isInteger(layer) || layer < 0 || layer > this.config.numLayers) {
      throw new UserError(`${this.source}: layer ${layer} does not exist (the encoder has layers 0..${this.config.numLayers})`);
    }
    const batchSize = options.batchSize ?? 64;
    const D = this.config.hiddenSize;
    const order = rows.map((_, i) => i).sort((a, b) => rows[b]!.length - rows[a]!.length);
    const out = new Array<Float32Array>(rows.length);
    const run = await this.graph(layer, options.compile);
    for (let start = 0; start < order.length; start += batchSize) {
      const batch = order.slice(start, start + batchSize);
      const seq = rows[batch[0]!]!.length;
      const ids = new BigInt64Array(batch.length * seq).fill(BigInt(this.config.padTokenId));
      const positions = new BigInt64Array(batch.length * seq);
      const mask = new BigInt64Array(batch.length * seq);
      batch.forEach((r, b) => {
        const row = rows[r]!;
        const padded = [...row, ...Array<number>(seq - row.length).fill(this.config.padTokenId)];
        positionIds(this.config, padded).forEach((p, t) => (positions[b * seq + t] = BigInt(p)));
        row.forEach((id, t) => {
          if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) {
            throw new UserError(`${this.source}: token id ${id} is outside the vocabulary (size ${this.config.vocabSize})`);
          }
          ids[b * seq + t] = BigInt(id);
          mask[b * seq + t] = 1n;
        });
      });
      const dims = [batch.length, seq];
      const r = await run.run({ ids: { data: ids, dims }, positions: { data: positions, dims }, mask: { data: mask, dims } });
      const h = r.hidden.data as Float32Array;
      batch.forEach((row, b) => (out[row] = h.slice(b * seq * D, (b * seq + rows[row]!.length) * D)));
      options.onProgress?.({ done: Math.min(start + batchSize, order.length), total: order.length });
    }
    return out;
  }

  /** Frees the compiled graphs. */
  async release(): Promise<void> {
    const graphs = [...this.graphs.values()];
    this.graphs.clear();
    for (const g of graphs) await (await g).release();
  }
}
