// `flythinker data ...`: build and check personalised datasets.
//   data import longlamp --task T --in FILE... --out DIR   LongLaMP files (parquet / JSON / JSONL) -> canonical folder
//   data import flythinker-json --in FILE... --out DIR     the dataset JSON of FlyThinker's published code
//   data prepare email --out DIR                           the offline mail task from the bundled corpus
//   data inspect FILE_OR_DIR                               validate and summarise

import type { Command } from "commander";
import { UserError } from "../../util/errors.ts";
import { intFlag } from "../flags.ts";
import { importFlyThinkerJsonDataset, importLongLampDataset, prepareEmailDataset } from "../../data/build.ts";
import type { EmailSplitRule, EmailStats } from "../../data/email/prepare.ts";
import { readDatasetSplits, readJsonl, type ReadIssue } from "../../data/io.ts";
import { LONGLAMP_TASKS, type LongLampConfig } from "../../data/longlamp.ts";
import { type PersonalRecord, type Split, SPLITS } from "../../data/record.ts";
import { formatDistribution, recordStats, type RecordStats } from "../../data/stats.ts";
import { promptProblem } from "../../data/prompt.ts";
import { existsSync, statSync } from "node:fs";

function int(value: string, flag: string): number {
  return intFlag(value, flag, { min: 0 });
}

const MAX_PRINTED_ISSUES = 20;

function issuePrinter(): { onIssue: (i: ReadIssue) => void; done: () => number } {
  let n = 0;
  return {
    onIssue: (i) => {
      n++;
      if (n <= MAX_PRINTED_ISSUES) console.error(`skipped ${i.where}: ${i.message}`);
    },
    done: () => {
      if (n > MAX_PRINTED_ISSUES) console.error(`... and ${n - MAX_PRINTED_ISSUES} more skipped lines`);
      return n;
    },
  };
}

function printStats(name: string, s: RecordStats): void {
  console.log(`${name}: ${s.records.toLocaleString("en-US")} records, ${s.users.toLocaleString("en-US")} users` +
    (s.emptyProfiles > 0 ? `, ${s.emptyProfiles} with an empty profile (prompts without history)` : ""));
  console.log(`  history items per record  ${formatDistribution(s.profileSize)}`);
  console.log(`  records per user          ${formatDistribution(s.recordsPerUser)}`);
  console.log(`  input words               ${formatDistribution(s.inputWords)}`);
  console.log(`  output words              ${formatDistribution(s.outputWords)}`);
  const tasks = Object.entries(s.tasks);
  if (tasks.length > 1 || (tasks.length === 1 && name === "file")) {
    console.log(`  tasks                     ${tasks.map(([t, n]) => `${t} ${n}`).join(", ")}`);
  }
}

function printEmailStats(st: EmailStats): void {
  const d = st.dropped;
  console.log(`mails read: ${st.totalMails} (ham only)`);
  console.log(
    `filtered: ${d.automated} automated (feeds, newsletters, robots), ${d["html-only"]} HTML-only, ` +
      `${d.duplicate} duplicates, ${d["no-sender"]} without sender, ${d["too-short"]} under the word minimum after cleaning`,
  );
  const top = st.automatedSenders.slice(0, 5).map((a) => `${a.sender} (${a.mails})`).join(", ");
  if (top) console.log(`  automated senders, most mails first: ${top}${st.automatedSenders.length > 5 ? ", ..." : ""}`);
  console.log(`usable: ${st.usableMails} mails from ${st.usableSenders} senders`);
  console.log(`  dropped ${st.sendersBelowMin.mails} mails of ${st.sendersBelowMin.senders} senders below the mail minimum`);
  console.log(`kept: ${st.kept.mails} mails from ${st.kept.senders} senders`);
  console.log(`  words per mail    ${formatDistribution(st.keptMailWords)}`);
  console.log(`  mails per sender  ${formatDistribution(st.mailsPerSender)}`);
  console.log(`  replies: ${st.replies} (${st.repliesWithExcerpt} with an excerpt of the mail replied to in the query)`);
}

