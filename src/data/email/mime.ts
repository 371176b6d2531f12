// A small RFC 822 / MIME reader for plain mail text: headers (folded lines, RFC 2047 encoded words), multipart
// bodies, quoted-printable and base64 transfer encodings, and character sets. Enough to get the text a person wrote
// out of the mails of a 2002 mailing-list corpus; it does not try to be a complete MIME implementation.

export interface MimePart {
  /** Lower-cased media type, e.g. "text/plain" (default "text/plain" when absent). */
  type: string;
  params: Record<string, string>;
  headers: Map<string, string[]>;
  /** Decoded text for text/* parts; "" for other leaf parts. */
  text: string;
  /** Sub-parts of a multipart part; empty for leaves. */
  parts: MimePart[];
  /** True when Content-Disposition says attachment (or a leaf names a file and is not inline text). */
  attachment: boolean;
}

export interface ParsedMail {
  headers: Map<string, string[]>;
  /** First value of a header, decoded; undefined when absent. */
  header(name: string): string | undefined;
  root: MimePart;
  /** Date from the Date header (or the mbox "From " line), as milliseconds since the epoch; NaN when unknown. */
  date: number;
}

/** Splits raw mail text into its header block and body. A leading mbox "From " line is skipped. */
export function splitHeaderBody(raw: string): { head: string; body: string } {
  const text = raw.replace(/\r\n?/g, "\n");
  const blank = text.search(/\n\n/);
  if (blank < 0) return { head: text, body: "" };
  return { head: text.slice(0, blank), body: text.slice(blank + 2) };
}

/** Parses a header block: unfolds continuation lines, decodes encoded words, keeps every value of every name. */
export function parseHeaders(head: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const lines = head.split("\n");
  const logical: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && logical.length > 0) {
      logical[logical.length - 1] += " " + line.trim();
    } else {
      logical.push(line);
    }
  }
  for (const line of logical) {
    const m = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (!m) continue; // the mbox "From " line and other non-header lines
    const name = m[1]!.toLowerCase();
    const value = decodeEncodedWords(decodeRawText(m[2]!.trim(), undefined));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

/** Decodes RFC 2047 encoded words (=?charset?Q?...?= and =?charset?B?...?=); whitespace between two of them goes. */
export function decodeEncodedWords(value: string): string {
  const re = /=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=/g;
  let out = "";
  let last = 0;
  let prevWasEncoded = false;
  for (let m = re.exec(value); m; m = re.exec(value)) {
    const between = value.slice(last, m.index);
    if (!(prevWasEncoded && /^\s*$/.test(between))) out += between;
    const charset = m[1]!.replace(/\*.*$/, ""); // RFC 2231 language suffix
    const bytes = m[2]!.toUpperCase() === "B" ? base64Bytes(m[3]!) : qEncodedBytes(m[3]!);
    out += decodeBytes(bytes, charset);
    last = re.lastIndex;
    prevWasEncoded = true;
  }
  out += value.slice(last);
  return out;
}

function qEncodedBytes(s: string): Uint8Array {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "_") bytes.push(0x20);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c.charCodeAt(0) & 0xff);
  }
  return Uint8Array.from(bytes);
}

/** Decodes a quoted-printable body (soft line breaks "=\n", "=XX" escapes) to bytes. */
export function quotedPrintableBytes(s: string): Uint8Array {
  const bytes: number[] = [];
  const text = s.replace(/\r\n?/g, "\n");
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "=") {
      const next2 = text.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(next2)) {
        bytes.push(parseInt(next2, 16));
        i += 2;
        continue;
      }
      // soft line break: "=" followed by optional trailing whitespace and a newline
      const soft = /^[ \t]*\n/.exec(text.slice(i + 1));
      if (soft) {
        i += soft[0].length;
        continue;
      }
      if (i === text.length - 1) continue;
      bytes.push(0x3d);
      continue;
    }
    pushChar(bytes, c);
  }
  return Uint8Array.from(bytes);
}

