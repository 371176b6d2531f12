// Where a chat template's syntax goes wrong. The Jinja parser reports what it expected but not where, so this scans
// the template's tags itself: an opening "{{", "{%" or "{#" without its closer, a block tag never closed, an end tag
// that closes another block, or a tag whose quotes or brackets do not balance. Positions are 1-based line and column.

export interface TemplatePosition {
  line: number;
  column: number;
  /** What is wrong at that position. */
  problem: string;
}

const CLOSERS: Record<string, string> = { "{{": "}}", "{%": "%}", "{#": "#}" };
const BLOCKS = new Set(["for", "if", "macro", "call", "filter", "generation", "raw"]);

function at(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return { line, column: pos - before.lastIndexOf("\n") };
}

/** The end of the tag opened at `start` (index after its closer), or -1; quotes inside the tag are skipped. */
function tagEnd(text: string, start: number, closer: string): number {
  let quote: string | null = null;
  for (let i = start + 2; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (text.startsWith(closer, i)) return i + closer.length;
  }
  return -1;
}

/** Whether the brackets of a tag's body balance (outside string literals). */
function bracketsBalance(body: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let quote: string | null = null;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (quote) {
      if (c === "\\") i++;
      else if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "(" || c === "[" || c === "{") stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0 && quote === null;
}

/** The first syntax problem found in a Jinja template, or null when its tags are well formed. */
export function locateTemplateError(text: string): TemplatePosition | null {
  const open: { kw: string; pos: number }[] = [];
  const found = (pos: number, problem: string): TemplatePosition => ({ ...at(text, pos), problem });
  let i = 0;
  for (;;) {
    const next = text.slice(i).search(/\{[{%#]/);
    if (next < 0) break;
    const start = i + next;
    const opener = text.slice(start, start + 2);
    const end = tagEnd(text, start, CLOSERS[opener]!);
    if (end < 0) return found(start, `"${opener}" is never closed by "${CLOSERS[opener]}"`);
    const body = text.slice(start + 2, end - 2).replace(/^[-+]/, "").replace(/[-+]$/, "");
    i = end;
    if (opener === "{#") continue;
    if (!bracketsBalance(body)) return found(start, "unbalanced brackets or quotes in this tag");
    if (opener !== "{%") continue;
    const kw = /^\s*([A-Za-z_]+)/.exec(body)?.[1] ?? "";
    if (BLOCKS.has(kw) || (kw === "set" && !body.includes("="))) open.push({ kw, pos: start });
    else if (kw.startsWith("end")) {
      const top = open.pop();
      if (!top) return found(start, `{% ${kw} %} closes no open block`);
      if (top.kw !== kw.slice(3)) return found(start, `{% ${kw} %} closes the {% ${top.kw} %} of line ${at(text, top.pos).line}, column ${at(text, top.pos).column}`);
    } else if ((kw === "elif" || kw === "else") && !open.some((b) => b.kw === "if" || b.kw === "for")) {
      return found(start, `{% ${kw} %} outside an if or for block`);
    }
  }
  const last = open.pop();
  return last ? found(last.pos, `{% ${last.kw} %} is never closed (no {% end${last.kw} %})`) : null;
}
