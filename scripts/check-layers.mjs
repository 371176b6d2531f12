#!/usr/bin/env node
// The layer check: every file under src/ may import only from its own package or from packages of earlier layers,
// and the packages' import graph has no cycle (not even between two packages of one layer). Plain Node, no
// dependencies. Usage: node scripts/check-layers.mjs [--json] [SRC_DIR]   (default: the repository's src/)
// Exit status 0 when the tree holds the rule, 1 when it breaks it (one line per violation), 2 on bad usage.
// The rule and the layer map are described in docs/layers.md.
import { readdirSync, readFileSync, statSync, existsSync } from "node:fs";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** The layers, lowest first. Packages of one layer may import each other, as long as no cycle forms. */
export const LAYERS = [
  ["util"],
  ["graph"],
  ["runtime"],
  ["model", "tokenizer"],
  ["data"],
  ["flythinker", "baselines"],
  ["train"],
  ["eval"],
  ["bench", "demo", "serve", "sweep"],
  ["cli"],
];

/** Files directly under src/ (the public API, src/index.ts) belong to this pseudo-package, above every layer. */
export const ROOT_PACKAGE = "(root)";

const SOURCE_EXTENSIONS = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"];

const levelOf = new Map(LAYERS.flatMap((names, level) => names.map((name) => [name, level])));
levelOf.set(ROOT_PACKAGE, LAYERS.length);

// ---- Lexing: just enough of JavaScript/TypeScript to find import specifiers outside comments and strings. ----

const PUNCT_BEFORE_REGEX = new Set(["(", ",", "=", ":", "[", "!", "&", "|", "?", "{", "}", ";", "+", "-", "*", "%",
  "<", ">", "~", "^", "=>"]);
const KEYWORDS_BEFORE_REGEX = new Set(["return", "typeof", "instanceof", "in", "of", "new", "delete", "void",
  "throw", "case", "do", "else", "yield", "await"]);

/**
 * Splits source text into tokens {kind: "id" | "str" | "punct" | "tmpl", value, line}. Comments and regular
 * expression literals are skipped; template literals become one "tmpl" token (their ${...} parts are lexed too).
 */
export function tokenize(text) {
  const tokens = [];
  let i = 0;
  let line = 1;
  const braceStack = []; // for each open "{": true when it opened a template literal's ${ ... }
  const n = text.length;

  const prevAllowsRegex = () => {
    const prev = tokens[tokens.length - 1];
    if (!prev) return true;
    if (prev.kind === "punct") return PUNCT_BEFORE_REGEX.has(prev.value) || prev.value.endsWith("=");
    if (prev.kind === "id") return KEYWORDS_BEFORE_REGEX.has(prev.value);
    return false;
  };

  // Reads a template literal's text from i (just after ` or }) up to its end or its next "${".
  const readTemplateChunk = () => {
    while (i < n) {
      const c = text[i];
      if (c === "\\") { if (text[i + 1] === "\n") line++; i += 2; continue; }
      if (c === "\n") line++;
      if (c === "`") { i++; return "end"; }
      if (c === "$" && text[i + 1] === "{") { i += 2; braceStack.push(true); return "expr"; }
      i++;
    }
    return "end";
  };

  while (i < n) {
    const c = text[i];
    if (c === "\n") { line++; i++; continue; }
    if (c === " " || c === "\t" || c === "\r") { i++; continue; }
    if (c === "/" && text[i + 1] === "/") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end < 0 ? n : end + 2;
      for (let k = i; k < stop; k++) if (text[k] === "\n") line++;
      i = stop;
      continue;
    }
    if (c === '"' || c === "'") {
      const startLine = line;
      let value = "";
      i++;
      while (i < n && text[i] !== c && text[i] !== "\n") {
        if (text[i] === "\\") { value += text[i + 1] ?? ""; i += 2; continue; }
        value += text[i++];
      }
      i++;
      tokens.push({ kind: "str", value, line: startLine });
      continue;
    }
    if (c === "`") {
      tokens.push({ kind: "tmpl", value: "`", line });
      i++;
      readTemplateChunk();
      continue;
    }
    if (c === "}" && braceStack.length > 0 && braceStack[braceStack.length - 1] === true) {
      braceStack.pop();
      i++;
      readTemplateChunk();
      continue;
    }
    if (c === "/" && prevAllowsRegex()) {
      // A regular expression literal: skip to its closing slash (outside character classes), then its flags.
      let inClass = false;
      i++;
      while (i < n && text[i] !== "\n") {
        const d = text[i];
        if (d === "\\") { i += 2; continue; }
        if (d === "[") inClass = true;
        else if (d === "]") inClass = false;
        else if (d === "/" && !inClass) break;
        i++;
      }
      i++;
      while (i < n && /[a-z]/i.test(text[i])) i++;
      tokens.push({ kind: "regex", value: "/", line });
      continue;
    }
    if (/[A-Za-z_$]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(text[j])) j++;
      tokens.push({ kind: "id", value: text.slice(i, j), line });
      i = j;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < n && /[0-9A-Za-z_.]/.test(text[j])) j++;
      tokens.push({ kind: "num", value: text.slice(i, j), line });
      i = j;
      continue;
    }
    if (c === "{") braceStack.push(false);
    if (c === "}") braceStack.pop();
    if (c === "=" && text[i + 1] === ">") { tokens.push({ kind: "punct", value: "=>", line }); i += 2; continue; }
    tokens.push({ kind: "punct", value: c, line });
    i++;
  }
  return tokens;
}

