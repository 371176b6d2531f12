#!/usr/bin/env python3
"""PyTorch checkpoint fixtures: files written by torch.save itself, for the toolkit's reader of PyTorch's format.

Run with a Python that has PyTorch (Debian: apt-get install python3-torch, then /usr/bin/python3):

    /usr/bin/python3 scripts/torch_checkpoints.py test/fixtures/torch            # write the fixtures
    /usr/bin/python3 scripts/torch_checkpoints.py test/fixtures/torch --check    # also the round trips (needs node)

What it writes under the output folder:

  tensors.pt / tensors.json   an OrderedDict of f32, bf16, f16, f64, i64 and bool tensors, a transposed view, a
                              slice at a storage offset, two names sharing one storage, a 0-d tensor; the json holds
                              every value row-major (all exactly representable in float32).
  complex.pt                  a complex64 tensor (an element type the reader refuses).
  global.pt                   an object whose pickle names builtins.print (a global the reader refuses).
  model-bin/                  config.json + pytorch_model.bin holding the weights of test/fixtures/model/tied (a
                              plain HF folder in PyTorch's format, tied head listed in the state dict).
  pair-<variant>/             a tiny Generator + Reasoner pair wrapped like the authors' training module (one
                              nn.Module with attributes Generator and Reasoner, each a Qwen2-style tree of parameters,
                              a tied head sharing the embedding's parameter) and saved with
                              torch.save(module.state_dict()) as checkpoint/pytorch_model.bin, with the two base
                              configs in generator/config.json and reasoner/config.json and expected.json:
                              input_ids [2, 7], generator and reasoner logits [2, 7, V] of the stored weights, and the
                              FlyThinker fused logits at lambda 0.5 (their training forward: the Reasoner's final-norm
                              hidden state at p - 1, divided by its own L2 norm, times the mean row norm of the
                              Generator's embedding table, times lambda, added to the first d_R dims of the
                              Generator's input embedding at p >= 1).
  deepspeed-zero2/, deepspeed-zero3/  the f32-mixed-narrow pair's weights (tied Reasoner head, one frozen parameter) in DeepSpeed's checkpoint layout for 3 data-parallel
                              ranks (latest, global_step5/ with the model-state and optimizer-state files and the
                              fp32 flat partitions), written with torch.save following the layout that DeepSpeed's
                              zero_to_fp32 reads; consolidated they equal the pair's state dict.

Logits are computed in float64 on the stored weights (bf16 weights exactly as stored), with the plain-PyTorch forward
of scripts/torch_reference.py; arrays are stored as float32 decimals.

With --check the script runs `flythinker import pytorch` and `export pytorch` on each pair, loads the export back into
the wrapper module with load_state_dict(strict=False), and asserts no missing and no unexpected keys and the same
logits, for a model.safetensors and a pytorch_model.bin written by the toolkit; and torch.load reads a file the
toolkit wrote with zip64 records.
"""

import collections
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402

LAMBDA = 0.5
INPUT_IDS = ref.INPUT_IDS

NARROW = {"hidden_size": 16, "num_attention_heads": 2, "num_key_value_heads": 1, "intermediate_size": 24}

# name: (dtype, generator tied, reasoner tied, reasoner narrow, seed, reasoner vocabulary)
# bf16-tied-narrow's Reasoner has a smaller embedding table than its Generator (96 rows beside 97), as
# Qwen2.5-1.5B (151,936) beside Qwen2.5-7B (152,064); its input ids stay below 96.
PAIRS = {
    "f32-untied-equal": (torch.float32, False, False, False, 2001, 97),
    "bf16-tied-narrow": (torch.bfloat16, True, True, True, 2002, 96),
    "f32-mixed-narrow": (torch.float32, False, True, True, 2003, 97),
}


def ids_for(name):
    vocab = PAIRS[name][5]
    return [[i % vocab for i in row] for row in INPUT_IDS]


def write_json(path, obj):
    ref.write_json(path, obj)


def flat(t):
    return ref.f32_list(t.to(torch.float64))


