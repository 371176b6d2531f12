// Turns the plain text of a mail into what its sender wrote: quoted replies, attribution lines, forwarded and
// "original message" blocks, PGP armour, signatures and mailing-list footers go; whitespace is normalised and
// hard-wrapped paragraphs are joined. Rules are line based and deterministic.

/** A line of quoted text: "> x", ">> x", supercite "JM> x", "| x", ") x", "--] x". */
const QUOTE_LINE = /^\s*(>|[A-Za-z][A-Za-z0-9_-]{0,5}>(\s|$)|[|)](\s|$)|--\])/;

/** The last line of an attribution such as "On Mon, 1 Jan 2002, Ann <a@b> wrote:". */
const ATTRIBUTION_END = /\b(wrote|writes|said|says|mentioned|included|schrieb|skrev|a écrit|escribió|scripsit)\s*:\s*$/i;
const ATTRIBUTION_START = /^\s*(On|At|In|Quoting|Le|Am|El|--- In)\b/;
const QUOTING_LINE = /^\s*Quoting\b.*:\s*$/;

/** Lines from which everything below is someone else's text (forwards, top-posted replies). */
const CUT_MARKERS: RegExp[] = [
  /^\s*-{2,}\s*Original Message\s*-{2,}\s*$/i,
  /^\s*-{2,}\s*Forwarded message\s*-{2,}\s*$/i,
  /^\s*-{2,}\s*Forwarded Message\s*-{0,}\s*$/i,
  /^\s*Begin forwarded message:?\s*$/i,
  /^\s*Forwarded[- ]by:/i,
  /^\s*-{2,}\s*(Start|Begin) of forwarded message\s*-{2,}\s*$/i,
  /^\s*_{5,}\s*Reply Separator\s*_{5,}/i,
  /^\s*-{2,}\s*begin forwarded text\s*$/i,
];

/** Lines that start a mailing-list footer or advertisement block; everything from there on goes. */
const FOOTER_MARKERS: RegExp[] = [
  /^-{5,}\s*Yahoo! Groups Sponsor/i,
  /^\s*To unsubscribe from this group, send an email to:?/i,
  /^\s*Your use of Yahoo! Groups is subject to/i,
  /^\s*This (sf|SF)\.(net|NET) email is sponsored by/i,
  /^\s*https?:\/\/\S*\/(mailman\/)?listinfo\/\S*\s*$/i,
  /^\s*Irish Linux Users' Group:/i,
  /^\s*\S[\w .-]* mailing list\s*(<\S+@\S+>)?\s*$/i,
  /^\s*Get your FREE download of MSN Explorer/i,
  /^\s*(Join|Send and receive Hotmail|Chat with friends|MSN Photos|Get more from the Web)\b.*\b(MSN|Hotmail)\b/i,
  /^\s*Do you Yahoo!\?\s*$/i,
  /^\s*You have received this message because you subscribed/i,
];

const SIGNATURE_SEPARATOR = /^\s?--\s*$/;
const UNDERSCORE_RULE = /^\s*_{15,}\s*$/;
const DASH_RULE = /^\s*-{15,}\s*$/;

/** Removes PGP armour: the "BEGIN PGP SIGNED MESSAGE" header with its Hash line and the signature block. */
function stripPgp(lines: string[]): string[] {
  const out: string[] = [];
  let inSignature = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^-----BEGIN PGP SIGNED MESSAGE-----/.test(l)) {
      while (i + 1 < lines.length && /^Hash:/i.test(lines[i + 1]!)) i++;
      continue;
    }
    if (/^-----BEGIN PGP SIGNATURE-----/.test(l)) {
      inSignature = true;
      continue;
    }
    if (inSignature) {
      if (/^-----END PGP SIGNATURE-----/.test(l)) inSignature = false;
      continue;
    }
    out.push(l.replace(/^- (-)/, "$1")); // dash-escaped lines of clear-signed text
  }
  return out;
}

/** The text after removing quotes: the sender's own lines and, separately, the quoted lines (prefix removed). */
export interface SplitQuotes {
  own: string[];
  quoted: string[];
}

