// BERTScore of candidate texts against one or more references each, with an encoder from a Hugging Face folder,
// as `bert_score.score(cands, refs, model_type, num_layers, idf, rescale_with_baseline)` computes it:
//  - texts encoded as EncoderModel.encodeText does (the package's sent_encode with the slow tokenizer);
//  - token vectors = the output of layer L (the encoder cut after L layers), special tokens included;
//  - weights 1 with [CLS]/[SEP] at 0, or idf from the references (all of them, flattened);
//  - pairs (each candidate once per reference) scored in the package's batches of 64 in order, with its
//    padded-partner rule (./match.ts); the multi-reference max of P, R and F; then the optional rescaling.
import { basename, join } from "node:path";
import { existsSync, readFileSync } from "node:fs";
import { EncoderModel, type EncodeProgress } from "../../model/encoder/model.ts";
import type { CompileOptions } from "../../runtime/session.ts";
import { UserError } from "../../util/errors.ts";
import { greedyMatch, IdfWeights, maxOver, normalize, plainWeights, type PRF3, type TokenVectors } from "./match.ts";
import { readBaseline, rescale, type BaselineRow } from "./rescale.ts";

/** The package's default layer for the models of these families it knows (model2layers). */
export const DEFAULT_LAYERS: Readonly<Record<string, number>> = {
  "bert-base-uncased": 9,
  "bert-large-uncased": 18,
  "bert-base-multilingual-cased": 9,
  "roberta-base": 10,
  "roberta-large": 17,
  "roberta-large-mnli": 19,
  "distilbert-base-uncased": 5,
  "distilroberta-base": 5,
};

/** The package scores pairs in batches of this many. */
export const PAIR_BATCH = 64;

export interface BertScoreOptions {
  /** Layer whose output is used (default: the package's layer for a known model name). */
  layer?: number;
  idf?: boolean;
  /** A baseline file (LAYER,P,R,F) to rescale with. */
  baselineFile?: string;
  /** Texts per encoder run (default 64). */
  batchSize?: number;
  compile?: CompileOptions;
}

export interface BertScoreResult {
  /** Per candidate, in input order. */
  P: number[];
  R: number[];
  F: number[];
}

/** The model's name: config.json's `_name_or_path` (its last part) or the folder's name. */
function modelName(dir: string): string {
  try {
    const v = (JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>)._name_or_path;
    if (typeof v === "string" && v.trim() !== "") return basename(v.trim());
  } catch {
    // the encoder itself reports a bad config.json
  }
  return basename(dir.replace(/[\\/]+$/, ""));
}

export class BertScorer {
  readonly layer: number;
  readonly idf: boolean;
  readonly baseline: BaselineRow | null;
  readonly name: string;
  /** The package-style description: model, layer, idf, version and rescaling. */
  readonly hash: string;
  private readonly cache = new Map<string, number[]>();

  constructor(
    readonly model: EncoderModel,
    name: string,
    private readonly opts: BertScoreOptions = {},
  ) {
    this.name = name;
    const layer = opts.layer ?? DEFAULT_LAYERS[name];
    if (layer === undefined) {
      const known = Object.entries(DEFAULT_LAYERS).map(([m, l]) => `${m} ${l}`).join(", ");
      throw new UserError(`BERTScore: no default layer for the model "${name}"; give --bertscore-layer (the package's defaults: ${known})`);
    }
    if (!Number.isInteger(layer) || layer < 0 || layer > model.config.numLayers) {
      throw new UserError(`--bertscore-layer must be an integer in 0..${model.config.numLayers} for ${model.source}, got ${layer}`);
    }
    this.layer = layer;
    this.idf = opts.idf ?? false;
    this.baseline = opts.baselineFile ? readBaseline(opts.baselineFile, layer) : null;
    let hash = `${name}_L${layer}_${this.idf ? "idf" : "no-idf"}_version=flythinker.ts(slow-tokenizer encoding)`;
    if (opts.baselineFile) hash += basename(opts.baselineFile) === `${name}.tsv` ? "-rescaled" : "-custom-rescaled";
    this.hash = hash;
  }