class Tree(torch.nn.Module):
    """A module whose parameters sit at the dotted names given (the HF layout of a Qwen2ForCausalLM)."""

    def __init__(self, weights, tied):
        super().__init__()
        for name, t in weights.items():
            self._put(name.split("."), torch.nn.Parameter(t.clone()))
        if tied:
            # As transformers ties them: the head is the embedding's parameter.
            self.lm_head = torch.nn.Module()
            self.lm_head.weight = self.model.embed_tokens.weight

    def _put(self, parts, param):
        m = self
        for p in parts[:-1]:
            if not hasattr(m, p):
                m.add_module(p, torch.nn.Module())
            m = getattr(m, p)
        m.register_parameter(parts[-1], param)


class Pair(torch.nn.Module):
    """The authors' training wrapper: attributes Generator and Reasoner."""

    def __init__(self, gw, gtied, rw, rtied):
        super().__init__()
        self.Generator = Tree(gw, gtied)
        self.Reasoner = Tree(rw, rtied)


def stored(t, dtype):
    return t.to(dtype).to(torch.float32)


def pair_weights(c, seed, dtype):
    return {k: stored(v, dtype) for k, v in ref.make_weights(c, seed).items()}


def logits_of(c, w, ids=None, embeds=None):
    w64 = {k: v.to(torch.float64) for k, v in w.items()}
    return ref.forward(c, w64, ids=ids, embeds=embeds)


def fused_logits(gc, gw, rc, rw, ids, lam):
    _, r_hidden = logits_of(rc, rw, ids=ids)
    table = gw["model.embed_tokens.weight"].to(torch.float64)
    s = table.norm(dim=-1).mean()
    thought = r_hidden[:, :-1, :]
    thought = thought * s / thought.norm(dim=-1, keepdim=True)
    emb = table[ids].clone()
    d_r = thought.shape[-1]
    emb[:, 1:, :d_r] = emb[:, 1:, :d_r] + lam * thought
    logits, _ = logits_of(gc, gw, embeds=emb)
    return logits


def pair_configs(name):
    dtype, gtied, rtied, narrow, _, rvocab = PAIRS[name]
    gc = ref.config_for("qwen2", gtied)
    rc = ref.config_for("qwen2", rtied)
    rc["vocab_size"] = rvocab
    if narrow:
        rc.update(NARROW)
    tdt = "bfloat16" if dtype == torch.bfloat16 else "float32"
    gc["torch_dtype"] = tdt
    rc["torch_dtype"] = tdt
    return gc, rc


def build_pair(name):
    dtype, gtied, rtied, _, seed, _ = PAIRS[name]
    gc, rc = pair_configs(name)
    gw = pair_weights(gc, seed, dtype)
    rw = pair_weights(rc, seed + 50, dtype)
    module = Pair(gw, gtied, rw, rtied).to(dtype)
    return gc, rc, gw, rw, module