export function register(program: Command): void {
  const data = program.command("data").description("build and check personalised datasets");

  data
    .command("import")
    .description("import LongLaMP files (parquet, JSON or JSON lines, as downloaded from the hub), or the dataset JSON of FlyThinker's published code, into a canonical folder")
    .argument("<source>", "longlamp | flythinker-json")
    .option("--task <task>", `LongLaMP task (longlamp only): ${Object.keys(LONGLAMP_TASKS).join(" | ")}`)
    .requiredOption("--in <files...>", "input files; the split comes from the name (train/val/test) or write split=FILE")
    .requiredOption("--out <dir>", "output dataset folder")
    .option("--config <config>", "LongLaMP config: user | temporal (default: from the file paths)")
    .option("--strict", "stop at the first bad line instead of skipping it")
    .option("--allow-empty", "accept an input file without rows, and write a split without records")
    .option("--force", "replace the output folder if it exists")
    .action(async (source: string, o: { task?: string; in: string[]; out: string; config?: string; strict?: boolean; force?: boolean; allowEmpty?: boolean }) => {
      if (source !== "longlamp" && source !== "flythinker-json") {
        throw new UserError(`unknown import source "${source}"; expected longlamp or flythinker-json`);
      }
      const printer = issuePrinter();
      let imported: { files: { file: string; format: string; split: string; records: number }[]; splits: Partial<Record<Split, PersonalRecord[]>> };
      let name: string;
      if (source === "longlamp") {
        if (o.task === undefined) throw new UserError(`data import longlamp needs --task (${Object.keys(LONGLAMP_TASKS).join(", ")})`);
        const r = await importLongLampDataset(
          o.out,
          { task: o.task, inputs: o.in, config: o.config as LongLampConfig | undefined, strict: o.strict, onIssue: printer.onIssue, allowEmpty: o.allowEmpty },
          { overwrite: o.force },
        );
        imported = r.imported;
        name = r.card.name;
      } else {
        if (o.task !== undefined || o.config !== undefined) throw new UserError("--task and --config belong to data import longlamp");
        const r = await importFlyThinkerJsonDataset(o.out, { inputs: o.in, strict: o.strict, onIssue: printer.onIssue }, { overwrite: o.force });
        imported = r.imported;
        name = r.card.name;
      }
      printer.done();
      for (const f of imported.files) console.log(`read ${f.file} (${f.format}, ${f.split}): ${f.records} records`);
      for (const s of SPLITS) if (imported.splits[s]) printStats(s, recordStats(imported.splits[s]!));
      console.log(`wrote ${o.out} (${name})`);
    });

  data
    .command("prepare")
    .description("build the offline mail task from the bundled SpamAssassin ham (real mail by real people)")
    .argument("<task>", "email")
    .requiredOption("--out <dir>", "output dataset folder")
    .option("--split <rule>", "user (disjoint senders, seeded) | temporal (per sender, latest mail is test)", "user")
    .option("--seed <n>", "seed of the user split", "0")
    .option("--min-mails <n>", "keep senders with at least this many usable mails", "4")
    .option("--min-words <n>", "a usable mail has at least this many words after cleaning", "30")
    .option("--force", "replace the output folder if it exists")
    .action(async (task: string, o: { out: string; split: string; seed: string; minMails: string; minWords: string; force?: boolean }) => {
      if (task !== "email") throw new UserError(`unknown task "${task}"; data prepare builds: email`);
      if (o.split !== "user" && o.split !== "temporal") throw new UserError(`--split must be user or temporal, got "${o.split}"`);
      const { dataset } = await prepareEmailDataset(
        o.out,
        {
          split: o.split as EmailSplitRule,
          seed: int(o.seed, "--seed"),
          minMails: int(o.minMails, "--min-mails"),
          minWords: int(o.minWords, "--min-words"),
        },
        { overwrite: o.force },
      );
      printEmailStats(dataset.stats);
      for (const s of SPLITS) printStats(s, dataset.stats.splits[s]!);
      console.log(`wrote ${o.out} (split rule: ${o.split}${o.split === "user" ? `, seed ${o.seed}` : ""})`);
    });

  data
    .command("inspect")
    .description("validate a dataset folder or JSONL file and print counts, users, history sizes and length percentiles")
    .argument("<path>", "dataset folder or .jsonl file")
    .option("--strict", "stop at the first bad line")
    .action(async (path: string, o: { strict?: boolean }) => {
      if (!existsSync(path)) throw new UserError(`${path}: no such file or folder`);
      const printer = issuePrinter();
      const opts = { strict: o.strict, onIssue: printer.onIssue };
      let parts: Array<[string, PersonalRecord[]]>;
      if (statSync(path).isDirectory()) {
        const r = await readDatasetSplits(path, opts);
        const present = SPLITS.filter((s) => r.splits[s]);
        if (present.length === 0) throw new UserError(`${path} holds no train/val/test .jsonl files`);
        if (r.card) console.log(`${r.card.name}: task ${r.card.task}; source ${r.card.source}; split rule ${r.card.splitRule}`);
        else console.log(`${path}: no dataset.json card`);
        parts = present.map((s: Split) => [s, r.splits[s]!]);
        const users = new Map<string, Set<string>>();
        for (const [s, recs] of parts) for (const rec of recs) (users.get(rec.user) ?? users.set(rec.user, new Set()).get(rec.user)!).add(s);
        const shared = [...users.values()].filter((v) => v.size > 1).length;
        console.log(`${users.size} users in all; ${shared === 0 ? "no user is in two splits" : `${shared} users appear in more than one split`}`);
      } else {
        parts = [["file", (await readJsonl(path, opts)).records]];
      }
      const skipped = printer.done();
      // Records the prompt builder would refuse (e.g. a history item without a field its template needs).
      const unbuildable: string[] = [];
      for (const [name, recs] of parts) {
        for (const rec of recs) {
          const why = promptProblem(rec);
          if (why === null) continue;
          if (unbuildable.length < MAX_PRINTED_ISSUES) console.error(`${name}: record "${rec.id}": no prompt can be built: ${why}`);
          unbuildable.push(rec.id);
        }
      }
      if (unbuildable.length > MAX_PRINTED_ISSUES) console.error(`... and ${unbuildable.length - MAX_PRINTED_ISSUES} more records without a prompt`);
      for (const [name, recs] of parts) printStats(name, recordStats(recs));
      if (skipped > 0) console.log(`${skipped} invalid line${skipped > 1 ? "s" : ""} skipped`);
      if (unbuildable.length > 0) console.log(`${unbuildable.length} record${unbuildable.length > 1 ? "s" : ""} whose prompt cannot be built`);
      if (skipped > 0 || unbuildable.length > 0) process.exitCode = 1;
      else console.log("all records valid");
    });
}
