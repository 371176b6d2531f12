// Tokenizers of Hugging Face model folders: tokenizer.json through @huggingface/tokenizers, the chat template of
// tokenizer_config.json through @huggingface/jinja. FlyThinker's two models must share one tokenizer; `compare`
// finds the first token id on which two tokenizers disagree.

import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { Template } from "@huggingface/jinja";
import { locateTemplateError } from "./template-position.ts";
import { UserError } from "../util/errors.ts";
import { StringMemo } from "../util/memo.ts";

/** Characters of the texts whose ids are kept (prompt building counts the same history pieces again and again, for
 * every record of a user), per kind of encoding; about 2 bytes per character plus the ids. */
const MEMO_CHARS = 32 << 20;
type EncodeMemo = { special: StringMemo<readonly number[]>; plain: StringMemo<readonly number[]> };
/** One memo per tokenizer (keyed by everything encoding reads, see the constructor), shared by every instance in the process, so runs that each read the same
 * tokenizer again (a bench's training runs) reuse what the others encoded; the four most recent tokenizers are kept. */
const MEMOS = new Map<string, EncodeMemo>();
function memoFor(fingerprint: string): EncodeMemo {
  let m = MEMOS.get(fingerprint);
  if (m === undefined) {
    m = { special: new StringMemo(MEMO_CHARS), plain: new StringMemo(MEMO_CHARS) };
    MEMOS.set(fingerprint, m);
    if (MEMOS.size > 4) MEMOS.delete(MEMOS.keys().next().value as string);
  }
  return m;
}

export interface ChatMessage {
  role: string;
  content: string;
}

export interface ChatTemplateOptions {
  /** End with the header of an assistant turn (the model's answer follows). Default false. */
  addGenerationPrompt?: boolean;
  /** More template variables (e.g. enable_thinking for Qwen3 templates). */
  variables?: Record<string, unknown>;
}

export interface TokenizerMismatch {
  /** First token id whose token differs (null when the vocabularies agree but merges or splitting rules differ). */
  id: number | null;
  ours: string | null;
  theirs: string | null;
  message: string;
}

/** A JSON object read from a file (UserError naming the file otherwise). */
export function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new UserError(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}

/** A token setting of tokenizer_config.json: a string, {content: string}, or null. */
function tokenSetting(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (v !== null && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") {
    return (v as { content: string }).content;
  }
  return null;
}

export class TextTokenizer {
  /** Where it was read from (for messages). */
  readonly source: string;
  /** One more than the largest token id (vocabulary plus added tokens). */
  readonly vocabSize: number;
  readonly eosId: number | null;
  readonly padId: number | null;
  readonly bosId: number | null;
  readonly imStartId: number | null;
  readonly imEndId: number | null;
  readonly endOfTextId: number | null;
  readonly eosToken: string | null;
  readonly chatTemplate: string | null;
  /** sha256 of the vocabulary, merges, added tokens and splitting/normalising rules. */
  readonly fingerprint: string;
  private readonly tok: Tokenizer;
  private readonly config: Record<string, unknown>;
  private readonly idToTok: (string | undefined)[];
  private readonly special: Set<number>;
  private template: Template | null = null;
  /** Ids of texts already encoded, with and without the tokenizer's added special tokens. */
  private readonly memo: EncodeMemo;

