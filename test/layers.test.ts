// The layer check (scripts/check-layers.mjs, rule in docs/layers.md): on the real tree, and on a small synthetic tree
// with known violations that it must report, each with its file, line and packages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SCRIPT = join(ROOT, "scripts", "check-layers.mjs");

interface Violation {
  kind: "upward" | "cycle" | "unknown-package" | "outside-src" | "unresolved";
  file: string;
  line: number;
  from: string;
  to: string | null;
  message: string;
  cycle?: string[];
}

function check(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function violationsOf(srcDir: string): Violation[] {
  const r = check(["--json", srcDir]);
  assert.ok(r.status === 0 || r.status === 1, `check-layers exited with ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { violations: Violation[] }).violations;
}

test("the real tree keeps the layers: no upward import, no package cycle", () => {
  const all = violationsOf(join(ROOT, "src"));
  assert.deepEqual(all.map((v) => v.message), [], "imports that break the layer rule");
});

function writeTree(root: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
}

test("a synthetic tree: upward imports (static, multi-line, re-export, import()), a cycle inside a layer and a stray root file are reported", () => {
  const root = mkdtempSync(join(tmpdir(), "flythinker-layers-"));
  try {
    writeTree(root, {
      // util (layer 1) imports graph (layer 2) across a multi-line clause: upward.
      "src/util/a.ts": [
        "// import { no } from \"../cli/comment.ts\";  (a comment is not an import)",
        "const text = 'import \"../cli/string.ts\"';",
        "const re = /import \"..\\/cli\\/regex.ts\"/;",
        "import {",
        "  b,",
        "  type B,",
        "} from \"../graph/b.ts\";",
        "export const a = [text, re, b];",
        "export type { B };",
      ].join("\n"),
      "src/graph/b.ts": "import { Rng } from \"../util/random.ts\";\nexport const b = Rng;\nexport type B = number;\n",
      "src/util/random.ts": "export const Rng = 1;\n",
      // model and tokenizer share a layer: importing each other closes a cycle.
      "src/model/m.ts": "import { t } from \"../tokenizer/t.ts\";\nexport const m = t + 1;\n",
      "src/tokenizer/t.ts": "export const t = 1;\nexport * from \"../model/m.ts\";\n",
      // data (layer 5) loads train (layer 7) lazily: upward too.
      "src/data/d.ts": "import \"node:fs\";\nimport { x } from \"npm-package\";\nexport async function d() {\n  return (await import(\"../train/x.ts\")).x + x;\n}\n",
      "src/train/x.ts": "import { m } from \"../model/m.ts\";\nexport const x = m;\n",
      // cli (top) may import anything below; the public API may import anything at all.
      "src/cli/c.ts": "import { b } from \"../graph/b.ts\";\nimport { d } from \"../data/d.ts\";\nexport const c = [b, d];\n",
      "src/index.ts": "export { c } from \"./cli/c.ts\";\nexport { a } from \"./util/a.ts\";\n",
      // Only index.ts lives directly in src/, and no package imports it.
      "src/helpers.ts": "export const h = 1;\n",
      "src/eval/e.ts": "// scores\nimport { c } from \"../index.ts\";\nexport const e = c;\n",
    });
    const found = violationsOf(join(root, "src")).map(({ kind, file, line, from, to, cycle }) => ({ kind, file, line, from, to, cycle }));
    assert.deepEqual(found, [
      { kind: "upward", file: "src/data/d.ts", line: 4, from: "data", to: "train", cycle: undefined },
      { kind: "upward", file: "src/eval/e.ts", line: 2, from: "eval", to: "(root)", cycle: undefined },
      { kind: "unknown-package", file: "src/helpers.ts", line: 1, from: "(root)", to: null, cycle: undefined },
      { kind: "cycle", file: "src/model/m.ts", line: 1, from: "model", to: "tokenizer", cycle: ["model", "tokenizer"] },
      { kind: "cycle", file: "src/tokenizer/t.ts", line: 2, from: "tokenizer", to: "model", cycle: ["model", "tokenizer"] },
      // graph/b.ts imports util, so this upward import also closes a cycle.
      { kind: "upward", file: "src/util/a.ts", line: 4, from: "util", to: "graph", cycle: ["graph", "util"] },
    ]);

    const text = check([join(root, "src")]);
    assert.equal(text.status, 1);
    const lines = text.stderr.trim().split("\n");
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /^src\/data\/d\.ts:4: data imports train \("\.\.\/train\/x\.ts"\): upward import/);
    assert.match(lines[1]!, /^src\/eval\/e\.ts:2: eval imports the public API \("\.\.\/index\.ts"\)/);
    assert.match(lines[2]!, /^src\/helpers\.ts:1: only the public API \(index\.ts\) lives directly in src\//);
    assert.match(lines[3]!, /^src\/model\/m\.ts:1: model imports tokenizer, closing the package cycle \{model, tokenizer\}/);
    assert.match(lines[5]!, /^src\/util\/a\.ts:4: util imports graph \("\.\.\/graph\/b\.ts"\): upward import — graph is a higher layer than util .*; it also closes the package cycle \{graph, util\}$/);
    assert.equal(lines[6], "check-layers: 6 violation(s) of the layer rule (docs/layers.md)");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a tree that keeps the rule passes with exit status 0", () => {
  const root = mkdtempSync(join(tmpdir(), "flythinker-layers-"));
  try {
    writeTree(root, {
      "src/util/u.ts": "export const u = 1;\n",
      "src/graph/g.ts": "import { u } from \"../util/u.ts\";\nexport const g = u;\n",
      "src/tokenizer/t.ts": "import { g } from \"../graph/g.ts\";\nexport const t = g;\n",
      "src/model/m.ts": "import { t } from \"../tokenizer/t.ts\";\nexport const m = t;\n",
    });
    const r = check([join(root, "src")]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /every import in src\/ respects the layers/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