/** "On ..., Ann wrote:", "Ann <a@b> writes:", "Quoting Ann:" - short lines that introduce quoted text. */
function isAttribution(trimmed: string): boolean {
  if (trimmed.length === 0 || trimmed.length > 200) return false;
  if (QUOTING_LINE.test(trimmed)) return true;
  if (!ATTRIBUTION_END.test(trimmed)) return false;
  return ATTRIBUTION_START.test(trimmed) || /[<@"(]/.test(trimmed) || trimmed.split(/\s+/).length <= 8;
}

/** A short piece of a line (up to 3 words) that does not start with a capital letter. */
function isWrapFragment(line: string): boolean {
  const t = line.trim();
  return t !== "" && t.split(/\s+/).length <= 3 && !/^\p{Lu}/u.test(t) && !QUOTE_LINE.test(line);
}

/** Rarer quote prefixes ("# "), taken as quoting only when a mail quotes a footer or an attribution with them. */
const ALTERNATIVE_QUOTES: RegExp[] = [/^#(\s|$)/];

function alternativeQuotePrefix(lines: string[]): RegExp | undefined {
  return ALTERNATIVE_QUOTES.find((re) => {
    const inner = lines.filter((l) => re.test(l)).map((l) => l.replace(re, "").trim());
    return inner.length >= 3 && inner.some((l) => isAttribution(l) || FOOTER_MARKERS.some((m) => m.test(l)));
  });
}

/** Separates quoted lines (and attribution lines) from the sender's own lines. */
export function splitQuotes(lines: string[]): SplitQuotes {
  const own: string[] = [];
  const quoted: string[] = [];
  const altQuote = alternativeQuotePrefix(lines);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (altQuote && altQuote.test(l)) {
      quoted.push(l.replace(altQuote, ""));
      continue;
    }
    if (QUOTE_LINE.test(l)) {
      // keep only the first level of quoting for the excerpt of the mail replied to
      const m = /^\s*>\s?(.*)$/.exec(l);
      if (m && !/^\s*>/.test(m[1]!)) quoted.push(m[1]!);
      else if (!m) quoted.push(l.replace(QUOTE_LINE, "").trim());
      continue;
    }
    const trimmed = l.trim();
    // a quoted line broken by a mail client: short lower-case fragments right after a long quoted line and
    // followed by more quoted text are the tails of quoted lines, not the sender's words
    if (isWrapFragment(l) && i > 0 && QUOTE_LINE.test(lines[i - 1]!) && lines[i - 1]!.trimEnd().length >= 60) {
      let j = i;
      while (j < lines.length && j - i < 4 && isWrapFragment(lines[j]!)) j++;
      while (j < lines.length && lines[j]!.trim() === "") j++;
      if (j < lines.length && QUOTE_LINE.test(lines[j]!)) {
        for (let k = i; k < j; k++) if (lines[k]!.trim() !== "") quoted.push(lines[k]!.trim());
        i = j - 1;
        continue;
      }
    }
    if (isAttribution(trimmed)) {
      // an attribution wrapped over two lines: "On Thu, 22 Aug 2002, Robert Elz" + "wrote:"
      const prev = own[own.length - 1];
      if (prev !== undefined && ATTRIBUTION_START.test(prev) && !ATTRIBUTION_START.test(trimmed) && prev.trim().length < 120) {
        own.pop();
      }
      continue;
    }
    own.push(l);
  }
  return { own, quoted };
}

function cutAt(lines: string[], markers: RegExp[]): string[] {
  const idx = lines.findIndex((l) => markers.some((re) => re.test(l)));
  return idx < 0 ? lines : lines.slice(0, idx);
}

/** Cuts at a signature separator ("-- ") and at horizontal rules followed by a short tail (ads, sigs, footers). */
function cutSignature(lines: string[]): string[] {
  let out = lines;
  const sig = out.findIndex((l) => SIGNATURE_SEPARATOR.test(l));
  if (sig >= 0) out = out.slice(0, sig);
  for (let i = 0; i < out.length; i++) {
    const l = out[i]!;
    if (UNDERSCORE_RULE.test(l) || DASH_RULE.test(l)) {
      const tail = out.slice(i + 1).filter((x) => x.trim() !== "");
      if (tail.length <= 12) {
        out = out.slice(0, i);
        break;
      }
    }
  }
  return out;
}

const LIST_ITEM = /^\s*([-*+•o]\s|\d+[.)]\s|[A-Za-z][.)]\s)/;

/**
 * Whitespace normalisation: tabs and runs of spaces become one space, trailing spaces go, paragraphs are separated
 * by one blank line, and hard-wrapped lines inside a paragraph are joined with a space. A line break is kept after a
 * short line (under 45 characters, a deliberate break) and before list items or indented lines.
 */
export function normaliseWhitespace(text: string): string {
  const paragraphs = text
    .replace(/\r\n?/g, "\n")
    .replace(/[\u00a0\t\f\v]/g, " ")
    .split(/\n\s*\n/);
  const out: string[] = [];
  for (const para of paragraphs) {
    const lines = para.split("\n").map((l) => l.replace(/ +$/, ""));
    const kept = lines.filter((l) => l.trim() !== "");
    if (kept.length === 0) continue;
    let acc = kept[0]!.trim().replace(/ {2,}/g, " ");
    for (let i = 1; i < kept.length; i++) {
      const prev = kept[i - 1]!;
      const cur = kept[i]!;
      const keepBreak = prev.trim().length < 45 || LIST_ITEM.test(cur) || /^\s{2,}\S/.test(cur);
      acc += (keepBreak ? "\n" : " ") + cur.trim().replace(/ {2,}/g, " ");
    }
    out.push(acc);
  }
  return out.join("\n\n").trim();
}

export interface CleanedBody {
  /** What the sender wrote, normalised. */
  text: string;
  /** First-level quoted text (the mail being replied to), normalised; "" when nothing was quoted. */
  quoted: string;
}

/** Cleans the plain text of a mail body. */
export function cleanBody(plain: string): CleanedBody {
  let lines = plain.replace(/\r\n?/g, "\n").split("\n");
  lines = stripPgp(lines);
  lines = cutAt(lines, CUT_MARKERS);
  const { own, quoted } = splitQuotes(lines);
  let body = cutAt(own, FOOTER_MARKERS);
  body = cutSignature(body);
  // a second pass: footers can sit below the signature cut point in odd orders
  body = cutAt(body, FOOTER_MARKERS);
  const quotedText = normaliseWhitespace(cutSignature(cutAt(quoted, FOOTER_MARKERS)).join("\n"));
  return { text: normaliseWhitespace(body.join("\n")), quoted: quotedText };
}

/** Number of whitespace-separated words. */
export function wordCount(text: string): number {
  const t = text.trim();
  return t === "" ? 0 : t.split(/\s+/).length;
}

/** The first `n` words of a text, followed by "..." when it was longer. */
export function firstWords(text: string, n: number): string {
  const words = text.trim().split(/\s+/).filter((w) => w !== "");
  return words.length <= n ? words.join(" ") : words.slice(0, n).join(" ") + " ...";
}
