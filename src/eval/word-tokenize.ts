// nltk's `word_tokenize(text)` (language "english", preserve_line False), the tokenisation HF `evaluate`'s METEOR
// applies: Punkt splits the text into sentences, then nltk's improved Treebank tokenizer (`NLTKWordTokenizer`)
// splits each sentence into tokens. Written from nltk 3.8's behaviour; regular expressions reproduce Python's
// semantics (Unicode `\w`, `\d`, `\s`, and `$` also matching before a final newline).
import { PUNKT_ABBREVIATIONS, PUNKT_COLLOCATIONS, PUNKT_SENTENCE_STARTERS } from "./punkt-english.ts";
import { PY_D, PY_NS, PY_S, PY_W, pyFirstIsLower, pyFirstIsUpper, pyRstrip, pySplit, pyStrip } from "./pytext.ts";

// ---------------------------------------------------------------------------------------------------------------
// Punkt sentence splitting (tokenize only; the parameters are fixed, see punkt-english.ts)
// ---------------------------------------------------------------------------------------------------------------

const ABBREVS = new Set(PUNKT_ABBREVIATIONS);
const STARTERS = new Set(PUNKT_SENTENCE_STARTERS);
const COLLOCATIONS = new Set(PUNKT_COLLOCATIONS.map(([a, b]) => `${a}\u0000${b}`));

const NON_WORD = `(?:[)";}\\]*:@'({[?!])`;
const MULTI_CHAR = `(?:-{2,}|\\.{2,}|(?:\\.${PY_S}){2,}\\.)`;
const WORD_START = `[^("\`{[:;&#*@)}\\]\\-,]`;
const PUNKT_WORD_RE = new RegExp(
  `${MULTI_CHAR}|(?=${WORD_START})${PY_NS}+?(?=${PY_S}|$|${NON_WORD}|${MULTI_CHAR}|,(?=$|${PY_S}|${NON_WORD}|${MULTI_CHAR}))|${PY_NS}`,
  "gu",
);
const PERIOD_CONTEXT_RE = new RegExp(`[.?!](?=(${NON_WORD}|${PY_S}+(${PY_NS}+)))`, "gu");
const RE_NUMERIC = new RegExp(`^-?[.,]?${PY_D}[${PY_D},.\\-]*\\.?$`, "u");
const RE_INITIAL = new RegExp(`^(?:(?!${PY_D})${PY_W})\\.$`, "u");
const RE_ELLIPSIS = /^\.\.+$/;
const BOUNDARY_REALIGN = new RegExp(`^["')\\]}]+?(?:${PY_S}+|(?=--)|(?=\\n|$))`, "u");
const ASCII_WS = " \t\n\r\x0b\x0c";

interface PunktToken {
  tok: string;
  type: string;
  periodFinal: boolean;
  sentbreak: boolean;
  abbr: boolean;
  ellipsis: boolean;
}

function makeToken(tok: string): PunktToken {
  const lower = tok.toLowerCase();
  return {
    tok,
    type: RE_NUMERIC.test(lower) ? "##number##" : lower,
    periodFinal: tok.endsWith("."),
    sentbreak: false,
    abbr: false,
    ellipsis: false,
  };
}

function typeNoPeriod(t: PunktToken): string {
  return t.type.length > 1 && t.type.endsWith(".") ? t.type.slice(0, -1) : t.type;
}

function typeNoSentPeriod(t: PunktToken): string {
  return t.sentbreak ? typeNoPeriod(t) : t.type;
}

function punktWords(text: string): PunktToken[] {
  const out: PunktToken[] = [];
  for (const line of text.split("\n")) {
    if (pyStrip(line).length === 0) continue;
    for (const m of line.matchAll(PUNKT_WORD_RE)) out.push(makeToken(m[0]));
  }
  return out;
}

function firstPass(t: PunktToken): void {
  const tok = t.tok;
  if (tok === "." || tok === "?" || tok === "!") t.sentbreak = true;
  else if (RE_ELLIPSIS.test(tok)) t.ellipsis = true;
  else if (t.periodFinal && !tok.endsWith("..")) {
    const base = tok.slice(0, -1).toLowerCase();
    const parts = base.split("-");
    if (ABBREVS.has(base) || ABBREVS.has(parts[parts.length - 1]!)) t.abbr = true;
    else t.sentbreak = true;
  }
}