  /** Reads the encoder folder. */
  static fromDir(dir: string, opts: BertScoreOptions = {}): BertScorer {
    if (!existsSync(dir)) throw new UserError(`--bertscore-model ${dir} does not exist`);
    return new BertScorer(EncoderModel.fromDir(dir), modelName(dir), opts);
  }

  private ids(text: string): number[] {
    let ids = this.cache.get(text);
    if (!ids) {
      ids = this.model.encodeText(text);
      this.cache.set(text, ids);
    }
    return ids;
  }

  /** Normalised layer vectors of texts (each text once). */
  private async vectors(texts: readonly string[]): Promise<Map<string, TokenVectors>> {
    const unique = [...new Set(texts)];
    const rows = unique.map((t) => this.ids(t));
    const hidden = await this.model.hiddenStates(rows, this.layer, { batchSize: this.opts.batchSize, compile: this.opts.compile });
    const dim = this.model.config.hiddenSize;
    return new Map(unique.map((t, i) => [t, { ids: rows[i]!, vectors: normalize(hidden[i]!, dim), dim }]));
  }

  /**
   * Raw pair scores (no multi-reference max, no rescaling) of flattened pairs, in the package's batches.
   * `weight` gives token weights.
   */
  private async pairScores(
    cands: readonly string[],
    refs: readonly string[],
    weight: (id: number) => number,
    onProgress?: (p: EncodeProgress) => void,
  ): Promise<PRF3[]> {
    const out: PRF3[] = [];
    for (let start = 0; start < refs.length; start += PAIR_BATCH) {
      const c = cands.slice(start, start + PAIR_BATCH);
      const r = refs.slice(start, start + PAIR_BATCH);
      const vecs = await this.vectors([...c, ...r]);
      const maxC = Math.max(...c.map((t) => vecs.get(t)!.ids.length));
      const maxR = Math.max(...r.map((t) => vecs.get(t)!.ids.length));
      c.forEach((cand, i) => {
        const cv = vecs.get(cand)!;
        const rv = vecs.get(r[i]!)!;
        out.push(greedyMatch(cv, rv, weight, { refPadded: rv.ids.length < maxR, candPadded: cv.ids.length < maxC }));
      });
      onProgress?.({ done: Math.min(start + PAIR_BATCH, refs.length), total: refs.length });
    }
    return out;
  }

  /**
   * P, R and F of each candidate against its references (a string or a list); with several, the element-wise max.
   * Rescaled when a baseline file was given.
   */
  async score(
    cands: readonly string[],
    refs: readonly (string | readonly string[])[],
    onProgress?: (p: EncodeProgress) => void,
  ): Promise<BertScoreResult> {
    if (cands.length !== refs.length) throw new UserError(`BERTScore: ${cands.length} candidates but ${refs.length} reference entries`);
    const groups = refs.map((r) => (typeof r === "string" ? [r] : [...r]));
    groups.forEach((g, i) => {
      if (g.length === 0) throw new UserError(`BERTScore: candidate ${i + 1} has no reference`);
    });
    const flatCands = groups.flatMap((g, i) => g.map(() => cands[i]!));
    const flatRefs = groups.flat();
    const weight = this.idf
      ? ((w) => (id: number) => w.weight(id))(new IdfWeights(flatRefs.map((t) => this.ids(t))))
      : plainWeights(this.model.clsId, this.model.sepId);
    const pairs = await this.pairScores(flatCands, flatRefs, weight, onProgress);
    const result: BertScoreResult = { P: [], R: [], F: [] };
    let k = 0;
    for (const g of groups) {
      let s = maxOver(pairs.slice(k, k + g.length));
      k += g.length;
      if (this.baseline) s = rescale(s, this.baseline);
      result.P.push(s.P);
      result.R.push(s.R);
      result.F.push(s.F);
    }
    return result;
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}