def write_pair(out, name):
    gc, rc, gw, rw, module = build_pair(name)
    d = os.path.join(out, f"pair-{name}")
    for sub in ("checkpoint", "generator", "reasoner"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    write_json(os.path.join(d, "generator", "config.json"), gc)
    write_json(os.path.join(d, "reasoner", "config.json"), rc)
    torch.save(module.state_dict(), os.path.join(d, "checkpoint", "pytorch_model.bin"))
    ids = torch.tensor(ids_for(name), dtype=torch.long)
    g_logits, _ = logits_of(gc, gw, ids=ids)
    r_logits, _ = logits_of(rc, rw, ids=ids)
    fused = fused_logits(gc, gw, rc, rw, ids, LAMBDA)
    write_json(
        os.path.join(d, "expected.json"),
        {
            "note": "float64 forward on the stored weights; arrays as float32, row-major",
            "input_ids": ids_for(name),
            "lambda": LAMBDA,
            "keys": list(module.state_dict().keys()),
            "generator_logits": {"shape": list(g_logits.shape), "data": flat(g_logits)},
            "reasoner_logits": {"shape": list(r_logits.shape), "data": flat(r_logits)},
            "fused_logits": {"shape": list(fused.shape), "data": flat(fused)},
        },
    )
    print(f"pair-{name}: {len(module.state_dict())} keys")
    return gc, rc, gw, rw, module


def write_tensors(out):
    g = torch.Generator().manual_seed(7)
    base = (torch.randn(4, 6, generator=g) * 4).round() / 4  # quarter steps: exact in bf16 and f16
    sd = collections.OrderedDict()
    sd["f32"] = base.clone()
    sd["bf16"] = base.to(torch.bfloat16)
    sd["f16"] = base.to(torch.float16)
    sd["f64"] = base.to(torch.float64) / 3
    sd["i64"] = torch.arange(-3, 9, dtype=torch.int64).view(3, 4)
    sd["bool"] = torch.tensor([True, False, True])
    sd["transposed"] = base.t()  # stride (1, 6): a view of f32's storage
    sd["sliced"] = base[1:3, 2:5]  # offset 8, stride (6, 1)
    sd["same_storage"] = sd["f32"]  # a second name for one tensor (as a tied head)
    sd["scalar"] = torch.tensor(2.5)
    torch.save(sd, os.path.join(out, "tensors.pt"))
    expected = {
        k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""), "data": flat(v.to(torch.float64))}
        for k, v in sd.items()
    }
    write_json(os.path.join(out, "tensors.json"), expected)
    torch.save({"z": torch.zeros(3, dtype=torch.complex64)}, os.path.join(out, "complex.pt"))

    class Calls:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": torch.ones(2), "payload": Calls()}, os.path.join(out, "global.pt"))


def all_parameters(module, prefix=""):
    """(name, parameter) for every name, a shared parameter under each of its names, in registration order."""
    for n, p in module._parameters.items():
        yield prefix + n, p
    for n, m in module._modules.items():
        yield from all_parameters(m, prefix + n + ".")


def write_model_bin(out):
    """A plain HF model folder in PyTorch's format: the weights of test/fixtures/model/tied, torch.save'd."""
    model_type, tied, seed = ref.VARIANTS["tied"]
    c = ref.config_for(model_type, tied)
    d = os.path.join(out, "model-bin")
    os.makedirs(d, exist_ok=True)
    write_json(os.path.join(d, "config.json"), c)
    torch.save(Tree(ref.make_weights(c, seed), tied).state_dict(), os.path.join(d, "pytorch_model.bin"))
    print("model-bin: the tied fixture model as pytorch_model.bin")


def deepspeed_classes():
    """Stand-ins registered under DeepSpeed's module paths, so the pickles name the globals DeepSpeed's own files name
    (the reader allows exactly these): the ZeRO stage enum and the loss scaler."""
    import enum
    import types

    names = ["deepspeed", "deepspeed.runtime", "deepspeed.runtime.zero", "deepspeed.runtime.zero.config",
             "deepspeed.runtime.fp16", "deepspeed.runtime.fp16.loss_scaler", "deepspeed.utils",
             "deepspeed.utils.tensor_fragment"]
    for n in names:
        sys.modules.setdefault(n, types.ModuleType(n))

    class ZeroStageEnum(int, enum.Enum):
        disabled = 0
        optimizer_states = 1
        gradients = 2
        weights = 3

    class LossScaler:
        def __init__(self, scale):
            self.cur_scale = scale
            self.dynamic = False

    class fragment_address:  # noqa: N801 (DeepSpeed's name)
        def __init__(self, numel, start):
            self.numel = numel
            self.start = start

    for cls, mod in ((ZeroStageEnum, "deepspeed.runtime.zero.config"), (LossScaler, "deepspeed.runtime.fp16.loss_scaler"),
                     (fragment_address, "deepspeed.utils.tensor_fragment")):
        cls.__module__ = mod
        cls.__qualname__ = cls.__name__
        setattr(sys.modules[mod], cls.__name__, cls)
    return ZeroStageEnum, LossScaler, fragment_address


FROZEN = "Generator.model.norm.weight"  # one frozen parameter: DeepSpeed keeps it out of the fp32 partitions


