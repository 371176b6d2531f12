// Test helpers: parse SVG documents with an independent XML parser (fast-xml-parser).
import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";

export type Node = Record<string, unknown>;

/** Parses an SVG document, failing the test when it is not well-formed XML. */
export function parseSvg(svg: string): Node {
  const valid = XMLValidator.validate(svg);
  assert.equal(valid, true, `not well-formed XML: ${JSON.stringify(valid)}`);
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: "@", isArray: (name) => ["g", "circle", "rect", "line", "text"].includes(name) }).parse(svg) as Node;
  assert.ok(doc.svg, "root element is <svg>");
  return doc.svg as Node;
}

/** The <g class="series"> groups of a parsed SVG: name -> group. */
export function seriesGroups(svg: Node): Map<string, Node> {
  const groups = (svg.g as Node[]).filter((g) => g["@class"] === "series");
  return new Map(groups.map((g) => [g["@data-series"] as string, g]));
}

