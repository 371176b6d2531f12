import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSvg, seriesGroups, type Node } from "../eval/xml.ts";
import { barChart, escapeXml, lineChart, niceTicks } from "../../src/util/svg.ts";

test("lineChart: well-formed SVG with one polyline per series and the given points", () => {
  const svg = lineChart({
    title: "Loss <train> & \"val\"",
    xLabel: "step",
    yLabel: "loss",
    series: [
      { name: "train", points: [[0, 3.2], [100, 2.1], [200, 1.7], [300, 1.5]] },
      { name: "val & test <b>", points: [[0, 3.3], [150, 2.4], [300, 2.0]] },
    ],
  });
  const doc = parseSvg(svg);
  const series = seriesGroups(doc);
  assert.deepEqual([...series.keys()], ["train", "val & test <b>"]);
  const pts = (name: string): string[] => ((series.get(name)!.polyline as Node)["@points"] as string).split(" ");
  assert.equal(pts("train").length, 4);
  assert.equal(pts("val & test <b>").length, 3);
  assert.equal((series.get("train")!.circle as Node[]).length, 4);
  assert.equal(doc.title, "Loss <train> & \"val\"");
  // Higher values are drawn higher (smaller y).
  const ys = pts("train").map((p) => Number(p.split(",")[1]));
  assert.ok(ys[0]! < ys[3]!);
});

test("lineChart: many points without markers, categorical ticks, empty and constant series", () => {
  const long = Array.from({ length: 5000 }, (_, i) => [i, Math.exp(-i / 1000)] as [number, number]);
  const doc = parseSvg(lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "s", points: long }] }));
  const g = seriesGroups(doc).get("s")!;
  assert.equal(g.circle, undefined);
  assert.equal(((g.polyline as Node)["@points"] as string).split(" ").length, 5000);
  const cat = parseSvg(
    lineChart({
      title: "seg",
      xLabel: "segment",
      yLabel: "v",
      xTicks: [{ value: 0, label: "0-99" }, { value: 1, label: "300+" }],
      series: [{ name: "a", points: [[0, 1], [1, 1]] }, { name: "empty", points: [] }],
    }),
  );
  const texts = JSON.stringify(cat);
  assert.ok(texts.includes("0-99") && texts.includes("300+"));
  assert.deepEqual([...seriesGroups(cat).keys()], ["a", "empty"]);
});

test("barChart: well-formed SVG, one rect per value, error bars", () => {
  const doc = parseSvg(
    barChart({
      title: "Scores",
      yLabel: "score",
      categories: ["ROUGE-1", "BLEU"],
      series: [
        { name: "SFT", values: [20, 10], errors: [[18, 22], [8, 12]] },
        { name: "FlyThinker", values: [25, 12] },
      ],
      valueDecimals: 1,
    }),
  );
  const series = seriesGroups(doc);
  assert.deepEqual([...series.keys()], ["SFT", "FlyThinker"]);
  assert.equal((series.get("SFT")!.rect as Node[]).length, 2);
  assert.equal((series.get("SFT")!.line as Node[]).length, 2);
  assert.equal(series.get("FlyThinker")!.line, undefined);
  const heights = (series.get("FlyThinker")!.rect as Node[]).map((r) => Number(r["@height"]));
  assert.ok(heights[0]! > heights[1]!);
});

test("escapeXml and ticks", () => {
  assert.equal(escapeXml(`a<b>&"c"'\u0001`), "a&lt;b&gt;&amp;&quot;c&quot;&apos;");
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(0, 42), [0, 10, 20, 30, 40, 50]);
});
