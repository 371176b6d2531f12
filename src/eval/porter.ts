// The Porter stemmer in the variant nltk calls NLTK_EXTENSIONS (nltk's default, used by rouge_score's stemmer and by
// nltk's METEOR): Porter (1980) plus Martin Porter's later fixes plus nltk's own changes (a few irregular forms,
// "-ies"/"-ied" on 4-letter words, "y -> i" only after a consonant, "-alli", "-fulli", "-logi", "-bli", and a CVC rule
// for two-letter stems). Words are handled as arrays of code points, as Python indexes strings.

type Word = string[];

const IRREGULAR: Record<string, string> = {
  sky: "sky",
  skies: "sky",
  dying: "die",
  lying: "lie",
  tying: "tie",
  news: "news",
  innings: "inning",
  inning: "inning",
  outings: "outing",
  outing: "outing",
  cannings: "canning",
  canning: "canning",
  howe: "howe",
  proceed: "proceed",
  exceed: "exceed",
  succeed: "succeed",
};

const VOWELS = new Set(["a", "e", "i", "o", "u"]);

function isConsonant(w: Word, i: number): boolean {
  // Iterative form of: vowel letters are vowels; "y" is a consonant at the start or after a vowel.
  let k = i;
  let flips = 0;
  while (true) {
    const c = w[k]!;
    if (VOWELS.has(c)) return flips % 2 === 1;
    if (c !== "y") return flips % 2 === 0;
    if (k === 0) return flips % 2 === 0;
    k -= 1;
    flips += 1;
  }
}

function measure(w: Word, len = w.length): number {
  let m = 0;
  let prevVowel = false;
  for (let i = 0; i < len; i++) {
    const cons = isConsonant(w, i);
    if (cons && prevVowel) m += 1;
    prevVowel = !cons;
  }
  return m;
}

function containsVowel(w: Word): boolean {
  for (let i = 0; i < w.length; i++) if (!isConsonant(w, i)) return true;
  return false;
}

function endsDoubleConsonant(w: Word): boolean {
  const n = w.length;
  return n >= 2 && w[n - 1] === w[n - 2] && isConsonant(w, n - 1);
}

function endsCvc(w: Word): boolean {
  const n = w.length;
  if (
    n >= 3 &&
    isConsonant(w, n - 3) &&
    !isConsonant(w, n - 2) &&
    isConsonant(w, n - 1) &&
    w[n - 1] !== "w" &&
    w[n - 1] !== "x" &&
    w[n - 1] !== "y"
  ) {
    return true;
  }
  return n === 2 && !isConsonant(w, 0) && isConsonant(w, 1);
}

function endsWith(w: Word, suffix: string): boolean {
  const s = Array.from(suffix);
  if (s.length > w.length) return false;
  const off = w.length - s.length;
  for (let i = 0; i < s.length; i++) if (w[off + i] !== s[i]) return false;
  return true;
}

function cut(w: Word, suffix: string): Word {
  return w.slice(0, w.length - Array.from(suffix).length);
}

function plus(w: Word, s: string): Word {
  return s.length === 0 ? w : w.concat(Array.from(s));
}

type Cond = ((stem: Word) => boolean) | null;
type Rule = [suffix: string, replacement: string, cond: Cond];

/** The first rule whose suffix matches decides: replaced if its condition holds, else the word is returned as is. */
function applyRules(w: Word, rules: Rule[]): Word {
  for (const [suffix, replacement, cond] of rules) {
    if (suffix === "*d" && endsDoubleConsonant(w)) {
      const stem = w.slice(0, w.length - 2);
      return cond === null || cond(stem) ? plus(stem, replacement) : w;
    }
    if (endsWith(w, suffix)) {
      const stem = cut(w, suffix);
      return cond === null || cond(stem) ? plus(stem, replacement) : w;
    }
  }
  return w;
}

const positive = (stem: Word): boolean => measure(stem) > 0;
const gt1 = (stem: Word): boolean => measure(stem) > 1;

function step1a(w: Word): Word {
  if (endsWith(w, "ies") && w.length === 4) return plus(cut(w, "ies"), "ie");
  return applyRules(w, [
    ["sses", "ss", null],
    ["ies", "i", null],
    ["ss", "ss", null],
    ["s", "", null],
  ]);
}