  constructor(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>, source: string) {
    this.source = source;
    const model = tokenizerJson.model as Record<string, unknown> | undefined;
    if (!model || typeof model !== "object" || typeof model.type !== "string") {
      throw new UserError(`${source}: not a tokenizer.json (no "model" with a "type")`);
    }
    try {
      // Decoding must give back the text exactly: no clean-up of spaces before punctuation.
      this.tok = new Tokenizer(tokenizerJson, { clean_up_tokenization_spaces: false, ...tokenizerConfig });
    } catch (e) {
      throw new UserError(`${source}: cannot build the tokenizer (${(e as Error).message})`);
    }
    this.config = tokenizerConfig;
    const vocab = this.tok.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) max = Math.max(max, id);
    this.vocabSize = max + 1;
    this.idToTok = new Array(this.vocabSize);
    for (const [t, id] of vocab) this.idToTok[id] = t;
    this.special = new Set();
    for (const a of (tokenizerJson.added_tokens as { id: number; special?: boolean }[] | undefined) ?? []) {
      if (a.special) this.special.add(a.id);
    }
    const id = (t: string | null) => (t === null ? null : (this.tok.token_to_id(t) ?? null));
    this.eosToken = tokenSetting(tokenizerConfig.eos_token);
    this.eosId = id(this.eosToken);
    this.padId = id(tokenSetting(tokenizerConfig.pad_token));
    this.bosId = id(tokenSetting(tokenizerConfig.bos_token));
    this.imStartId = id("<|im_start|>");
    this.imEndId = id("<|im_end|>");
    this.endOfTextId = id("<|endoftext|>");
    const ct = tokenizerConfig.chat_template;
    this.chatTemplate = typeof ct === "string" ? ct : null;
    const h = createHash("sha256");
    h.update(JSON.stringify([model.type, tokenizerJson.normalizer ?? null, tokenizerJson.pre_tokenizer ?? null, tokenizerJson.decoder ?? null]));
    for (let i = 0; i < this.vocabSize; i++) h.update(`${i}\u0000${this.idToTok[i] ?? ""}\u0001${this.special.has(i) ? 1 : 0}\n`);
    h.update(JSON.stringify(model.merges ?? null));
    this.fingerprint = h.digest("hex");
    // the memo's key: the fingerprint (vocabulary, merges, splitting rules) plus everything else that encoding reads
    const { vocab: _v, merges: _m, ...modelRest } = model;
    const { model: _model, ...jsonRest } = tokenizerJson;
    const k = createHash("sha256").update(this.fingerprint).update(JSON.stringify([modelRest, jsonRest, tokenizerConfig]));
    this.memo = memoFor(k.digest("hex"));
  }

  /** The tokenizer_config.json that holds the chat template (named in template errors). */
  private get configSource(): string {
    return basename(this.source) === "tokenizer.json" ? join(dirname(this.source), "tokenizer_config.json") : `${this.source} (tokenizer_config.json)`;
  }

  /** Reads `tokenizer.json` (required) and `tokenizer_config.json` (optional) from a folder. */
  static fromDir(dir: string): TextTokenizer {
    const tj = join(dir, "tokenizer.json");
    if (!existsSync(tj)) throw new UserError(`${dir} has no tokenizer.json`);
    const tc = join(dir, "tokenizer_config.json");
    return new TextTokenizer(readJson(tj), existsSync(tc) ? readJson(tc) : {}, tj);
  }

  /** Token ids of a text. Special token strings in the text become their ids. */
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    const special = opts.addSpecialTokens ?? true;
    const run = (t: string): number[] => this.tok.encode(t, { add_special_tokens: special }).ids;
    return [...(special ? this.memo.special : this.memo.plain).get(text, run)];
  }

  /** Text of token ids. */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new UserError(`token id ${id} is outside the vocabulary of ${this.source} (size ${this.vocabSize})`);
      }
    }
    if (ids.length === 0) return "";
    return this.tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
  }

  tokenToId(token: string): number | null {
    return this.tok.token_to_id(token) ?? null;
  }

  idToToken(id: number): string | null {
    return this.idToTok[id] ?? null;
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  /** The chat template of tokenizer_config.json rendered for `messages`. */
  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): string {
    if (this.chatTemplate === null) throw new UserError(`${this.source}: tokenizer_config.json has no chat_template`);
    this.template ??= compileChatTemplate(this.chatTemplate, this.configSource);
    const vars: Record<string, unknown> = {
      messages: messages.map((m) => ({ ...m })),
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      bos_token: tokenSetting(this.config.bos_token) ?? "",
      eos_token: this.eosToken ?? "",
      pad_token: tokenSetting(this.config.pad_token) ?? "",
      unk_token: tokenSetting(this.config.unk_token) ?? "",
      ...opts.variables,
    };
    try {
      return this.template.render(vars);
    } catch (e) {
      throw new UserError(`${this.source}: chat template failed: ${(e as Error).message}`);
    }
  }

  /** Ids of the rendered chat (the template writes any special tokens itself, so none are added). */
  encodeChat(messages: readonly ChatMessage[], opts: ChatTemplateOptions = {}): number[] {
    return this.encode(this.applyChatTemplate(messages, opts), { addSpecialTokens: false });
  }

  /**
   * null when both tokenizers map every id to the same token with the same splitting rules; else the first id
   * that differs (or id null when only merges / normalisation / pre-tokenisation differ).
   */
  compare(other: TextTokenizer): TokenizerMismatch | null {
    if (this.fingerprint === other.fingerprint) return null;
    const n = Math.max(this.vocabSize, other.vocabSize);
    for (let i = 0; i < n; i++) {
      const a = this.idToTok[i] ?? null;
      const b = other.idToTok[i] ?? null;
      if (a !== b || this.special.has(i) !== other.special.has(i)) {
        return {
          id: i,
          ours: a,
          theirs: b,
          message:
            `tokenizers differ at token id ${i}: ${JSON.stringify(a)} in ${this.source}, ` +
            `${JSON.stringify(b)} in ${other.source} (vocabulary sizes ${this.vocabSize} and ${other.vocabSize})`,
        };
      }
    }
    return {
      id: null,
      ours: null,
      theirs: null,
      message: `tokenizers ${this.source} and ${other.source} have the same vocabulary but different merges or splitting rules`,
    };
  }

  /** Throws a UserError unless `other` is the same tokenizer (FlyThinker's two models must share one). */
  assertSame(other: TextTokenizer, what = "the two models"): void {
    const m = this.compare(other);
    if (m) throw new UserError(`${what} must share one tokenizer: ${m.message}`);
  }
}

/**
 * Incremental decoding for streaming output: push ids one at a time and get the text that became final.
 * Text is held back while the ids so far end inside an incomplete UTF-8 character.
 */
export class StreamingDecoder {
  private ids: number[] = [];
  private emitted = 0;

  constructor(
    private readonly tokenizer: TextTokenizer,
    private readonly opts: { skipSpecialTokens?: boolean } = {},
  ) {}

  push(id: number): string {
    this.ids.push(id);
    const text = this.tokenizer.decode(this.ids, this.opts);
    if (text.endsWith("\uFFFD")) return "";
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }

  /** Whatever is left (including replacement characters for a truncated UTF-8 sequence). */
  flush(): string {
    const text = this.tokenizer.decode(this.ids, this.opts);
    const out = text.slice(this.emitted);
    this.emitted = text.length;
    return out;
  }
}

/** Parses a chat template; a syntax error is a UserError naming the config file and, where found, the position. */
function compileChatTemplate(text: string, file: string): Template {
  try {
    return new Template(text);
  } catch (e) {
    const where = locateTemplateError(text);
    const pos = where ? ` at line ${where.line}, column ${where.column} of the template: ${where.problem}` : "";
    throw new UserError(`${file}: chat_template has a syntax error${pos} (${(e as Error).message})`);
  }
}