/** Decodes base64 (ignoring whitespace and stray characters) to bytes. */
export function base64Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/[^A-Za-z0-9+/=]/g, ""), "base64"));
}

function pushChar(bytes: number[], c: string): void {
  const code = c.charCodeAt(0);
  if (code < 0x100) bytes.push(code);
  else for (const b of Buffer.from(c, "utf8")) bytes.push(b);
}

/** Normalises a charset label to one TextDecoder knows; unknown or ASCII labels fall back to windows-1252. */
export function normaliseCharset(label: string | undefined): string {
  const l = (label ?? "").trim().toLowerCase().replace(/^3d/, "").replace(/^"|"$/g, "");
  if (l === "" || l === "us-ascii" || l === "ascii" || l === "default" || l === "x-unknown" || l === "unknown-8bit") {
    return "windows-1252";
  }
  try {
    new TextDecoder(l);
    return l;
  } catch {
    return "windows-1252";
  }
}

/** Decodes bytes in the given charset; invalid UTF-8 falls back to windows-1252 rather than replacement marks. */
export function decodeBytes(bytes: Uint8Array, charset: string | undefined): string {
  const cs = normaliseCharset(charset);
  if (cs === "utf-8" || cs === "utf8") {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return new TextDecoder("windows-1252").decode(bytes);
    }
  }
  return new TextDecoder(cs).decode(bytes);
}

