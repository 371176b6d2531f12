// String primitives with Python 3 `str` semantics. The reference metric packages are Python code, and their results
// depend on what Python calls whitespace, a word character or a digit; JavaScript's built-ins differ at the edges
// (for example `\s` includes U+FEFF but not U+001C..U+001F or U+0085). Every tokenizer in this folder uses these.

/** Characters for which Python's `str.isspace()` is true (also exactly what `re`'s `\s` matches in str patterns). */
export const PY_WS_CLASS = "\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
/** Regex source of Python's `\s` and `\S`. */
export const PY_S = `[${PY_WS_CLASS}]`;
export const PY_NS = `[^${PY_WS_CLASS}]`;
/** Regex source of Python's Unicode `\w` (letters, numbers, underscore) and `\W`; use with the `u` flag. */
export const PY_W = "[\\p{L}\\p{N}_]";
export const PY_NW = "[^\\p{L}\\p{N}_]";
/** Python's Unicode `\d`. */
export const PY_D = "\\p{Nd}";

const WS_RUN = new RegExp(`${PY_S}+`, "g");
const WS_ONE = new RegExp(`^${PY_S}$`);
const LEADING_WS = new RegExp(`^${PY_S}+`);
const TRAILING_WS = new RegExp(`${PY_S}+$`);

/** Python's `s.split()` with no argument: split on runs of whitespace, no empty strings. */
export function pySplit(s: string): string[] {
  const out: string[] = [];
  for (const part of s.split(WS_RUN)) if (part.length > 0) out.push(part);
  return out;
}

export function pyIsSpace(ch: string): boolean {
  return WS_ONE.test(ch);
}

export function pyStrip(s: string): string {
  return s.replace(LEADING_WS, "").replace(TRAILING_WS, "");
}

export function pyRstrip(s: string): string {
  return s.replace(TRAILING_WS, "");
}

/** Python's `str.lower()` (full Unicode case mapping, like JavaScript's). */
export function pyLower(s: string): string {
  return s.toLowerCase();
}

/** Python's `c.isupper()` / `c.islower()` for the first code point of a string. */
export function pyFirstIsUpper(s: string): boolean {
  const c = firstCodePoint(s);
  return c !== "" && /\p{Uppercase}/u.test(c);
}

export function pyFirstIsLower(s: string): boolean {
  const c = firstCodePoint(s);
  return c !== "" && /\p{Lowercase}/u.test(c);
}

function firstCodePoint(s: string): string {
  const cp = s.codePointAt(0);
  return cp === undefined ? "" : String.fromCodePoint(cp);
}

/** Length in code points, as Python's `len(str)`. */
export function pyLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n += 1;
    else {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i += 1;
      n += 1;
    }
  }
  return n;
}