def deepspeed_layout(out, stage, gw, rw, gtied, rtied):
    """Three ranks (so partitions need padding), one parameter group in the module's parameter order (shared
    parameters listed once), FROZEN kept as DeepSpeed keeps a parameter without gradients."""
    module = Pair(gw, gtied, rw, rtied)
    world = 3
    names, seen = [], {}
    shared = collections.OrderedDict()
    for n, p in all_parameters(module):
        if id(p) in seen:
            shared[n] = seen[id(p)]
        else:
            seen[id(p)] = n
            names.append((n, p.detach().clone()))
    frozen = [(n, t) for n, t in names if n == FROZEN]
    names = [(n, t) for n, t in names if n != FROZEN]
    d = os.path.join(out, f"deepspeed-zero{stage}")
    tag = "global_step5"
    os.makedirs(os.path.join(d, tag), exist_ok=True)
    with open(os.path.join(d, "latest"), "w") as f:
        f.write(tag)
    shapes = [collections.OrderedDict((n, torch.Size(t.shape)) for n, t in names)]

    def split(v):
        part = -(-v.numel() // world)
        v = torch.cat([v, torch.zeros(part * world - v.numel())])
        return [v[r * part:(r + 1) * part].clone() for r in range(world)]

    if stage == 2:
        flatv = torch.cat([t.reshape(-1) for _, t in names])
        align = 2 * world
        total = -(-flatv.numel() // align) * align
        flatv = torch.cat([flatv, torch.zeros(total - flatv.numel())])
        parts = list(flatv.chunk(world))
        key = "single_partition_of_fp32_groups"
    else:
        per_rank = [[] for _ in range(world)]
        for _, t in names:
            for r, piece in enumerate(split(t.reshape(-1))):
                per_rank[r].append(piece)
        parts = [torch.cat(p) for p in per_rank]
        key = "fp32_flat_groups"
    zero_stage_enum, loss_scaler, fragment_address = deepspeed_classes()

    def model_state(rank):
        if stage == 2:
            fragments = collections.OrderedDict((n, t.clone()) for n, t in frozen)
        else:
            fragments = collections.OrderedDict((n, split(t.reshape(-1))[rank]) for n, t in frozen)
        return {
            "module": collections.OrderedDict(
                (n, (t.to(torch.bfloat16) if stage == 2 else torch.empty(0, dtype=torch.bfloat16))) for n, t in names + frozen
            ),
            "buffer_names": [],
            "param_shapes": shapes,
            "frozen_param_shapes": collections.OrderedDict((n, torch.Size(t.shape)) for n, t in frozen),
            "shared_params": shared,
            "frozen_param_fragments": fragments,
            "dp_world_size": world,
            "mp_world_size": 1,
            "ds_version": "0.14.0",
            "global_steps": 5,
            "sparse_tensor_module_names": set(),
            "lr_scheduler": {"base_lrs": [5e-6], "last_epoch": 5, "lr_lambdas": [None]},
        }

    for r in range(world):
        if stage == 2 and r == 0:
            torch.save(model_state(r), os.path.join(d, tag, "mp_rank_00_model_states.pt"))
        if stage == 3:
            torch.save(model_state(r), os.path.join(d, tag, f"zero_pp_rank_{r}_mp_rank_00_model_states.pt"))
        slices = [collections.OrderedDict((n, fragment_address(t.numel(), 0)) for n, t in names[:2])]
        optim = {
            "optimizer_state_dict": {
                "zero_stage": zero_stage_enum(stage),
                "loss_scaler": loss_scaler(1.0),
                "dynamic_loss_scale": False,
                "overflow": False,
                "partition_count": world,
                "ds_version": "0.14.0",
                key: [parts[r].clone()],
                **({"param_slice_mappings": slices} if stage == 2 else {}),
                "optimizer_state_dict": {"state": {0: {"step": torch.tensor(5.0)}}, "param_groups": [{"lr": 1e-5}]},
            },
            "ds_config": {"zero_optimization": {"stage": stage}},
        }
        torch.save(optim, os.path.join(d, tag, f"bf16_zero_pp_rank_{r}_mp_rank_00_optim_states.pt"))
    print(f"deepspeed-zero{stage}: {len(names)} trainable parameters, {len(frozen)} frozen, {len(shared)} shared, {world} ranks")


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, e in header.items():
        if k == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[b:end]
        if e["dtype"] == "F32":
            t = torch.frombuffer(bytearray(raw), dtype=torch.float32)
        elif e["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16)
        else:
            raise ValueError(e["dtype"])
        out[k] = t.reshape(e["shape"])
    return out


def check_round_trip(out, name, gc, rc, gw, rw):
    """torch -> toolkit -> torch: import the checkpoint, export it, load the export into the wrapper module."""
    dtype, gtied, rtied, _, _, _ = PAIRS[name]
    d = os.path.join(out, f"pair-{name}")
    cli = ["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bin", "flythinker.js")]
    with tempfile.TemporaryDirectory() as tmp:
        run = os.path.join(tmp, "run")
        exp = os.path.join(tmp, "export")
        subprocess.run(cli + ["import", "pytorch", os.path.join(d, "checkpoint"), "--out", run, "--lambda", str(LAMBDA),
                              "--generator-config", os.path.join(d, "generator"),
                              "--reasoner-config", os.path.join(d, "reasoner")], check=True)
        dt = "bf16" if dtype == torch.bfloat16 else "f32"
        subprocess.run(cli + ["export", "pytorch", run, "--out", exp, "--dtype", dt], check=True)
        subprocess.run(cli + ["export", "pytorch", run, "--out", exp + "-bin", "--dtype", dt, "--format", "bin"], check=True)
        ids = torch.tensor(ids_for(name), dtype=torch.long)
        for label, sd in (("model.safetensors", read_safetensors(os.path.join(exp, "model.safetensors"))),
                          ("pytorch_model.bin", torch.load(os.path.join(exp + "-bin", "pytorch_model.bin")))):
            fresh = Pair({k: torch.zeros_like(v) for k, v in gw.items()}, gtied,
                         {k: torch.zeros_like(v) for k, v in rw.items()}, rtied).to(dtype)
            missing, unexpected = fresh.load_state_dict(sd, strict=False)
            assert not missing and not unexpected, (label, missing, unexpected)
            got = {p: dict(getattr(fresh, p).state_dict()) for p in ("Generator", "Reasoner")}
            for side, c, w in (("Generator", gc, gw), ("Reasoner", rc, rw)):
                a, _ = logits_of(c, {k: v.to(torch.float32) for k, v in got[side].items()}, ids=ids)
                b, _ = logits_of(c, w, ids=ids)
                diff = (a - b).abs().max().item()
                assert diff == 0.0, (label, side, diff)
            print(f"pair-{name}: {label} loads with no missing and no unexpected keys; logits equal")


def check_zip64():
    """torch.load reads a file the toolkit wrote with zip64 records (what it writes past 4 GiB), forced on a small one."""
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "model", "torch-checkpoint.ts")
    code = (
        f'import {{ writeTorchStateDict }} from {json.dumps(os.path.abspath(src))};'
        'writeTorchStateDict(process.argv[1], new Map([["w", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }]]),'
        ' { zip64: true, dtype: "BF16" });'
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "zip64.bin")
        subprocess.run(["node", "--import", "tsx", "--input-type=module", "-e", code, path], check=True)
        t = torch.load(path)["w"]
        assert t.dtype == torch.bfloat16 and t.tolist() == [[1, 2, 3], [4, 5, 6.5]], t
    print("zip64: torch.load reads the toolkit's zip64 records")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    out = args[0] if args else "test/fixtures/torch"
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    write_tensors(out)
    write_model_bin(out)
    built = {name: write_pair(out, name) for name in PAIRS}
    _, _, gw, rw, _ = built["f32-mixed-narrow"]
    for stage in (2, 3):
        deepspeed_layout(out, stage, gw, rw, False, True)
    if "--check" in sys.argv:
        check_zip64()
        for name, (gc, rc, gw, rw, _) in built.items():
            check_round_trip(out, name, gc, rc, gw, rw)


if __name__ == "__main__":
    main()
