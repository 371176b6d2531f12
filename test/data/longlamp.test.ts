import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parquetWriteBuffer } from "hyparquet-writer";
import { importLongLamp, importLongLampDataset, LONGLAMP_TASKS } from "../../src/data/index.ts";
import { UserError } from "../../src/util/errors.ts";

// Small files in LongLaMP's schema (docs/data.md, LongLaMP): a user field, input, output and a profile list.
type Row = Record<string, unknown>;

const ROWS: Record<string, Row[]> = {
  product_review: [
    {
      reviewerId: "A2XYZ",
      input: 'Generate the review text written by a reviewer who has given an overall rating of "4.0" for a product with description "Steel kettle, 1.7 l". The summary of the review text is "Boils fast".',
      output: "It boils a full kettle in three minutes. The handle stays cool. Lid is a bit stiff.",
      profile: [
        { overall: 5, summary: "Love it", description: "Blender with glass jar", reviewText: "Crushes ice like nothing. Loud, though." },
        { overall: 2.5, summary: "Meh", description: "Wool socks, pack of 3", reviewText: "They wore through after a month." },
      ],
    },
    { reviewerId: "B7", input: "Generate a review.", output: "Fine product, would buy again.", profile: [] },
  ],
  abstract_generation: [
    {
      name: "Ada Lovelace",
      input: 'Generate an abstract for the title "Engines that compose music" using the following items: 1. notes 2. symbols',
      output: "We argue that the engine may act upon other things besides number.",
      profile: [
        { title: "Notes on the engine", abstract: "A translation with extensive notes.", id: "p-1", year: 1843 },
        { title: "Bernoulli numbers", abstract: "An algorithm to compute them.", id: "p-2", year: 1843 },
      ],
    },
  ],
  topic_writing: [
    {
      author: "redditor_1",
      input: 'Generate the content for a reddit post "My first marathon".',
      output: "So I finally did it. Mile 20 was the wall everyone talks about.",
      profile: [
        { summary: "Training plan tips", content: "Start slow and build mileage by ten percent a week.", id: "t3_a", author: "redditor_1" },
      ],
    },
    {
      author: "redditor_2",
      input: 'Generate the content for a reddit post "Sourdough".',
      output: "My starter died twice before it worked.",
      profile: [{ summary: "Bread", content: "Bake hot, then lower the heat.", id: "t3_b", author: "redditor_2" }],
    },
  ],
};

const STRUCT_TYPES: Record<string, Record<string, "STRING" | "DOUBLE" | "INT64">> = {
  product_review: { overall: "DOUBLE", summary: "STRING", description: "STRING", reviewText: "STRING" },
  abstract_generation: { title: "STRING", abstract: "STRING", id: "STRING", year: "INT64" },
  topic_writing: { summary: "STRING", content: "STRING", id: "STRING", author: "STRING" },
};

const leaf = (name: string, t: "STRING" | "DOUBLE" | "INT64") =>
  t === "STRING"
    ? { name, type: "BYTE_ARRAY" as const, converted_type: "UTF8" as const, repetition_type: "OPTIONAL" as const }
    : { name, type: t, repetition_type: "OPTIONAL" as const };

/** A parquet file as the hub serves it: top-level strings and profile: list<struct<...>> (3-level list). */
function writeParquet(file: string, task: string, rows: Row[], dropColumn?: string, gzip = false): void {
  const spec = LONGLAMP_TASKS[task]!;
  const struct = STRUCT_TYPES[task]!;
  const top = [spec.userField, "input", "output", "profile"].filter((c) => c !== dropColumn);
  const columnData = top.map((c) => ({
    name: c,
    data: rows.map((r) =>
      c === "profile"
        ? (r.profile as Row[]).map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, struct[k] === "INT64" ? BigInt(v as number) : v])))
        : r[c],
    ),
  }));
  const schema: Record<string, unknown>[] = [{ name: "root", num_children: top.length }];
  for (const c of top) {
    if (c !== "profile") {
      schema.push(leaf(c, "STRING"));
      continue;
    }
    schema.push({ name: "profile", repetition_type: "OPTIONAL", converted_type: "LIST", num_children: 1 });
    schema.push({ name: "list", repetition_type: "REPEATED", num_children: 1 });
    schema.push({ name: "element", repetition_type: "OPTIONAL", num_children: Object.keys(struct).length });
    for (const [k, t] of Object.entries(struct)) schema.push(leaf(k, t));
  }
  const codec = gzip ? { codec: "GZIP" as const, compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)) } } : {};
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  writeFileSync(file, Buffer.from(parquetWriteBuffer({ columnData, schema: schema as any, ...codec })));
}

