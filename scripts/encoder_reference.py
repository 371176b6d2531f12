#!/usr/bin/env python3
"""Fixtures for the BERT-family encoders and BERTScore, from independent plain-PyTorch / plain-Python code.

Run with a Python that has PyTorch and regex (on Debian: apt install python3-torch python3-regex, then use
/usr/bin/python3):

    /usr/bin/python3 scripts/encoder_reference.py test/fixtures/encoder

It writes one Hugging Face style folder per variant (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json) and expected.json:

  bert         BERT, weights stored with the "bert." prefix and a pooler the encoder does not use; WordPiece
  bert-legacy  the same weights without a prefix and with the old LayerNorm names gamma / beta
  roberta      RoBERTa, "roberta." prefix, an unused lm_head, position ids offset past padding_idx 1, eps 1e-5;
               byte-level BPE (merges learned here on a small corpus)
  distilbert   DistilBERT, "distilbert." prefix, no token types; WordPiece

expected.json holds:
  texts / ids        the BERTScore encoding of each text: text.strip(), " " prepended for byte-level BPE,
                     truncated to model_max_length - 2 subwords, then [CLS] ... [SEP] (or <s> ... </s>); the
                     subword split comes from this file's own slow-tokenizer code (BasicTokenizer + greedy
                     longest-match WordPiece; GPT-2 regex + byte map + rank-ordered merges), not from a library
  batch              three of those rows right-padded with the pad id, their attention mask and position ids
  hidden_states      hidden_states[0..L] of the batch ([3, seq, hidden] each), the Hugging Face eager forward in
                     float64 on float32 weights:
                       e = word[ids] + pos[position ids] (+ token_type[0]); h = LayerNorm(e)
                       per layer: scores = (h Wq^T + bq)(h Wk^T + bk)^T / sqrt(hd) + (1 - mask) * float64 min,
                       softmax, times (h Wv^T + bv), heads joined, dense; h = LayerNorm(h + attn);
                       h = LayerNorm(h + (gelu_erf(h W1^T + b1) W2^T + b2))
  bertscore          BERTScore P/R/F of candidate/reference pairs as the bert_score package computes them: layer L
                     token vectors of each text alone, L2-normalised; P = sum_i w_i max_j cos / sum_i w_i over
                     candidate tokens, R the same over reference tokens, F = 2PR/(P+R); weights 1 with [CLS]/[SEP]
                     at 0 (no idf) or idf(w) = ln((M+1)/(c(w)+1)) from the M references (idf); pairs scored in
                     batches of 64 in order, where a cell of a padded partner counts as a similarity of 0 in the max
                     (the package zeroes padded cells before taking it); empty texts give 0
"""

import json
import math
import os
import random
import sys
import unicodedata

import regex
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_reference import packed, write_json, write_safetensors  # noqa: E402

torch.set_default_dtype(torch.float64)

MODEL_MAX_LENGTH = 24

# ---------------------------------------------------------------------------------------------------------------
# Tokenizers (slow-tokenizer semantics, written here)

WORDS = ["the", "a", "chef", "cook", "food", "good", "great", "is", "was", "and", "of", "to", "in", "restaurant",
         "year", "old", "he", "she", "it", "very", "cafe", "de", "ja", "vu", "un", "##s", "##ed", "##ing", "##er",
         "##ly", "##a", "##e", "##o", "##n", "##t", "##r", "##i"]


def wordpiece_vocab():
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-()") + ["\u4e2d", "\u6587"]
    cont = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab = []
    for t in special + chars + WORDS + cont:
        if t not in vocab:
            vocab.append(t)
    return {t: i for i, t in enumerate(vocab)}