// Orthographic context flags of a word type (where it was seen upper/lower case: sentence start, middle, unknown).
// nltk's English model carries a table of these; here the table is empty, so every type reads as unseen (0).
const ORTHO_BEG_UC = 1 << 1;
const ORTHO_MID_UC = 1 << 2;
const ORTHO_UNK_UC = 1 << 3;
const ORTHO_BEG_LC = 1 << 4;
const ORTHO_MID_LC = 1 << 5;
const ORTHO_UNK_LC = 1 << 6;
const ORTHO_UC = ORTHO_BEG_UC | ORTHO_MID_UC | ORTHO_UNK_UC;
const ORTHO_LC = ORTHO_BEG_LC | ORTHO_MID_LC | ORTHO_UNK_LC;
const ORTHO_TABLE = new Map<string, number>();
const orthoContext = (type: string): number => ORTHO_TABLE.get(type) ?? 0;

/** Whether the token starts a sentence, judged from how its type was cased elsewhere. */
function orthoHeuristic(t: PunktToken): boolean | "unknown" {
  if (t.tok.length === 1 && ";:,.!?".includes(t.tok)) return false;
  const ctx = orthoContext(typeNoSentPeriod(t));
  if (pyFirstIsUpper(t.tok) && ctx & ORTHO_LC && !(ctx & ORTHO_MID_UC)) return true;
  if (pyFirstIsLower(t.tok) && (ctx & ORTHO_UC || !(ctx & ORTHO_BEG_LC))) return false;
  return "unknown";
}

function secondPass(t1: PunktToken, t2: PunktToken | undefined): void {
  if (!t2 || !t1.periodFinal) return;
  const typ = typeNoPeriod(t1);
  const nextTyp = typeNoSentPeriod(t2);
  const isInitial = RE_INITIAL.test(t1.tok);
  if (COLLOCATIONS.has(`${typ}\u0000${nextTyp}`)) {
    t1.sentbreak = false;
    t1.abbr = true;
    return;
  }
  if ((t1.abbr || t1.ellipsis) && !isInitial) {
    if (orthoHeuristic(t2) === true) {
      t1.sentbreak = true;
      return;
    }
    if (pyFirstIsUpper(t2.tok) && STARTERS.has(nextTyp)) {
      t1.sentbreak = true;
      return;
    }
  }
  if (isInitial || typ === "##number##") {
    const starter = orthoHeuristic(t2);
    if (starter === false) {
      t1.sentbreak = false;
      t1.abbr = true;
      return;
    }
    if (starter === "unknown" && isInitial && pyFirstIsUpper(t2.tok) && !(orthoContext(nextTyp) & ORTHO_LC)) {
      t1.sentbreak = false;
      t1.abbr = true;
    }
  }
}

function containsSentbreak(context: string): boolean {
  const toks = punktWords(context);
  for (const t of toks) firstPass(t);
  let found = false;
  for (let i = 0; i < toks.length; i++) {
    secondPass(toks[i]!, toks[i + 1]);
    if (found) return true;
    if (toks[i]!.sentbreak) found = true;
  }
  return false;
}

function lastAsciiWhitespace(s: string): number {
  for (let i = s.length - 1; i >= 0; i--) if (ASCII_WS.includes(s[i]!)) return i;
  return 0;
}

interface EndContext {
  /** Index of the sentence-end character. */
  index: number;
  /** Start of the token after the whitespace, or -1 when the lookahead matched other punctuation. */
  nextStart: number;
  context: string;
}

function potentialEndContexts(text: string): EndContext[] {
  const out: EndContext[] = [];
  let prevStart = 0;
  let prevStop = 0;
  let prev: { index: number; after: string; next: string | undefined } | null = null;
  const emit = (): void => {
    if (!prev) return;
    const nextStart = prev.next === undefined ? -1 : prev.index + 1 + prev.after.length - prev.next.length;
    out.push({ index: prev.index, nextStart, context: text.slice(prevStart, prevStop) + text[prev.index]! + prev.after });
  };
  for (const m of text.matchAll(PERIOD_CONTEXT_RE)) {
    const start = m.index;
    const before = text.slice(prevStop, start);
    let wordStart = lastAsciiWhitespace(before);
    if (wordStart) wordStart += prevStop + 1;
    else wordStart = prevStart;
    if (prev && prevStop <= wordStart) emit();
    prev = { index: start, after: m[1]!, next: m[2] };
    prevStart = wordStart;
    prevStop = start;
  }
  emit();
  return out;
}