function step1b(w: Word): Word {
  if (endsWith(w, "ied")) return plus(cut(w, "ied"), w.length === 4 ? "ie" : "i");
  if (endsWith(w, "eed")) {
    const stem = cut(w, "eed");
    return measure(stem) > 0 ? plus(stem, "ee") : w;
  }
  let inter: Word | null = null;
  for (const suffix of ["ed", "ing"]) {
    if (endsWith(w, suffix)) {
      const s = cut(w, suffix);
      if (containsVowel(s)) {
        inter = s;
        break;
      }
    }
  }
  if (inter === null) return w;
  const last = inter[inter.length - 1];
  return applyRules(inter, [
    ["at", "ate", null],
    ["bl", "ble", null],
    ["iz", "ize", null],
    ["*d", last ?? "", () => last !== "l" && last !== "s" && last !== "z"],
    ["", "e", (stem) => measure(stem) === 1 && endsCvc(stem)],
  ]);
}

function step1c(w: Word): Word {
  return applyRules(w, [["y", "i", (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]]);
}

function step2(w: Word): Word {
  if (endsWith(w, "alli") && positive(cut(w, "alli"))) return step2(plus(cut(w, "alli"), "al"));
  return applyRules(w, [
    ["ational", "ate", positive],
    ["tional", "tion", positive],
    ["enci", "ence", positive],
    ["anci", "ance", positive],
    ["izer", "ize", positive],
    ["bli", "ble", positive],
    ["alli", "al", positive],
    ["entli", "ent", positive],
    ["eli", "e", positive],
    ["ousli", "ous", positive],
    ["ization", "ize", positive],
    ["ation", "ate", positive],
    ["ator", "ate", positive],
    ["alism", "al", positive],
    ["iveness", "ive", positive],
    ["fulness", "ful", positive],
    ["ousness", "ous", positive],
    ["aliti", "al", positive],
    ["iviti", "ive", positive],
    ["biliti", "ble", positive],
    ["fulli", "ful", positive],
    // nltk tests the measure of the word without its last three letters here, not of the stem.
    ["logi", "log", () => positive(w.slice(0, Math.max(0, w.length - 3)))],
  ]);
}

function step3(w: Word): Word {
  return applyRules(w, [
    ["icate", "ic", positive],
    ["ative", "", positive],
    ["alize", "al", positive],
    ["iciti", "ic", positive],
    ["ical", "ic", positive],
    ["ful", "", positive],
    ["ness", "", positive],
  ]);
}

function step4(w: Word): Word {
  return applyRules(w, [
    ["al", "", gt1],
    ["ance", "", gt1],
    ["ence", "", gt1],
    ["er", "", gt1],
    ["ic", "", gt1],
    ["able", "", gt1],
    ["ible", "", gt1],
    ["ant", "", gt1],
    ["ement", "", gt1],
    ["ment", "", gt1],
    ["ent", "", gt1],
    ["ion", "", (stem) => measure(stem) > 1 && (stem[stem.length - 1] === "s" || stem[stem.length - 1] === "t")],
    ["ou", "", gt1],
    ["ism", "", gt1],
    ["ate", "", gt1],
    ["iti", "", gt1],
    ["ous", "", gt1],
    ["ive", "", gt1],
    ["ize", "", gt1],
  ]);
}

function step5a(w: Word): Word {
  if (endsWith(w, "e")) {
    const stem = cut(w, "e");
    const m = measure(stem);
    if (m > 1) return stem;
    if (m === 1 && !endsCvc(stem)) return stem;
  }
  return w;
}

function step5b(w: Word): Word {
  return applyRules(w, [["ll", "l", () => measure(w, w.length - 1) > 1]]);
}

const cache = new Map<string, string>();

/** nltk's `PorterStemmer().stem(word)` (NLTK_EXTENSIONS mode, lower-casing the word first). */
export function porterStem(word: string): string {
  const hit = cache.get(word);
  if (hit !== undefined) return hit;
  const lower = word.toLowerCase();
  let result: string;
  if (Object.prototype.hasOwnProperty.call(IRREGULAR, word)) {
    result = IRREGULAR[lower]!;
  } else {
    let w = Array.from(lower);
    if (Array.from(word).length <= 2) {
      result = lower;
    } else {
      w = step1a(w);
      w = step1b(w);
      w = step1c(w);
      w = step2(w);
      w = step3(w);
      w = step4(w);
      w = step5a(w);
      w = step5b(w);
      result = w.join("");
    }
  }
  if (cache.size > 200_000) cache.clear();
  cache.set(word, result);
  return result;
}