def is_punctuation(ch):
    cp = ord(ch)
    if (33 <= cp <= 47) or (58 <= cp <= 64) or (91 <= cp <= 96) or (123 <= cp <= 126):
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokens(text):
    """BERT's BasicTokenizer for an uncased model: clean, space CJK, lower-case, strip accents, split punctuation."""
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch in " \t\n\r" or unicodedata.category(ch) == "Zs":
            cleaned.append(" ")
        elif is_cjk(cp):
            cleaned.append(" " + ch + " ")
        else:
            cleaned.append(ch)
    out = []
    for word in "".join(cleaned).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(c for c in word if unicodedata.category(c) != "Mn")
        piece = ""
        for ch in word:
            if is_punctuation(ch):
                if piece:
                    out.append(piece)
                out.append(ch)
                piece = ""
            else:
                piece += ch
        if piece:
            out.append(piece)
    return out


def wordpiece(text, vocab):
    ids = []
    for word in basic_tokens(text):
        if len(word) > 100:
            ids.append(vocab["[UNK]"])
            continue
        start, pieces = 0, []
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in vocab:
                    found = sub
                    break
                end -= 1
            if found is None:
                pieces = None
                break
            pieces.append(vocab[found])
            start = end
        ids.extend(pieces if pieces is not None else [vocab["[UNK]"]])
    return ids