/**
 * The module specifiers a file imports: static `import ... from "x"`, `import "x"`, `export ... from "x"`, and
 * `import("x")` (also as a type, `typeof import("x")`). Returns [{specifier, line, dynamic}]; an `import(...)` whose
 * argument is not a plain string comes back with specifier null.
 */
export function findImports(text) {
  const tokens = tokenize(text);
  const found = [];
  const clauseToken = (t) => t.kind === "id" || (t.kind === "punct" && "{},*".includes(t.value)) || t.kind === "str";
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k];
    if (t.kind !== "id" || (t.value !== "import" && t.value !== "export")) continue;
    const before = tokens[k - 1];
    if (before && before.kind === "punct" && before.value === ".") continue; // obj.import
    const next = tokens[k + 1];
    if (!next) continue;
    if (t.value === "import" && next.kind === "punct" && next.value === "(") {
      const arg = tokens[k + 2];
      const close = tokens[k + 3];
      const plain = arg && arg.kind === "str" && close && close.kind === "punct" && (close.value === ")" || close.value === ",");
      found.push({ specifier: plain ? arg.value : null, line: t.line, dynamic: true });
      continue;
    }
    if (t.value === "import" && next.kind === "punct" && next.value === ".") continue; // import.meta
    if (t.value === "import" && next.kind === "str") {
      found.push({ specifier: next.value, line: t.line, dynamic: false });
      continue;
    }
    if (t.value === "export" && !(next.kind === "punct" && (next.value === "{" || next.value === "*")) &&
        !(next.kind === "id" && next.value === "type" && tokens[k + 2]?.kind === "punct" && "{*".includes(tokens[k + 2].value))) {
      continue; // export const / function / class / default ...: not a re-export
    }
    // Walk the import/export clause up to `from "x"`.
    for (let m = k + 1; m < tokens.length && clauseToken(tokens[m]); m++) {
      const u = tokens[m];
      if (u.kind === "id" && u.value === "from" && tokens[m + 1]?.kind === "str") {
        found.push({ specifier: tokens[m + 1].value, line: t.line, dynamic: false });
        break;
      }
      if (u.kind === "str") break;
    }
  }
  return found;
}

// ---- The tree ----

function listSources(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) listSources(path, out);
    else if (SOURCE_EXTENSIONS.some((ext) => name.endsWith(ext)) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** The package of a path inside srcDir: its first folder, or ROOT_PACKAGE for a file directly in srcDir. */
function packageOf(srcDir, path) {
  const parts = relative(srcDir, path).split(sep);
  return parts.length === 1 ? ROOT_PACKAGE : parts[0];
}

function describeLevel(pkg) {
  if (pkg === ROOT_PACKAGE) return "the public API";
  const level = levelOf.get(pkg);
  const below = LAYERS.slice(0, level).flat();
  const peers = LAYERS[level].filter((p) => p !== pkg);
  const allowed = [...below, ...peers.map((p) => `${p} (same layer, no cycle)`)];
  return `layer ${level + 1} of ${LAYERS.length}; may import ${allowed.length ? allowed.join(", ") : "nothing but itself"}`;
}

/** Strongly connected components of a graph given as Map<node, Set<node>> (Tarjan). */
function stronglyConnected(graph) {
  let index = 0;
  const indices = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  const visit = (v) => {
    indices.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v), indices.get(w)));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      components.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return components;
}

/**
 * Checks the tree under srcDir. Returns {violations, edges}: each violation is
 * {kind: "upward" | "cycle" | "unknown-package" | "outside-src" | "unresolved", file, line, from, to, message}
 * with file relative to srcDir's parent (e.g. "src/tokenizer/bpe.ts"). Imports that lie on a package cycle carry
 * `cycle` (its packages): an upward import stays "upward"; an import between two packages of one layer that closes a
 * cycle is a "cycle" violation. `edges` lists the "from -> to" package pairs found.
 */