/** nltk's `sent_tokenize(text)` with the English Punkt parameters (realigning closing punctuation). */
export function punktSentences(text: string): string[] {
  const slices: [number, number][] = [];
  let lastBreak = 0;
  for (const c of potentialEndContexts(text)) {
    if (containsSentbreak(c.context)) {
      slices.push([lastBreak, c.index + 1]);
      lastBreak = c.nextStart >= 0 ? c.nextStart : c.index + 1;
    }
  }
  slices.push([lastBreak, pyRstrip(text).length]);
  // Realign boundaries: closing quotes/brackets after a break belong to the previous sentence.
  const out: string[] = [];
  let realign = 0;
  for (let i = 0; i < slices.length; i++) {
    const s1: [number, number] = [slices[i]![0] + realign, slices[i]![1]];
    const s2 = slices[i + 1];
    if (!s2) {
      if (s1[1] > s1[0]) out.push(text.slice(s1[0], s1[1]));
      continue;
    }
    const m = BOUNDARY_REALIGN.exec(text.slice(s2[0], s2[1]));
    if (m) {
      out.push(text.slice(s1[0], s2[0] + pyRstrip(m[0]).length));
      realign = m[0].length;
    } else {
      realign = 0;
      if (s1[1] > s1[0]) out.push(text.slice(s1[0], s1[1]));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// nltk's improved Treebank word tokenizer
// ---------------------------------------------------------------------------------------------------------------

const PY_END = "(?=\\n?$)";
const NOT_W = `(?!${PY_W})`;
type Sub = [RegExp, string];

const STARTING_QUOTES: Sub[] = [
  [/([«“‘„]|`+)/gu, " $1 "],
  [/^"/u, "``"],
  [/(``)/gu, " $1 "],
  [/([ ([{<])("|'{2})/gu, "$1 `` "],
  [new RegExp(`(')(?!re|ve|ll|m|t|s|d|n)(${PY_W})${NOT_W}`, "giu"), "$1 $2"],
];

const PUNCTUATION: Sub[] = [
  [new RegExp(`([^.])(\\.)([\\]\\)}>"'»”’ ]*)${PY_S}*${PY_END}`, "gu"), "$1 $2 $3 "],
  [new RegExp(`([:,])([^${PY_D}])`, "gu"), " $1 $2"],
  [new RegExp(`([:,])${PY_END}`, "gu"), " $1 "],
  [/\.{2,}/gu, " $& "],
  [/[;@#$%&]/gu, " $& "],
  [new RegExp(`([^.])(\\.)([\\]\\)}>"']*)${PY_S}*${PY_END}`, "gu"), "$1 $2$3 "],
  [/[?!]/gu, " $& "],
  [/([^'])' /gu, "$1 ' "],
  [/[*]/gu, " $& "],
];

const PARENS_BRACKETS: Sub = [/[\][(){}<>]/gu, " $& "];
const DOUBLE_DASHES: Sub = [/--/gu, " -- "];

const ENDING_QUOTES: Sub[] = [
  [/([»”’])/gu, " $1 "],
  [/''/gu, " '' "],
  [/"/gu, " '' "],
  [/([^' ])('[sS]|'[mM]|'[dD]|') /gu, "$1 $2 "],
  [/([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) /gu, "$1 $2 "],
];

const NOT_W_BEFORE = `(?<!${PY_W})`;
const CONTRACTIONS: Sub[] = [
  ...[
    ["can", "not"],
    ["d", "'ye"],
    ["gim", "me"],
    ["gon", "na"],
    ["got", "ta"],
    ["lem", "me"],
    ["more", "'n"],
  ].map(([a, b]): Sub => [new RegExp(`${NOT_W_BEFORE}(${a})(${b})${NOT_W}`, "giu"), " $1 $2 "]),
  [new RegExp(`${NOT_W_BEFORE}(wan)(na)(?=${PY_S})`, "giu"), " $1 $2 "],
  [new RegExp(` ('t)(is)${NOT_W}`, "giu"), " $1 $2 "],
  [new RegExp(` ('t)(was)${NOT_W}`, "giu"), " $1 $2 "],
];

/** nltk's `NLTKWordTokenizer().tokenize(sentence)`. */
export function treebankTokenize(sentence: string): string[] {
  let text = sentence;
  for (const [re, sub] of STARTING_QUOTES) text = text.replace(re, sub);
  for (const [re, sub] of PUNCTUATION) text = text.replace(re, sub);
  text = text.replace(PARENS_BRACKETS[0], PARENS_BRACKETS[1]);
  text = text.replace(DOUBLE_DASHES[0], DOUBLE_DASHES[1]);
  text = ` ${text} `;
  for (const [re, sub] of ENDING_QUOTES) text = text.replace(re, sub);
  for (const [re, sub] of CONTRACTIONS) text = text.replace(re, sub);
  return pySplit(text);
}

/** nltk's `word_tokenize(text)`: Punkt sentences, then the improved Treebank tokenizer on each. */
export function wordTokenize(text: string): string[] {
  const out: string[] = [];
  for (const s of punktSentences(text)) for (const t of treebankTokenize(s)) out.push(t);
  return out;
}

/** Exposed for tests: Punkt's word segmentation used to decide sentence breaks. */
export function punktWordTokens(text: string): string[] {
  return punktWords(text).map((t) => t.tok);
}

