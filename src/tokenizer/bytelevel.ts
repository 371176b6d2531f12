// Byte-level BPE building blocks shared by the trainer and its encoder: the GPT-2 byte <-> printable character map
// and the Qwen2 pre-tokenisation pattern.

/**
 * Qwen2's pre-tokenisation pattern exactly as its tokenizer.json writes it (Rust/Oniguruma syntax): contractions,
 * letter runs with one optional leading non-letter, single digits, punctuation runs, newlines, whitespace.
 */
export const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/**
 * The same pattern in JavaScript syntax: the case-insensitive group spelled out for ASCII, and `\s` as Unicode
 * White_Space (JavaScript's `\s` differs: it adds U+FEFF and lacks U+0085).
 */
export const QWEN2_SPLIT_REGEX =
  /'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\p{White_Space}\p{L}\p{N}]+[\r\n]*|\p{White_Space}*[\r\n]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+/gu;

/** Splits text into pre-tokens with the Qwen2 pattern (the pieces concatenate back to `text`). */
export function preTokenize(text: string): string[] {
  return text.match(QWEN2_SPLIT_REGEX) ?? [];
}

/** byte value -> printable character (GPT-2's bytes_to_unicode). */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
})();

/** printable character -> byte value. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const utf8 = new TextEncoder();

/** The byte-level string of a piece of text (each UTF-8 byte as its printable character). */
export function toByteLevel(text: string): string {
  let s = "";
  for (const b of utf8.encode(text)) s += BYTE_TO_CHAR[b];
  return s;
}

/** Bytes of a byte-level string; throws on characters outside the map. */
export function fromByteLevel(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) throw new Error(`not a byte-level character: ${JSON.stringify(ch)}`);
    out.push(b);
  }
  return Uint8Array.from(out);
}
