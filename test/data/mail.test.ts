import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanBody, normaliseWhitespace } from "../../src/data/email/clean.ts";
import {
  decodeEncodedWords,
  messageIds,
  parseMail,
  plainText,
  quotedPrintableBytes,
  senderAddress,
} from "../../src/data/email/mime.ts";
import { automatedReason, buildEmailDataset, extractMail, type RawMail } from "../../src/data/email/prepare.ts";

// Crafted RFC 822 messages. Lines are joined with CRLF in some to check line-ending handling.
const folded = [
  "From alice@example.org  Thu Aug 22 12:36:23 2002",
  "Return-Path: <alice@example.org>",
  "From: =?iso-8859-1?q?Ren=E9e_M=FCller?=",
  "    <Renee.Mueller@Example.ORG>",
  "Subject: =?utf-8?B?R3LDvMOfZQ==?= aus",
  "\t=?iso-8859-1?Q?K=F6ln?=",
  "Date: Thu, 22 Aug 2002 07:36:16 -0400 (EDT)",
  "Message-Id: <1@example.org>",
  "In-Reply-To: <0@example.org>",
  "References: <a@x> <0@example.org>",
  "",
  "Body line.",
].join("\r\n");

test("mime: folded headers, encoded words (Q and B, mixed charsets), sender, date, message ids", () => {
  const m = parseMail(folded);
  assert.equal(m.header("from"), "Renée Müller <Renee.Mueller@Example.ORG>");
  assert.equal(senderAddress(m.header("from")), "renee.mueller@example.org");
  assert.equal(m.header("subject"), "Grüße aus Köln");
  assert.equal(m.date, Date.UTC(2002, 7, 22, 11, 36, 16));
  assert.deepEqual(messageIds(m.header("references")), ["a@x", "0@example.org"]);
  assert.equal(plainText(m.root).text, "Body line.");
  // adjacent encoded words join without the space between them; plain words keep theirs
  assert.equal(decodeEncodedWords("=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d_e?="), "ab c d e");
  assert.equal(senderAddress("bob@example.com (Bob)"), "bob@example.com");
  assert.equal(senderAddress("nobody here"), undefined);
});

const multipart = `From: Bob <bob@example.com>
Subject: Re: kettle
Date: Fri, 23 Aug 2002 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.

--outer
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

The kettle costs 20 =A3 and boils in three minutes, which is fast enough for =
me.
Caf=E9 owners like it.

--inner
Content-Type: text/html; charset="iso-8859-1"

<p>The kettle costs <b>20</b></p>
--inner--

--outer
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

U2Vjb25kIHBhcnQ6IMOcYmVyIGFsbGVzLg==

--outer
Content-Type: application/octet-stream; name="x.bin"
Content-Disposition: attachment; filename="x.bin"
Content-Transfer-Encoding: base64

AAECAw==
--outer--
`;

test("mime: multipart/mixed with alternative (plain chosen), quoted-printable, base64, attachments skipped", () => {
  const m = parseMail(multipart);
  assert.equal(m.root.type, "multipart/mixed");
  assert.deepEqual(m.root.parts.map((p) => p.type), ["multipart/alternative", "text/plain", "application/octet-stream"]);
  const body = plainText(m.root);
  assert.equal(body.htmlOnly, false);
  assert.equal(
    body.text,
    "The kettle costs 20 £ and boils in three minutes, which is fast enough for me.\nCafé owners like it.\n\n\nSecond part: Über alles.",
  );
  assert.deepEqual([...quotedPrintableBytes("a=3Db=\n c= \nd")], [...Buffer.from("a=b cd")]);
});

test("mime: HTML-only mail is recognised; a single-part base64 body is decoded; undeclared UTF-8 bytes are read as UTF-8", () => {
  const html = "From: c@x.org\nContent-Type: text/html\n\n<html><body>Hi</body></html>\n";
  assert.equal(plainText(parseMail(html).root).htmlOnly, true);
  const alt = "From: c@x.org\nContent-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<p>x</p>\n--b--\n";
  assert.equal(plainText(parseMail(alt).root).htmlOnly, true);
  const b64 = "From: c@x.org\nContent-Transfer-Encoding: base64\nContent-Type: text/plain; charset=iso-8859-1\n\nSGVsbG8gd29ybGQsIGNhZuk=\n";
  assert.equal(plainText(parseMail(b64).root).text, "Hello world, café");
  const rawUtf8 = "From: c@x.org\n\n" + Buffer.from("naïve café", "utf8").toString("latin1");
  assert.equal(plainText(parseMail(rawUtf8).root).text, "naïve café");
  const rawLatin1 = "From: c@x.org\nContent-Type: text/plain; charset=iso-8859-1\n\n" + Buffer.from("naïve", "latin1").toString("latin1");
  assert.equal(plainText(parseMail(rawLatin1).root).text, "naïve");
});