/** The same rows in every file format the importer reads. */
interface RowFiles {
  json: string;
  jsonl: string;
  hfjson: string;
  parquet: string;
  parquetGzip: string;
}

function writeAll(dir: string, task: string, split: string, rows: Row[]): RowFiles {
  const base = join(dir, `${task}_user`);
  mkdirSync(base, { recursive: true });
  const files: RowFiles = {
    json: join(base, `${split}.json`),
    jsonl: join(base, `${split}.jsonl`),
    hfjson: join(base, `${split}-hf.json`), // JSON lines under a .json name, as `datasets` exports them
    parquet: join(base, `${split}-00000-of-00001.parquet`),
    parquetGzip: join(base, `${split}-gzip.parquet`),
  };
  writeFileSync(files.json, JSON.stringify(rows, null, 2));
  writeFileSync(files.jsonl, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  writeFileSync(files.hfjson, rows.map((r) => JSON.stringify(r)).join("\n") + "\n");
  writeParquet(files.parquet, task, rows);
  writeParquet(files.parquetGzip, task, rows, undefined, true);
  return files;
}

const tmp = (): string => mkdtempSync(join(tmpdir(), "ft-longlamp-"));

test("longlamp: JSON, JSON lines and parquet (snappy and gzip) files of all three tasks import to identical canonical records", async () => {
  const dir = tmp();
  for (const task of Object.keys(ROWS)) {
    const files = writeAll(dir, task, "test", ROWS[task]!);
    const results = [];
    for (const [format, file] of Object.entries(files)) {
      const r = await importLongLamp({ task, inputs: [file], strict: true });
      assert.equal(r.config, "user");
      assert.equal(r.files[0]!.format, format === "hfjson" ? "jsonl" : format === "parquetGzip" ? "parquet" : format);
      results.push(r.splits.test);
    }
    for (const r of results.slice(1)) assert.deepEqual(r, results[0], `${task}: formats differ`);
    assert.equal(results[0]!.length, ROWS[task]!.length);
    // and the written folders are byte-identical
    const outs = [];
    for (const [format, file] of Object.entries(files)) {
      const out = join(dir, `out-${task}-${format}`);
      await importLongLampDataset(out, { task, inputs: [file] });
      outs.push(readFileSync(join(out, "test.jsonl"), "utf8"));
    }
    for (const o of outs.slice(1)) assert.equal(o, outs[0]);
  }
});

test("longlamp: per-task mapping of profile items, original fields kept", async () => {
  const dir = tmp();
  const review = (await importLongLamp({ task: "product_review", inputs: [writeAll(dir, "product_review", "train", ROWS.product_review!).jsonl] })).splits.train!;
  assert.deepEqual(review[0], {
    id: "product_review/train/0",
    task: "product_review",
    user: "A2XYZ",
    input: ROWS.product_review![0]!.input,
    output: ROWS.product_review![0]!.output,
    profile: [
      {
        input: 'Generate the review text written by a reviewer who has given an overall rating of "5.0" for a product with description "Blender with glass jar". The summary of the review text is "Love it".',
        output: "Crushes ice like nothing. Loud, though.",
        overall: 5,
        summary: "Love it",
        description: "Blender with glass jar",
        reviewText: "Crushes ice like nothing. Loud, though.",
      },
      {
        input: 'Generate the review text written by a reviewer who has given an overall rating of "2.5" for a product with description "Wool socks, pack of 3". The summary of the review text is "Meh".',
        output: "They wore through after a month.",
        overall: 2.5,
        summary: "Meh",
        description: "Wool socks, pack of 3",
        reviewText: "They wore through after a month.",
      },
    ],
    reviewerId: "A2XYZ",
  });
  assert.deepEqual(review[1]!.profile, []); // an empty profile is allowed
  const abs = (await importLongLamp({ task: "abstract_generation", inputs: [writeAll(dir, "abstract_generation", "val", ROWS.abstract_generation!).parquet] })).splits.val!;
  assert.deepEqual(abs[0]!.profile[1], { id: "p-2", input: "Bernoulli numbers", output: "An algorithm to compute them.", title: "Bernoulli numbers", abstract: "An algorithm to compute them.", year: 1843 });
  assert.equal(abs[0]!.user, "Ada Lovelace");
  assert.equal(abs[0]!.name, "Ada Lovelace");
  const topic = (await importLongLamp({ task: "topic_writing", inputs: [writeAll(dir, "topic_writing", "train", ROWS.topic_writing!).json] })).splits.train!;
  assert.deepEqual(topic[1]!.profile[0], { id: "t3_b", input: "Bread", output: "Bake hot, then lower the heat.", summary: "Bread", content: "Bake hot, then lower the heat.", author: "redditor_2" });
  assert.equal(topic[1]!.id, "topic_writing/train/1");
});

test("longlamp: splits from file names or split=FILE, temporal config from the path, shards continue the numbering", async () => {
  const dir = tmp();
  const base = join(dir, "topic_writing_temporal");
  mkdirSync(base);
  const a = join(base, "train-00000-of-00002.parquet");
  const b = join(base, "train-00001-of-00002.parquet");
  writeParquet(a, "topic_writing", ROWS.topic_writing!.slice(0, 1));
  writeParquet(b, "topic_writing", ROWS.topic_writing!.slice(1));
  const c = join(base, "whatever.jsonl");
  writeFileSync(c, JSON.stringify(ROWS.topic_writing![0]) + "\n");
  const r = await importLongLamp({ task: "topic_writing", inputs: [a, b, `val=${c}`] });
  assert.equal(r.config, "temporal");
  assert.deepEqual(r.splits.train!.map((x) => x.id), ["topic_writing/train/0", "topic_writing/train/1"]);
  assert.deepEqual(r.splits.val!.map((x) => x.user), ["redditor_1"]);
  await assert.rejects(importLongLamp({ task: "topic_writing", inputs: [c] }), /cannot tell the split from the file name; write it as train=/);
});

test("longlamp: bad input gives clear messages and never a partial output folder", async () => {
  const dir = tmp();
  const files = writeAll(dir, "product_review", "train", ROWS.product_review!);
  await assert.rejects(importLongLamp({ task: "poetry", inputs: [files.json] }), (e: unknown) =>
    e instanceof UserError && e.message === 'unknown LongLaMP task "poetry"; expected one of product_review, abstract_generation, topic_writing');

  const noProfile = join(dir, "train-noprofile.parquet");
  writeParquet(noProfile, "product_review", ROWS.product_review!, "profile");
  await assert.rejects(importLongLamp({ task: "product_review", inputs: [noProfile] }), (e: unknown) =>
    e instanceof UserError && e.message.includes("parquet file lacks column profile; it has reviewerId, input, output"));
  // the same file read as another task lacks that task's user field
  await assert.rejects(importLongLamp({ task: "abstract_generation", inputs: [files.parquet] }), /lacks column name/);

  // JSON lines: a malformed line and a record without output are skipped and reported (file:line), or stop --strict
  const messy = join(dir, "train-messy.jsonl");
  const { output: _o, ...noOutput } = ROWS.product_review![0]!;
  writeFileSync(messy, [JSON.stringify(ROWS.product_review![0]), "{oops", JSON.stringify(noOutput), JSON.stringify(ROWS.product_review![1])].join("\n"));
  const r = await importLongLamp({ task: "product_review", inputs: [messy] });
  assert.equal(r.splits.train!.length, 2);
  assert.deepEqual(r.issues.map((i) => i.where), [`${messy}:2`, `${messy}:3`]);
  assert.match(r.issues[0]!.message, /^malformed JSON/);
  assert.match(r.issues[1]!.message, /^missing field "output"/);
  await assert.rejects(importLongLamp({ task: "product_review", inputs: [messy], strict: true }), (e: unknown) =>
    e instanceof UserError && e.message.startsWith(`${messy}:2: malformed JSON`));
  const badItem = join(dir, "train-baditem.json");
  writeFileSync(badItem, JSON.stringify([{ ...ROWS.product_review![0], profile: [{ overall: 3, summary: "s", description: "d" }] }]));
  await assert.rejects(importLongLamp({ task: "product_review", inputs: [badItem], strict: true }), /element 1: profile\[0\] is missing field "reviewText"/);

  // a strict failure on the second file leaves no output folder (and no temporary folder)
  const out = join(dir, "out");
  await assert.rejects(importLongLampDataset(out, { task: "product_review", inputs: [files.json, messy], strict: true }), /malformed JSON/);
  assert.equal(existsSync(out), false);
  assert.equal(readdirSync(dir).some((n) => n.startsWith(".out.tmp-")), false);
  // nothing usable: nothing written
  const empty = join(dir, "train-empty.jsonl");
  writeFileSync(empty, "{oops\n");
  await assert.rejects(importLongLampDataset(out, { task: "product_review", inputs: [empty] }), /no usable records/);
  assert.equal(existsSync(out), false);
});

test("longlamp: a file of another task's schema, an empty file and an empty split are refused, naming file, task and fields", async () => {
  const dir = tmp();
  const good = writeAll(dir, "product_review", "train", ROWS.product_review!);
  const other = join(dir, "test-topic.jsonl");
  writeFileSync(other, ROWS.topic_writing!.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const found = [...new Set(ROWS.topic_writing!.slice(0, 5).flatMap((r) => Object.keys(r)))].join(", ");
  await assert.rejects(importLongLamp({ task: "product_review", inputs: [good.jsonl, other] }), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(
      e.message,
      `${other}: none of its ${ROWS.topic_writing!.length} rows is a LongLaMP product_review record (rows need ${LONGLAMP_TASKS.product_review!.userField}, input, output, profile ` +
        `with profile items of ${LONGLAMP_TASKS.product_review!.profileFields.join(", ")}); fields found: ${found}. Is it another task's file?`,
    );
    return true;
  });
  const out = join(dir, "out");
  const empty = join(dir, "val-empty.jsonl");
  writeFileSync(empty, "");
  await assert.rejects(importLongLampDataset(out, { task: "product_review", inputs: [good.jsonl, empty] }), { message: `${empty}: no rows (pass --allow-empty to import an empty file)` });
  assert.equal(existsSync(out), false);
  // Every row of the test file is skipped as bad: the split would be empty.
  const allBad = join(dir, "test-bad.jsonl");
  writeFileSync(allBad, "{oops\n{oops\n");
  await assert.rejects(importLongLampDataset(out, { task: "product_review", inputs: [good.jsonl, allBad] }), {
    message: `split test would be empty (no usable record in ${allBad}); nothing written (pass --allow-empty to write it anyway)`,
  });
  assert.equal(existsSync(out), false);
  const ok = await importLongLampDataset(out, { task: "product_review", inputs: [good.jsonl, empty], allowEmpty: true });
  assert.equal(ok.imported.splits.train!.length, ROWS.product_review!.length);
  assert.equal(ok.imported.splits.val!.length, 0);
});
