#!/usr/bin/env python3
"""Parity fixtures for the Qwen2-family forward pass, from an independent plain-PyTorch implementation.

Run with a Python that has PyTorch (on Debian: apt install python3-torch, then use /usr/bin/python3):

    /usr/bin/python3 scripts/torch_reference.py test/fixtures/model

For each variant it writes <out>/<variant>/config.json, model.safetensors (float32) and expected.json; the "bf16"
variant's model.safetensors is stored in bfloat16 and its folder "bf16-f32twin" holds the same (rounded) values in
float32. The computation follows the Hugging Face Qwen2 / Llama forward:

  h = embed_tokens[ids]                                         (or given input embeddings)
  per layer:  a = rmsnorm(h, input_layernorm)
              q = a Wq^T + bq, k = a Wk^T + bk, v = a Wv^T + bv  (W stored [out, in]; biases for qwen2)
              q, k split into heads of size hd; rotary on q and k:
                  inv_freq = 1 / theta^(arange(0, hd, 2) / hd), angle = pos * inv_freq, duplicated to size hd,
                  x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x[hd/2:], x[:hd/2])
              grouped-query attention: query head j uses key/value head j // (H / KV)
              softmax(q k^T / sqrt(hd) + causal mask) v, heads concatenated, o_proj
              h = h + attn;  m = rmsnorm(h, post_attention_layernorm)
              h = h + down(silu(gate(m)) * up(m))
  hidden = rmsnorm(h, norm);  logits = hidden lm_head^T (lm_head = embed_tokens when tied)
  rmsnorm(x, w) = x * rsqrt(mean(x^2, last axis) + eps) * w

All arithmetic is float64 on weights that are exactly float32 (so the fixtures are as close to exact as possible);
stored results are rounded to float32 (shortest decimal that reads back to the same float32), the loss as float64.
The bf16 variant's expected.json has the forward outputs and loss but no gradients and no input-embeddings case.
Loss: mean cross-entropy over every position whose label is not -100, where labels[b][t] is the target of the logits
at position t: labels[b][t] = input_ids[b][t + 1], the last position -100, and a few positions also set to -100.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch

IGNORE = -100

BASE = {
    "vocab_size": 97,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 48,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 64,
    "hidden_act": "silu",
    "initializer_range": 0.02,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "use_cache": True,
    "rope_scaling": None,
    "attention_dropout": 0.0,
    "torch_dtype": "float32",
}

VARIANTS = {
    # name: (model_type, tied, seed)
    "untied": ("qwen2", False, 1001),
    "tied": ("qwen2", True, 1002),
    "llama": ("llama", False, 1003),
    "bf16": ("qwen2", False, 1004),
}

INPUT_IDS = [
    [5, 17, 42, 96, 0, 33, 8],
    [71, 3, 3, 58, 20, 91, 44],
]
# Extra positions (besides the last of each row) whose label is ignored, like a masked prompt.
IGNORED = [(0, 0), (0, 1), (1, 3)]

GRAD_NAMES = [
    "model.embed_tokens.weight",
    "model.layers.0.input_layernorm.weight",
    "model.layers.0.self_attn.q_proj.weight",
    "model.layers.0.self_attn.q_proj.bias",
    "model.layers.0.self_attn.k_proj.weight",
    "model.layers.1.self_attn.v_proj.bias",
    "model.layers.1.self_attn.o_proj.weight",
    "model.layers.1.mlp.down_proj.weight",
    "model.norm.weight",
    "lm_head.weight",
]


def config_for(model_type, tied):
    c = dict(BASE)
    c["model_type"] = model_type
    c["architectures"] = ["Qwen2ForCausalLM" if model_type == "qwen2" else "LlamaForCausalLM"]
    c["tie_word_embeddings"] = tied
    if model_type == "llama":
        c["attention_bias"] = False
        c["mlp_bias"] = False
    return c


def tensor_specs(c):
    V, D, F = c["vocab_size"], c["hidden_size"], c["intermediate_size"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = D // H
    bias = c["model_type"] == "qwen2"
    specs = [("model.embed_tokens.weight", [V, D], "w")]
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}"
        specs.append((f"{p}.input_layernorm.weight", [D], "norm"))
        specs.append((f"{p}.self_attn.q_proj.weight", [H * hd, D], "w"))
        if bias:
            specs.append((f"{p}.self_attn.q_proj.bias", [H * hd], "b"))
        specs.append((f"{p}.self_attn.k_proj.weight", [KV * hd, D], "w"))
        if bias:
            specs.append((f"{p}.self_attn.k_proj.bias", [KV * hd], "b"))
        specs.append((f"{p}.self_attn.v_proj.weight", [KV * hd, D], "w"))
        if bias:
            specs.append((f"{p}.self_attn.v_proj.bias", [KV * hd], "b"))
        specs.append((f"{p}.self_attn.o_proj.weight", [D, H * hd], "w"))
        specs.append((f"{p}.post_attention_layernorm.weight", [D], "norm"))
        specs.append((f"{p}.mlp.gate_proj.weight", [F, D], "w"))
        specs.append((f"{p}.mlp.up_proj.weight", [F, D], "w"))
        specs.append((f"{p}.mlp.down_proj.weight", [D, F], "w"))
    specs.append(("model.norm.weight", [D], "norm"))
    if not c["tie_word_embeddings"]:
        specs.append(("lm_head.weight", [V, D], "w"))
    return specs


def make_weights(c, seed):
    """Random float32 weights, larger than a fresh init so every path (norm scales, biases) matters."""
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape, kind in tensor_specs(c):
        fan_in = shape[-1]
        if kind == "w":
            std = 0.5 if name.endswith("embed_tokens.weight") else 1.0 / math.sqrt(fan_in)
            t = torch.randn(shape, generator=g, dtype=torch.float32) * std
        elif kind == "norm":
            t = 1.0 + 0.2 * torch.randn(shape, generator=g, dtype=torch.float32)
        else:
            t = 0.3 * torch.randn(shape, generator=g, dtype=torch.float32)
        w[name] = t
    return w


def bf16_round(t):
    """Round float32 to the nearest bfloat16 (ties to even), returned as float32."""
    return t.to(torch.bfloat16).to(torch.float32)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def forward(c, w, ids=None, embeds=None):
    """w: name -> float64 tensor (requires_grad as the caller wishes). Returns (logits, hidden)."""
    D, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd = D // H
    eps, theta = c["rms_norm_eps"], c["rope_theta"]
    h = w["model.embed_tokens.weight"][ids] if embeds is None else embeds
    B, T, _ = h.shape
    pos = torch.arange(T, dtype=torch.float64)
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.outer(pos, inv_freq)
    ang = torch.cat([ang, ang], dim=-1)
    cos, sin = ang.cos(), ang.sin()
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        return y

    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}"
        a = rms_norm(h, w[f"{p}.input_layernorm.weight"], eps)
        q = lin(a, f"{p}.self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)
        k = lin(a, f"{p}.self_attn.k_proj").view(B, T, KV, hd).transpose(1, 2)
        v = lin(a, f"{p}.self_attn.v_proj").view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = H // KV
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        o = torch.softmax(s, dim=-1) @ v
        o = o.transpose(1, 2).reshape(B, T, H * hd)
        h = h + lin(o, f"{p}.self_attn.o_proj")
        m = rms_norm(h, w[f"{p}.post_attention_layernorm.weight"], eps)
        gate = m @ w[f"{p}.mlp.gate_proj.weight"].T
        up = m @ w[f"{p}.mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(gate) * up) @ w[f"{p}.mlp.down_proj.weight"].T
    hidden = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
    return hidden @ head.T, hidden


def f32_list(t):
    """Flat list of float32 values as the shortest decimals that read back to the same float32."""
    a = t.detach().to(torch.float32).numpy().ravel()
    return [float(np.format_float_scientific(x, unique=True)) if np.isfinite(x) else None for x in a]


def packed(t):
    return {"shape": list(t.shape), "data": f32_list(t)}


def write_safetensors(path, tensors, dtype):
    """Minimal safetensors writer: sorted names, header padded with spaces to a multiple of 8 bytes."""
    names = sorted(tensors)
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for n in names:
        t = tensors[n].detach().to(torch.float32).contiguous()
        if dtype == "F32":
            b = t.numpy().astype("<f4").tobytes()
        else:
            bits = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2")
            b = bits.tobytes()
        header[n] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def write_json(path, obj, indent=None):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent, sort_keys=indent is not None, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def labels_for(ids):
    labels = [row[1:] + [IGNORE] for row in ids]
    for b, t in IGNORED:
        labels[b][t] = IGNORE
    return labels


def run_variant(out_dir, name):
    model_type, tied, seed = VARIANTS[name]
    c = config_for(model_type, tied)
    w32 = make_weights(c, seed)
    if name == "bf16":
        w32 = {k: bf16_round(v) for k, v in w32.items()}
        c["torch_dtype"] = "bfloat16"
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), c, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w32, "BF16" if name == "bf16" else "F32")
    if name == "bf16":
        twin = os.path.join(out_dir, "bf16-f32twin")
        os.makedirs(twin, exist_ok=True)
        c32 = dict(c)
        c32["torch_dtype"] = "float32"
        write_json(os.path.join(twin, "config.json"), c32, indent=2)
        write_safetensors(os.path.join(twin, "model.safetensors"), w32, "F32")

    w = {k: v.to(torch.float64).requires_grad_(True) for k, v in w32.items()}
    ids = torch.tensor(INPUT_IDS, dtype=torch.long)
    labels = labels_for(INPUT_IDS)
    logits, hidden = forward(c, w, ids=ids)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, c["vocab_size"]), torch.tensor(labels).reshape(-1), ignore_index=IGNORE, reduction="mean"
    )
    loss.backward()
    expected = {
        "variant": name,
        "note": "float64 computation on float32 weights; arrays rounded to float32, flat in row-major order",
        "input_ids": INPUT_IDS,
        "labels": labels,
        "ignore_index": IGNORE,
        "logits": packed(logits),
        "hidden": packed(hidden),
        "loss": loss.item(),
    }
    if name == "bf16":
        # Forward outputs only: this variant exists to check that bfloat16 checkpoints load to the right values.
        write_json(os.path.join(d, "expected.json"), expected)
        print(f"{name}: loss {loss.item():.6f}")
        return
    expected["grads"] = {n: packed(w[n].grad) for n in GRAD_NAMES if n in w}
    # The same model fed input embeddings instead of ids: embed_tokens[ids] plus a fixed perturbation.
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        emb = (w32["model.embed_tokens.weight"][ids] + 0.5 * torch.randn(ids.shape + (c["hidden_size"],), generator=g))
        emb = emb.to(torch.float32)
        e_logits, e_hidden = forward(c, {k: v.detach() for k, v in w.items()}, embeds=emb.to(torch.float64))
    expected["inputs_embeds_case"] = {
        "inputs_embeds": packed(emb),
        "logits": packed(e_logits),
        "hidden": packed(e_hidden),
    }
    write_json(os.path.join(d, "expected.json"), expected)
    print(f"{name}: loss {loss.item():.6f}")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/model"
    torch.set_num_threads(1)
    for name in VARIANTS:
        run_variant(out, name)


if __name__ == "__main__":
    main()