const reply = `On Thu, 22 Aug 2002, Robert Elz
wrote:
> Hi all, does the sequence window
> still crash for anyone?
>> older quoted line
    RE> supercite quote

Yes, it crashes here too when the folder has more than a hundred messages in it.
I will send a patch tomorrow.

Cheers,
Chris

-- 
Chris Garrigues                 http://www.example.com/~cwg/
Austin, TX

_______________________________________________
Exmh-workers mailing list
Exmh-workers@redhat.com
https://listman.redhat.com/mailman/listinfo/exmh-workers
`;

test("clean: quoted replies, attributions, signature and list footer go; the quoted text is kept apart", () => {
  const c = cleanBody(reply);
  assert.equal(c.text, "Yes, it crashes here too when the folder has more than a hundred messages in it. I will send a patch tomorrow.\n\nCheers,\nChris");
  assert.equal(c.quoted, "Hi all, does the sequence window\nstill crash for anyone?\nsupercite quote");
});

test("clean: Yahoo! Groups sponsor blocks, SourceForge footers, Outlook original-message blocks and forwards are cut", () => {
  const yahoo = `So, anyone who isn't Beaker?

TimC

------------------------ Yahoo! Groups Sponsor ---------------------~-->
4 DVDs Free +s&p Join Now
http://us.click.yahoo.com/pt6YBB/NXiEAA/mG3HAA/7gSolB/TM
---------------------------------------------------------------------~->

To unsubscribe from this group, send an email to:
forteana-unsubscribe@egroups.com

Your use of Yahoo! Groups is subject to http://docs.yahoo.com/info/terms/
`;
  assert.equal(cleanBody(yahoo).text, "So, anyone who isn't Beaker?\n\nTimC");
  const sf = `Thanks, that did the trick.

-------------------------------------------------------
This sf.net email is sponsored by:ThinkGeek
Welcome to geek heaven.
http://thinkgeek.com/sf
_______________________________________________
Spamassassin-talk mailing list
Spamassassin-talk@lists.sourceforge.net
https://lists.sourceforge.net/lists/listinfo/spamassassin-talk
`;
  assert.equal(cleanBody(sf).text, "Thanks, that did the trick.");
  const outlook = `Sounds like what was on the radio last Thursday.

-----Original Message-----
From: someone@example.com
Sent: 25 July 2002 13:53
Subject: [ILUG] something

The original text that someone else wrote.
`;
  assert.equal(cleanBody(outlook).text, "Sounds like what was on the radio last Thursday.");
  const fwd = "Worth a read.\n\n---------- Forwarded message ----------\nFrom: x@y.z\n\nArticle text.\n";
  assert.equal(cleanBody(fwd).text, "Worth a read.");
  const pgp = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\nSigned words here.\n\n-----BEGIN PGP SIGNATURE-----\nVersion: GnuPG v1.0.6\n\niD8DBQE9\n-----END PGP SIGNATURE-----\n";
  assert.equal(cleanBody(pgp).text, "Signed words here.");
});

test("clean: whitespace is normalised and hard-wrapped paragraphs are joined, deliberate breaks and lists kept", () => {
  const text = "First   line of a paragraph that was wrapped by the mail client\nat seventy-two columns.\t\n\n\n\nShort line\n- item one\n- item two\n";
  assert.equal(normaliseWhitespace(text), "First line of a paragraph that was wrapped by the mail client at seventy-two columns.\n\nShort line\n- item one\n- item two");
});

test("automated mail: feeds, robots and bulk senders outside mailing lists are caught; list mail by people is not", () => {
  const head = (h: string): ReturnType<typeof parseMail> => parseMail(`${h}\n\nbody\n`);
  assert.match(automatedReason(head("From: rssfeeds@example.org"), "rssfeeds@example.org")!, /robot sender/);
  assert.match(automatedReason(head("From: news@x.com\nPrecedence: bulk"), "news@x.com")!, /generic sender/);
  assert.match(automatedReason(head("From: pudge@perl.org\nPrecedence: list"), "pudge@perl.org")!, /bulk mail without a mailing list/);
  assert.match(automatedReason(head("From: a@b.c\nX-Mailer: Accucast (http://www.accucast.com)"), "a@b.c")!, /bulk mailer/);
  assert.match(automatedReason(head("From: dev@b.c\nList-Id: <x-commits.lists.example.net>"), "dev@b.c")!, /commit notification list/);
  // a person posting to a list: Precedence: bulk plus list headers, even from a generic-looking address
  assert.equal(automatedReason(head("From: list@jth.net\nPrecedence: bulk\nList-Id: <razor-users.example.net>"), "list@jth.net"), undefined);
  assert.equal(automatedReason(head("From: kre@munnari.oz.au"), "kre@munnari.oz.au"), undefined);
});