/** Parses a Content-Type-like value: "type/subtype; a=b; c=\"d\"" -> { value, params } (names lower-cased). */
export function parseHeaderParams(value: string | undefined): { value: string; params: Record<string, string> } {
  if (!value) return { value: "", params: {} };
  const semi = value.indexOf(";");
  const main = (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
  const params: Record<string, string> = {};
  const rest = semi < 0 ? "" : value.slice(semi + 1);
  const re = /([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)/g;
  for (let m = re.exec(rest); m; m = re.exec(rest)) {
    let v = m[2]!.trim();
    if (v.startsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    params[m[1]!.toLowerCase()] = v;
  }
  return { value: main, params };
}

/**
 * Turns raw text into text. The input holds either raw bytes as latin-1 characters (as read from a mail file) or
 * already decoded text (any character above U+00FF says so). Bytes are decoded with the declared charset; without
 * one, valid UTF-8 is taken as UTF-8 and anything else as windows-1252.
 */
export function decodeRawText(body: string, charset: string | undefined): string {
  if (/[\u0100-\uffff]/.test(body)) return body; // already decoded text
  if (!/[\x80-\xff]/.test(body)) return body; // plain ASCII
  const bytes = Buffer.from(body, "latin1");
  const declared = charset === undefined ? "" : normaliseCharset(charset);
  if (declared === "" || declared === "utf-8" || declared === "utf8" || charset?.trim().toLowerCase() === "us-ascii") {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return new TextDecoder("windows-1252").decode(bytes);
    }
  }
  return new TextDecoder(declared).decode(bytes);
}

function decodePartBody(body: string, encoding: string, charset: string | undefined): string {
  const enc = encoding.trim().toLowerCase();
  if (enc === "quoted-printable") return decodeBytes(quotedPrintableBytes(body), charset);
  if (enc === "base64") return decodeBytes(base64Bytes(body), charset);
  return decodeRawText(body, charset);
}

function first(headers: Map<string, string[]>, name: string): string | undefined {
  return headers.get(name)?.[0];
}

/** Parses one entity (headers + body) into a MIME part tree. */
export function parseEntity(headers: Map<string, string[]>, body: string, depth = 0): MimePart {
  const ct = parseHeaderParams(first(headers, "content-type"));
  const type = ct.value && ct.value.includes("/") ? ct.value : "text/plain";
  const disp = parseHeaderParams(first(headers, "content-disposition"));
  const filename = disp.params["filename"] ?? ct.params["name"];
  const attachment = disp.value === "attachment" || (filename !== undefined && !type.startsWith("text/"));
  const part: MimePart = { type, params: ct.params, headers, text: "", parts: [], attachment };
  if (type.startsWith("multipart/") && ct.params["boundary"] && depth < 10) {
    for (const chunk of splitMultipart(body, ct.params["boundary"])) {
      const { head, body: subBody } = splitPart(chunk);
      part.parts.push(parseEntity(parseHeaders(head), subBody, depth + 1));
    }
    return part;
  }
  if (type.startsWith("text/")) {
    part.text = decodePartBody(body, first(headers, "content-transfer-encoding") ?? "7bit", ct.params["charset"]);
  }
  return part;
}

function splitPart(chunk: string): { head: string; body: string } {
  if (chunk.startsWith("\n")) return { head: "", body: chunk.slice(1) };
  return splitHeaderBody(chunk);
}

/** Splits a multipart body at its boundary lines; the preamble and epilogue are dropped. */
export function splitMultipart(body: string, boundary: string): string[] {
  const lines = body.replace(/\r\n?/g, "\n").split("\n");
  const open = "--" + boundary;
  const close = open + "--";
  const parts: string[] = [];
  let current: string[] | null = null;
  for (const line of lines) {
    const l = line.trimEnd();
    if (l === close) {
      if (current) parts.push(current.join("\n"));
      current = null;
      break;
    }
    if (l === open) {
      if (current) parts.push(current.join("\n"));
      current = [];
      continue;
    }
    if (current) current.push(line);
  }
  if (current) parts.push(current.join("\n")); // missing closing boundary
  return parts;
}

/** Parses a whole raw mail. */
export function parseMail(raw: string): ParsedMail {
  const { head, body } = splitHeaderBody(raw);
  const headers = parseHeaders(head);
  const root = parseEntity(headers, body);
  let date = Date.parse(first(headers, "date")?.replace(/\s*\([^)]*\)\s*$/, "") ?? "");
  if (Number.isNaN(date)) {
    const from = /^From \S+\s+(.+)$/m.exec(head.split("\n", 1)[0] ?? "");
    if (from) date = Date.parse(from[1]!);
  }
  return { headers, header: (name) => first(headers, name.toLowerCase()), root, date };
}

export interface BodyText {
  /** The text/plain content a reader would see, parts joined with blank lines. */
  text: string;
  /** True when the mail has HTML but no text/plain part. */
  htmlOnly: boolean;
}

/**
 * The readable plain text of a mail: text/plain leaves that are not attachments; in multipart/alternative the
 * plain alternative; signatures, forwarded messages (message/rfc822) and other attachments are skipped.
 */
export function plainText(root: MimePart): BodyText {
  const texts: string[] = [];
  let sawHtml = false;
  const visit = (p: MimePart): void => {
    if (p.attachment) return;
    if (p.type === "multipart/alternative") {
      const plain = p.parts.find((c) => c.type === "text/plain" && !c.attachment);
      if (plain) return visit(plain);
      const nested = p.parts.find((c) => c.type.startsWith("multipart/"));
      if (nested) return visit(nested);
      if (p.parts.some((c) => c.type === "text/html")) sawHtml = true;
      return;
    }
    if (p.type.startsWith("multipart/")) {
      for (const c of p.parts) visit(c);
      return;
    }
    if (p.type === "text/plain") texts.push(p.text);
    else if (p.type === "text/html") sawHtml = true;
  };
  visit(root);
  const text = texts.join("\n\n");
  return { text, htmlOnly: texts.length === 0 && sawHtml };
}

/** Extracts the bare lower-cased address from a From-like header: "Name <a@b>" or "a@b (Name)". */
export function senderAddress(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(value);
  if (angle) return angle[1]!.toLowerCase();
  const bare = /([A-Za-z0-9._%+'=-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})/.exec(value);
  return bare ? bare[1]!.toLowerCase() : undefined;
}

/** Message ids found in a header value such as References or In-Reply-To, in order. */
export function messageIds(value: string | undefined): string[] {
  if (!value) return [];
  return [...value.matchAll(/<([^<>\s]+)>/g)].map((m) => m[1]!);
}
