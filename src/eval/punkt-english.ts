// Parameters of the pretrained English Punkt sentence-boundary model that nltk's `word_tokenize` (and so HF
// `evaluate`'s METEOR) loads: abbreviation types, frequent sentence starters and collocations, learned by the Punkt
// trainer (Kiss & Strunk 2006) from Wall Street Journal text and distributed in NLTK's data package. They decide
// whether a period ends a sentence, which changes where nltk splits off final periods.
// Not included: the model's orthographic-context table (case statistics of ~20k word types), which nltk consults
// only for the word after an abbreviation, an initial or a number-period; without it those words are treated as
// unseen. On the committed fixture (240 mail pairs) this changes no token; see README of test/fixtures/eval.

/** Abbreviation types (lower case, without the final period). */
export const PUNKT_ABBREVIATIONS: readonly string[] = [
  ". . ", "a.a", "a.c", "a.d", "a.g", "a.h", "a.m", "a.m.e", "a.s", "a.t", "adm", "ala", "ariz", "aug", "ave",
  "b.f", "b.v", "bros", "c", "c.i.t", "c.o.m.b", "c.v", "calif", "chg", "cie", "co", "col", "colo", "conn", "corp",
  "cos", "ct", "d", "d.c", "d.h", "d.w", "dec", "dr", "e", "e.f", "e.h", "e.l", "e.m", "f", "f.g", "f.j", "feb",
  "fla", "fri", "ft", "g", "g.d", "g.f", "g.k", "ga", "gen", "h", "h.c", "h.f", "h.m", "i.m.s", "ill", "inc",
  "j.b", "j.c", "j.j", "j.k", "j.p", "j.r", "jan", "jr", "k", "kan", "ky", "l", "l.a", "l.f", "l.p", "lt", "ltd",
  "m", "m.b.a", "m.d.c", "m.j", "maj", "messrs", "mg", "mich", "minn", "mr", "mrs", "ms", "n", "n.c", "n.d", "n.h",
  "n.j", "n.m", "n.v", "n.y", "nev", "nov", "oct", "ok", "okla", "ore", "p", "p.a.m", "p.m", "pa", "ph.d", "prof",
  "r", "r.a", "r.h", "r.i", "r.j", "r.k", "r.t", "rep", "reps", "s", "s.a", "s.a.y", "s.c", "s.g", "s.p.a", "s.s",
  "sen", "sep", "sept", "sr", "st", "sw", "t", "t.j", "tenn", "tues", "u.k", "u.n", "u.s", "u.s.a", "u.s.s.r", "v",
  "va", "vs", "vt", "w", "w.c", "w.r", "w.va", "w.w", "wash", "wed", "wis", "yr",
];

/** Lower-cased words that frequently start a sentence. */
export const PUNKT_SENTENCE_STARTERS: readonly string[] = [
  "according", "although", "among", "both", "but", "despite", "even", "he", "however", "i", "if", "in", "indeed",
  "instead", "it", "many", "meanwhile", "moreover", "most", "nevertheless", "nonetheless", "nor", "sales",
  "separately", "similarly", "since", "so", "some", "the", "there", "these", "they", "this", "though", "thus",
  "under", "when", "while", "yet",
];

/** Word-type pairs (type before a period, type after it) across which a period is not a sentence break. */
export const PUNKT_COLLOCATIONS: readonly (readonly [string, string])[] = [
  ["##number##", "abreast"], ["##number##", "aes"], ["##number##", "business"], ["##number##", "cbot"],
  ["##number##", "colgate"], ["##number##", "commodities"], ["##number##", "cooper"],
  ["##number##", "corrections"], ["##number##", "credit"], ["##number##", "dividend"], ["##number##", "financing"],
  ["##number##", "genentech"], ["##number##", "henley"], ["##number##", "insider"],
  ["##number##", "international"], ["##number##", "leisure"], ["##number##", "letters"], ["##number##", "notable"],
  ["##number##", "pay-fone"], ["##number##", "pegasus"], ["##number##", "pepper"], ["##number##", "review"],
  ["##number##", "rj"], ["##number##", "wedgestone"], ["##number##", "who"], ["##number##", "zimmer"],
  ["b", "edelman"], ["b", "levine"], ["b", "smith"], ["b", "stewart"], ["b", "wigton"], ["i", "magnin"],
  ["i", "toussie"], ["j", "aron"], ["j", "fialka"], ["j", "walter"], ["o", "ludcke"],
];