const words = (n: number, seed: string): string => Array.from({ length: n }, (_, i) => `${seed}${i}`).join(" ") + ".";

function mail(id: string, from: string, subject: string, date: string, body: string, extra = ""): RawMail {
  return { id: `g/${id}`, group: "g", text: `From: ${from}\nSubject: ${subject}\nDate: ${date}\nMessage-ID: <${id}@x>\n${extra}\n${body}\n` };
}

test("mail task on crafted mails: reply query with excerpt, filtering counts, profiles, temporal split", () => {
  const mails: RawMail[] = [];
  const senders = ["ann@a.org", "bob@b.org", "cat@c.org", "dan@d.org", "eve@e.org", "fay@f.org"];
  senders.forEach((s, si) => {
    for (let k = 0; k < 4; k++) mails.push(mail(`${si}-${k}`, s, `Topic ${k}`, `Mon, ${k + 1} Jul 2002 10:00:00 +0000`, words(si === 0 && k === 0 ? 50 : 40, `w${si}x${k}y`)));
  });
  // a reply to ann's first mail by bob, quoting it
  mails.push(
    mail("r1", "Bob <bob@b.org>", "Re: Topic 0", "Tue, 9 Jul 2002 10:00:00 +0000", `> quoted words\n\n${words(35, "reply")}`, "In-Reply-To: <0-0@x>"),
  );
  mails.push(mail("h1", "gus@g.org", "html", "Tue, 9 Jul 2002 10:00:00 +0000", "<p>hi</p>", "Content-Type: text/html"));
  mails.push(mail("s1", "gus@g.org", "short", "Tue, 9 Jul 2002 10:00:00 +0000", "Too short."));
  mails.push(mail("f1", "rssfeeds@g.org", "feed", "Tue, 9 Jul 2002 10:00:00 +0000", words(50, "feed")));
  mails.push({ ...mails[0]!, id: "g/dup" }); // the same message again

  const ds = buildEmailDataset({ mails, split: "user", seed: 1, valFraction: 0.2, testFraction: 0.2 });
  assert.deepEqual(ds.stats.dropped, { "no-sender": 0, duplicate: 1, automated: 1, "html-only": 1, "too-short": 1 });
  assert.equal(ds.stats.kept.senders, 6);
  assert.equal(ds.stats.kept.mails, 25);
  const all = [...ds.splits.train, ...ds.splits.val, ...ds.splits.test];
  assert.equal(all.length, 25);
  const r1 = all.find((r) => r.id === "email/g/r1")!;
  assert.equal(r1.user, "bob@b.org");
  assert.equal(r1.input, `Write an email with the subject "Re: Topic 0". It replies to: "${words(50, "w0x0y").split(" ").slice(0, 40).join(" ")} ..."`);
  assert.equal(r1.output, words(35, "reply"));
  assert.equal(r1.profile.length, 4);
  assert.deepEqual(r1.profile.map((p) => p.id), ["email/g/1-0", "email/g/1-1", "email/g/1-2", "email/g/1-3"]);
  const plain = all.find((r) => r.id === "email/g/2-1")!;
  assert.equal(plain.input, 'Write an email with the subject "Topic 1".');
  // user split: disjoint users; every user's records in one split
  const where = new Map<string, Set<string>>();
  for (const s of ["train", "val", "test"] as const) for (const r of ds.splits[s]) (where.get(r.user) ?? where.set(r.user, new Set()).get(r.user)!).add(s);
  assert.ok([...where.values()].every((v) => v.size === 1));
  assert.equal(ds.splits.test.length > 0 && ds.splits.val.length > 0, true);

  const t = buildEmailDataset({ mails, split: "temporal" });
  assert.equal(t.splits.test.length, 6);
  assert.equal(t.splits.val.length, 6);
  const bobTest = t.splits.test.find((r) => r.user === "bob@b.org")!;
  assert.equal(bobTest.id, "email/g/r1"); // latest of bob's mails
  assert.equal(bobTest.profile.length, 4); // only earlier mails
  const bobFirst = t.splits.train.find((r) => r.id === "email/g/1-0")!;
  assert.deepEqual(bobFirst.profile, []);
  assert.equal(extractMail(mails[0]!, 30).mail!.words, 50);
});