def byte_map():
    """GPT-2's reversible byte -> printable character map."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
BYTES = byte_map()


def pre_tokens(text):
    return ["".join(BYTES[b] for b in piece.encode("utf-8")) for piece in GPT2_SPLIT.findall(text)]


def learn_merges(corpus, n):
    words = {}
    for line in corpus:
        for w in pre_tokens(" " + line):
            words[tuple(w)] = words.get(tuple(w), 0) + 1
    merges = []
    for _ in range(n):
        pairs = {}
        for w, c in words.items():
            for p in zip(w, w[1:]):
                pairs[p] = pairs.get(p, 0) + c
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        merged = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            merged[tuple(out)] = c
        words = merged
    return merges


def bpe(text, vocab, ranks):
    ids = []
    for word in pre_tokens(text):
        parts = list(word)
        while len(parts) > 1:
            pairs = [(ranks.get((a, b), math.inf), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
            rank, i = min(pairs)
            if rank == math.inf:
                break
            first, second = parts[i], parts[i + 1]
            out, j = [], 0
            while j < len(parts):
                if j + 1 < len(parts) and parts[j] == first and parts[j + 1] == second:
                    out.append(first + second)
                    j += 2
                else:
                    out.append(parts[j])
                    j += 1
            parts = out
        ids.extend(vocab[p] for p in parts)
    return ids


CORPUS = [
    "The 28-year-old chef was found dead at his home this morning.",
    "A 28-year-old chef who recently moved to San Francisco was found dead.",
    "The food at the restaurant was very good and the cook was great.",
    "She said it was the best meal of the year.",
    "He cooks, she bakes; they both love good food!",
]


def bpe_tokenizer():
    merges = learn_merges(CORPUS, 60)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab.setdefault(BYTES[b], len(vocab))
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    return vocab, merges


# ---------------------------------------------------------------------------------------------------------------
# tokenizer.json files (what @huggingface/tokenizers reads)

def added(tokens, vocab):
    return [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
             "special": True} for t in tokens]


def wordpiece_json(vocab):
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], vocab),
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [cls], "tokens": ["[CLS]"]},
                               "[SEP]": {"id": "[SEP]", "ids": [sep], "tokens": ["[SEP]"]}},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab},
    }


def bpe_json(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added(["<s>", "<pad>", "</s>", "<unk>"], vocab),
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
                           "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab,
                  "merges": [f"{a} {b}" for a, b in merges]},
    }


# ---------------------------------------------------------------------------------------------------------------
# Models

def layer_names(kind, i):
    if kind == "distilbert":
        a = f"transformer.layer.{i}"
        return {"q": f"{a}.attention.q_lin", "k": f"{a}.attention.k_lin", "v": f"{a}.attention.v_lin",
                "o": f"{a}.attention.out_lin", "n1": f"{a}.sa_layer_norm", "up": f"{a}.ffn.lin1",
                "down": f"{a}.ffn.lin2", "n2": f"{a}.output_layer_norm"}
    a = f"encoder.layer.{i}"
    return {"q": f"{a}.attention.self.query", "k": f"{a}.attention.self.key", "v": f"{a}.attention.self.value",
            "o": f"{a}.attention.output.dense", "n1": f"{a}.attention.output.LayerNorm",
            "up": f"{a}.intermediate.dense", "down": f"{a}.output.dense", "n2": f"{a}.output.LayerNorm"}


def make_weights(c, seed):
    """Float32-exact random weights (stored as float64 tensors), canonical names without a prefix."""
    g = torch.Generator().manual_seed(seed)
    D, F = c["hidden"], c["ffn"]

    def rnd(*shape, scale=0.3, shift=0.0):
        return (torch.randn(*shape, generator=g) * scale + shift).to(torch.float32).to(torch.float64)

    w = {"embeddings.word_embeddings.weight": rnd(c["vocab"], D, scale=0.6),
         "embeddings.position_embeddings.weight": rnd(c["positions"], D, scale=0.6),
         "embeddings.LayerNorm.weight": rnd(D, scale=0.2, shift=1.0),
         "embeddings.LayerNorm.bias": rnd(D, scale=0.1)}
    if c["types"]:
        w["embeddings.token_type_embeddings.weight"] = rnd(c["types"], D, scale=0.6)
    for i in range(c["layers"]):
        n = layer_names(c["kind"], i)
        for p in ("q", "k", "v", "o"):
            w[n[p] + ".weight"] = rnd(D, D, scale=1 / math.sqrt(D) * 1.5)
            w[n[p] + ".bias"] = rnd(D, scale=0.1)
        w[n["up"] + ".weight"] = rnd(F, D, scale=1 / math.sqrt(D) * 1.5)
        w[n["up"] + ".bias"] = rnd(F, scale=0.1)
        w[n["down"] + ".weight"] = rnd(D, F, scale=1 / math.sqrt(F) * 1.5)
        w[n["down"] + ".bias"] = rnd(D, scale=0.1)
        for p in ("n1", "n2"):
            w[n[p] + ".weight"] = rnd(D, scale=0.2, shift=1.0)
            w[n[p] + ".bias"] = rnd(D, scale=0.1)
    return w


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def position_ids(c, row):
    if c["kind"] != "roberta":
        return list(range(len(row)))
    out, count = [], 0
    for t in row:
        if t == c["pad"]:
            out.append(c["pad"])
        else:
            count += 1
            out.append(c["pad"] + count)
    return out


def hidden_states(c, w, ids, mask):
    ids = torch.tensor(ids)
    mask = torch.tensor(mask, dtype=torch.float64)
    pos = torch.tensor([position_ids(c, row) for row in ids.tolist()])
    B, S = ids.shape
    D, H = c["hidden"], c["heads"]
    hd = D // H
    e = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
    if c["types"]:
        e = e + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    h = layer_norm(e, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], c["eps"])
    states = [h]
    ext = (1.0 - mask)[:, None, None, :] * torch.finfo(torch.float64).min

    def lin(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    for i in range(c["layers"]):
        n = layer_names(c["kind"], i)
        split = lambda x: x.view(B, S, H, hd).transpose(1, 2)  # noqa: E731
        q, k, v = split(lin(h, n["q"])), split(lin(h, n["k"])), split(lin(h, n["v"]))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + ext, dim=-1)
        ctx = (probs @ v).transpose(1, 2).reshape(B, S, D)
        h = layer_norm(h + lin(ctx, n["o"]), w[n["n1"] + ".weight"], w[n["n1"] + ".bias"], c["eps"])
        f = lin(gelu(lin(h, n["up"])), n["down"])
        h = layer_norm(h + f, w[n["n2"] + ".weight"], w[n["n2"] + ".bias"], c["eps"])
        states.append(h)
    return states


def hf_config(c):
    if c["kind"] == "distilbert":
        return {"model_type": "distilbert", "architectures": ["DistilBertModel"], "vocab_size": c["vocab"],
                "dim": c["hidden"], "n_layers": c["layers"], "n_heads": c["heads"], "hidden_dim": c["ffn"],
                "max_position_embeddings": c["positions"], "activation": "gelu", "pad_token_id": c["pad"],
                "sinusoidal_pos_embds": False, "dropout": 0.1, "attention_dropout": 0.1}
    arch = "RobertaModel" if c["kind"] == "roberta" else "BertModel"
    return {"model_type": c["kind"], "architectures": [arch], "vocab_size": c["vocab"], "hidden_size": c["hidden"],
            "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"], "intermediate_size": c["ffn"],
            "max_position_embeddings": c["positions"], "type_vocab_size": c["types"], "layer_norm_eps": c["eps"],
            "hidden_act": "gelu", "pad_token_id": c["pad"], "position_embedding_type": "absolute",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}


# ---------------------------------------------------------------------------------------------------------------
# BERTScore (the bert_score package's arithmetic)

TEXTS = [
    "The 28-year-old chef was found dead at his home this morning.",
    "  A chef, who was great, cooked the food!  ",
    "Café déjà vu: un chef 中文 très bon.",
    "",
    "   ",
    "she   said   it was good",
    "unbelievablyextraordinarily" * 5,
    "the food was very good and the restaurant was great and the cook was good and she said it was the best of the year",
    "It's 2024; he'd say we've won -- really?!",
]

PAIRS = [
    ("The 28-year-old chef was found dead at his home this morning.",
     ["A 28-year-old chef who recently moved to San Francisco was found dead."]),
    ("she said it was good", ["the food was good", "she said it was very good"]),
    ("", ["the food was good"]),
    ("the cook was great", ["the cook was great"]),
    ("He cooks, she bakes; they both love good food!", ["good food", "they love food", "she bakes"]),
]


def bertscore(c, w, encode, layer, idf, cls, sep):
    cands = [cand for cand, refs in PAIRS for _ in refs]
    refs = [r for _, rs in PAIRS for r in rs]
    groups, count = [], 0
    for _, rs in PAIRS:
        groups.append((count, count + len(rs)))
        count += len(rs)
    if idf:
        M = len(refs)
        counts = {}
        for r in refs:
            for t in set(encode(r)):
                counts[t] = counts.get(t, 0) + 1
        weight = lambda t: math.log((M + 1) / (counts.get(t, 0) + 1))  # noqa: E731
    else:
        weight = lambda t: 0.0 if t in (cls, sep) else 1.0  # noqa: E731

    def vectors(text):
        ids = encode(text)
        h = hidden_states(c, w, [ids], [[1] * len(ids)])[layer][0]
        return ids, h / h.norm(dim=-1, keepdim=True)

    scores = []
    for start in range(0, len(refs), 64):
        chunk = list(range(start, min(start + 64, len(refs))))
        enc = {i: (vectors(cands[i]), vectors(refs[i])) for i in chunk}
        max_h = max(len(enc[i][0][0]) for i in chunk)
        max_r = max(len(enc[i][1][0]) for i in chunk)
        for i in chunk:
            (hid, hv), (rid, rv) = enc[i]
            sim = hv @ rv.T
            best_p = sim.max(dim=1).values
            best_r = sim.max(dim=0).values
            if len(rid) < max_r:
                best_p = best_p.clamp(min=0)
            if len(hid) < max_h:
                best_r = best_r.clamp(min=0)
            wh = torch.tensor([weight(t) for t in hid])
            wr = torch.tensor([weight(t) for t in rid])
            P = float((best_p * wh).sum() / wh.sum())
            R = float((best_r * wr).sum() / wr.sum())
            if len(hid) == 2 or len(rid) == 2:
                P = R = 0.0
            F = 2 * P * R / (P + R) if (P + R) != 0 and not math.isnan(P + R) else 0.0
            if math.isnan(F):
                F = 0.0
            scores.append((P, R, F))
    out = []
    for beg, end in groups:
        part = scores[beg:end]
        out.append([max(s[k] for s in part) for k in range(3)])
    return out


# ---------------------------------------------------------------------------------------------------------------

def variant(out_dir, name, c, w, stored_names, tok_json, encode, cls, sep):
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), hf_config(c), indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), stored_names(w), "F32")
    write_json(os.path.join(d, "tokenizer.json"), tok_json)
    write_json(os.path.join(d, "tokenizer_config.json"), {"model_max_length": MODEL_MAX_LENGTH}, indent=2)
    ids = [encode(t) for t in TEXTS]
    rows = [ids[0], ids[2], ids[5]]
    seq = max(len(r) for r in rows)
    batch = [r + [c["pad"]] * (seq - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (seq - len(r)) for r in rows]
    states = hidden_states(c, w, batch, mask)
    expected = {
        "texts": TEXTS, "ids": ids,
        "batch": {"ids": batch, "mask": mask, "positions": [position_ids(c, r) for r in batch]},
        "hidden_states": [packed(s) for s in states],
        "pairs": [{"cand": cand, "refs": refs} for cand, refs in PAIRS],
        "bertscore": {str(layer): {"no_idf": bertscore(c, w, encode, layer, False, cls, sep),
                                   "idf": bertscore(c, w, encode, layer, True, cls, sep)}
                      for layer in (1, c["layers"])},
    }
    write_json(os.path.join(d, "expected.json"), expected)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/encoder"
    random.seed(0)
    wp = wordpiece_vocab()
    wp_encode = lambda t: ([wp["[CLS]"]] + wordpiece(t.strip(), wp)[: MODEL_MAX_LENGTH - 2] + [wp["[SEP]"]])  # noqa: E731
    bpe_vocab, merges = bpe_tokenizer()
    ranks = {m: i for i, m in enumerate(merges)}

    def bpe_encode(t):
        s = t.strip()
        body = bpe(" " + s, bpe_vocab, ranks) if s else []
        return [0] + body[: MODEL_MAX_LENGTH - 2] + [2]

    bert = {"kind": "bert", "vocab": len(wp), "hidden": 32, "layers": 3, "heads": 4, "ffn": 48, "positions": 40,
            "types": 2, "eps": 1e-12, "pad": 0}
    wb = make_weights(bert, 11)
    pooler = {"pooler.dense.weight": torch.ones(32, 32) * 0.5, "pooler.dense.bias": torch.zeros(32)}
    variant(out_dir, "bert", bert, wb, lambda w: {"bert." + k: v for k, v in {**w, **pooler}.items()},
            wordpiece_json(wp), wp_encode, wp["[CLS]"], wp["[SEP]"])

    def legacy(w):
        out = {}
        for k, v in w.items():
            if "LayerNorm" in k:
                k = k.replace(".weight", ".gamma").replace(".bias", ".beta")
            out[k] = v
        return out

    variant(out_dir, "bert-legacy", bert, wb, legacy, wordpiece_json(wp), wp_encode, wp["[CLS]"], wp["[SEP]"])

    roberta = {"kind": "roberta", "vocab": len(bpe_vocab), "hidden": 32, "layers": 2, "heads": 4, "ffn": 64,
               "positions": MODEL_MAX_LENGTH + 2 + 4, "types": 1, "eps": 1e-5, "pad": 1}
    wr = make_weights(roberta, 12)
    head = {"lm_head.dense.weight": torch.zeros(32, 32), "lm_head.bias": torch.zeros(len(bpe_vocab))}
    variant(out_dir, "roberta", roberta, wr, lambda w: {**{"roberta." + k: v for k, v in w.items()}, **head},
            bpe_json(bpe_vocab, merges), bpe_encode, 0, 2)

    distil = {"kind": "distilbert", "vocab": len(wp), "hidden": 32, "layers": 2, "heads": 4, "ffn": 48,
              "positions": 40, "types": 0, "eps": 1e-12, "pad": 0}
    wd = make_weights(distil, 13)
    projector = {"vocab_projector.bias": torch.zeros(len(wp))}
    variant(out_dir, "distilbert", distil, wd, lambda w: {**{"distilbert." + k: v for k, v in w.items()}, **projector},
            wordpiece_json(wp), wp_encode, wp["[CLS]"], wp["[SEP]"])


if __name__ == "__main__":
    main()