export function checkLayers(srcDir) {
  const root = resolve(srcDir);
  const shown = (path) => relative(dirname(root), path).split(sep).join("/");
  const violations = [];
  /** edges: "from -> to" -> every {file, line} that imports across it */
  const edges = new Map();
  const graph = new Map();

  for (const file of listSources(root)) {
    const from = packageOf(root, file);
    const text = readFileSync(file, "utf8");
    if (from === ROOT_PACKAGE && !/^index\.[cm]?[jt]s$/.test(basename(file))) {
      violations.push({ kind: "unknown-package", file: shown(file), line: 1, from, to: null,
        message: `${shown(file)}:1: only the public API (index.ts) lives directly in src/; put this file in a package` });
    }
    for (const { specifier, line, dynamic } of findImports(text)) {
      const where = { file: shown(file), line };
      if (specifier === null) {
        violations.push({ kind: "unresolved", ...where, from, to: null,
          message: `${where.file}:${line}: import() of a computed specifier; the layer check cannot follow it (use a string literal)` });
        continue;
      }
      if (!specifier.startsWith(".") && !specifier.startsWith("/")) continue; // node: builtins and npm packages
      const target = resolve(dirname(file), specifier);
      const how = dynamic ? "import()" : "import";
      if (target !== root && !target.startsWith(root + sep)) {
        violations.push({ kind: "outside-src", ...where, from, to: null,
          message: `${where.file}:${line}: ${how} "${specifier}" reaches outside src/; source files may import only from src/ and installed packages` });
        continue;
      }
      const to = packageOf(root, target);
      if (from === ROOT_PACKAGE || to === from) continue;
      if (!levelOf.has(to)) {
        violations.push({ kind: "unknown-package", ...where, from, to,
          message: `${where.file}:${line}: ${how} "${specifier}" is in package "${to}", which is not in the layer map (scripts/check-layers.mjs LAYERS, docs/layers.md)` });
        continue;
      }
      if (!levelOf.has(from)) {
        violations.push({ kind: "unknown-package", ...where, from, to,
          message: `${where.file}:${line}: package "${from}" is not in the layer map (scripts/check-layers.mjs LAYERS, docs/layers.md)` });
        continue;
      }
      const key = `${from} -> ${to}`;
      if (!edges.has(key)) edges.set(key, []);
      edges.get(key).push(where);
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from).add(to);
      if (to === ROOT_PACKAGE) {
        violations.push({ kind: "upward", ...where, from, to,
          message: `${where.file}:${line}: ${from} imports the public API ("${specifier}"); packages import each other directly, never through src/index.ts` });
      } else if (levelOf.get(to) > levelOf.get(from)) {
        violations.push({ kind: "upward", ...where, from, to,
          message: `${where.file}:${line}: ${from} imports ${to} ("${specifier}"): upward import — ${to} is a higher layer than ${from} (${describeLevel(from)})` });
      }
    }
  }

  // A cycle needs at least one edge that does not go down a layer. Upward edges are reported above (their message
  // now also names the cycle); edges between two packages of one layer are reported here, every import of them.
  for (const component of stronglyConnected(graph)) {
    if (component.length < 2) continue;
    const members = new Set(component);
    const cycle = `{${component.join(", ")}}`;
    for (const [key, sites] of edges) {
      const [from, to] = key.split(" -> ");
      if (!members.has(from) || !members.has(to) || levelOf.get(to) < levelOf.get(from)) continue;
      if (levelOf.get(to) > levelOf.get(from)) {
        for (const v of violations) {
          if (v.kind === "upward" && v.from === from && v.to === to) {
            v.cycle = component;
            v.message += `; it also closes the package cycle ${cycle}`;
          }
        }
        continue;
      }
      for (const where of sites) {
        violations.push({ kind: "cycle", ...where, from, to, cycle: component,
          message: `${where.file}:${where.line}: ${from} imports ${to}, closing the package cycle ${cycle} — packages of one layer may import each other in one direction only; move the shared code down a layer` });
      }
    }
  }

  violations.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.kind.localeCompare(b.kind));
  return { violations, edges: [...edges.keys()].sort() };
}

function main(argv) {
  const json = argv.includes("--json");
  const rest = argv.filter((a) => a !== "--json");
  if (rest.length > 1 || rest.some((a) => a.startsWith("-"))) {
    console.error("usage: node scripts/check-layers.mjs [--json] [SRC_DIR]");
    return 2;
  }
  const srcDir = rest[0] ?? join(dirname(fileURLToPath(import.meta.url)), "..", "src");
  if (!existsSync(srcDir) || !statSync(srcDir).isDirectory()) {
    console.error(`check-layers: ${srcDir} is not a folder`);
    return 2;
  }
  const { violations } = checkLayers(srcDir);
  if (json) {
    process.stdout.write(JSON.stringify({ violations }, null, 2) + "\n");
  } else if (violations.length === 0) {
    console.log("check-layers: every import in src/ respects the layers (docs/layers.md)");
  } else {
    for (const v of violations) console.error(v.message);
    console.error(`check-layers: ${violations.length} violation(s) of the layer rule (docs/layers.md)`);
  }
  return violations.length === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
