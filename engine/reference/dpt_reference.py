#!/usr/bin/python3
"""PyTorch reference for the Go DPT engine, and the generator of its fixtures.

Everything here is written from the behaviour described in
shared/spec/dpt-reference-semantics.md (sections 1.3-2 and 5.1), which records
what alvitawa/fomo (CoPrompt trainer, Dassl, OpenAI CLIP) does:

  * CLIP with OpenAI's parameter names: LayerNorm in fp32, QuickGELU,
    nn.MultiheadAttention's packed q|k|v input projection, a causal text mask,
    the text feature read at argmax(token ids), visual prompt tokens appended
    after the positional embedding, ln_post on token 0, x @ projection;
  * the DPT prompt learner: scores (n_ctx x V), Algorithm 1 (GetToggle) with
    the rank-index quirk, the NOFILTER / NOSELECT variants and a
    straight-through backward, ctx = onehot @ token_embedding,
    proj = Linear(text width -> vision width), the prompt layout of 2.1;
  * logits = exp(logit_scale) * cos, cross-entropy, torch.optim.SGD and the
    per-epoch warmup + cosine schedule.

All computation is fp32 (the seed runs fp16; the Go engine is fp32 by design).

Run (from the repository root):

    PYTHONPATH=/path/to/python-ftfy /usr/bin/python3 engine/reference/dpt_reference.py \
        --out engine/reference/fixtures

See README.md next to this file for what each fixture holds.
"""

import argparse
import gzip
import hashlib
import html
import json
import math
import os
import random
import struct
import sys

import numpy as np
import regex
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import ftfy
except ImportError:  # pragma: no cover - explained to the user
    sys.exit("dpt_reference.py needs ftfy (simple_tokenizer calls ftfy.fix_text): put a checkout of "
             "rspeer/python-ftfy on PYTHONPATH (Debian does not package it)")

sys.dont_write_bytecode = True  # no __pycache__ next to the committed sources
from corpus import MOJIBAKE, SPECIAL, class_names  # noqa: E402

# ---------------------------------------------------------------------------
# safetensors, written by hand: u64 little-endian header length, a JSON header
# naming dtype, shape and byte range of every tensor, then the raw data.


def write_safetensors(path, tensors, metadata=None, dtype="F32"):
    """Writes tensors (name -> array-like) as little-endian F32 (or F16),
    names sorted."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name], dtype=np.float32)
        if dtype == "F16":
            half = arr.astype("<f2")
            assert np.array_equal(half.astype(np.float32), arr), f"{name} is not exactly representable in F16"
            arr = half
        raw = np.ascontiguousarray(arr.astype("<f4" if dtype == "F32" else "<f2")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in sorted(metadata.items())}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write_json(path, value, compact=False):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if compact:  # one entry of a top-level list per line
            f.write("{\n")
            for i, key in enumerate(sorted(value)):
                v = value[key]
                f.write(json.dumps(key) + ": ")
                if isinstance(v, list):
                    f.write("[\n" + ",\n".join(json.dumps(x, ensure_ascii=False, sort_keys=True) for x in v) + "\n]")
                else:
                    f.write(json.dumps(v, ensure_ascii=False, sort_keys=True))
                f.write(",\n" if i + 1 < len(value) else "\n")
            f.write("}\n")
        else:
            json.dump(value, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")


def f32(t):
    """A copy (never a view: parameters and gradients change in place later)."""
    return np.array(t.detach().to(torch.float32).cpu().numpy(), dtype=np.float32, copy=True)


# ---------------------------------------------------------------------------
# Tokenizer: OpenAI CLIP's simple_tokenizer behaviour (byte-level BPE).

END_OF_WORD = "</w>"
SOT_TEXT, EOT_TEXT = "<|startoftext|>", "<|endoftext|>"


def byte_symbol_table():
    """Byte -> printable symbol, in vocabulary order: the bytes that print as
    themselves first (in byte order), then the rest mapped to U+0100 upwards."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) \
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    table = {b: chr(b) for b in keep}
    shifted = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shifted)
            shifted += 1
    return table


class BPETokenizer:
    # The pattern simple_tokenizer compiles with the regex module and IGNORECASE.
    PATTERN = regex.compile(
        r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
        regex.IGNORECASE)

    def __init__(self, merges_path):
        raw = open(merges_path, "rb").read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        # Header line skipped; at most 49152-256-2 merges, as OpenAI reads.
        lines = raw.decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
        merges = [tuple(line.split()) for line in lines]
        self.byte_to_symbol = byte_symbol_table()
        self.symbol_to_byte = {s: b for b, s in self.byte_to_symbol.items()}
        vocab = list(self.byte_to_symbol.values())
        vocab += [s + END_OF_WORD for s in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += [SOT_TEXT, EOT_TEXT]
        self.id_of = {tok: i for i, tok in enumerate(vocab)}
        self.token_of = {i: tok for tok, i in self.id_of.items()}
        self.rank_of = {m: r for r, m in enumerate(merges)}
        self.sot, self.eot = self.id_of[SOT_TEXT], self.id_of[EOT_TEXT]
        self.vocab_size = len(vocab)
        self._memo = {}

    def merge_word(self, symbols):
        """BPE of one pre-token (a string of byte symbols): split into symbols,
        mark the last as word-final, then merge the lowest-ranked adjacent pair
        everywhere (left to right) until no adjacent pair has a rank."""
        if symbols in (SOT_TEXT, EOT_TEXT):
            return [symbols]
        if symbols in self._memo:
            return self._memo[symbols]
        parts = list(symbols[:-1]) + [symbols[-1] + END_OF_WORD]
        while len(parts) > 1:
            ranked = [(self.rank_of[p], p) for p in zip(parts, parts[1:]) if p in self.rank_of]
            if not ranked:
                break
            _, (left, right) = min(ranked)
            merged, i = [], 0
            while i < len(parts):
                if i + 1 < len(parts) and parts[i] == left and parts[i + 1] == right:
                    merged.append(left + right)
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        self._memo[symbols] = parts
        return parts

    @staticmethod
    def clean(text):
        text = ftfy.fix_text(text)
        text = html.unescape(html.unescape(text)).strip()
        text = regex.sub(r"\s+", " ", text).strip()
        return text.lower()

    def encode(self, text):
        ids = []
        for piece in self.PATTERN.findall(self.clean(text)):
            symbols = "".join(self.byte_to_symbol[b] for b in piece.encode("utf-8"))
            ids.extend(self.id_of[p] for p in self.merge_word(symbols))
        return ids

    def decode(self, ids):
        symbols = "".join(self.token_of[int(i)] for i in ids)
        data = bytearray(self.symbol_to_byte[c] for c in symbols)
        return data.decode("utf-8", errors="replace").replace(END_OF_WORD, " ")

    def tokenize(self, text, context_length):
        """clip.tokenize of one text: SOT, ids, EOT, zero padding."""
        ids = [self.sot] + self.encode(text) + [self.eot]
        if len(ids) > context_length:
            raise ValueError(f"{text!r} is too long for context length {context_length}")
        return ids + [0] * (context_length - len(ids))


# ---------------------------------------------------------------------------
# CLIP (ViT) with OpenAI's parameter names, batch-first internally.


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 and cast back, as CLIP's subclass does."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class PackedAttention(nn.Module):
    """nn.MultiheadAttention's arithmetic with its parameter names: one packed
    q|k|v input projection, q scaled by head_dim^-1/2, an additive mask,
    softmax, heads concatenated, out_proj."""

    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * width))
        self.out_proj = nn.Linear(width, width)

    def forward(self, x, mask):
        batch, length, width = x.shape
        head_dim = width // self.heads
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).split(width, dim=-1)

        def heads(t):
            return t.reshape(batch, length, self.heads, head_dim).transpose(1, 2)

        q, k, v = heads(q) / math.sqrt(head_dim), heads(k), heads(v)
        scores = q @ k.transpose(-2, -1)
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(dim=-1) @ v
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, width))


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = PackedAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", QuickGELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))
        self.ln_2 = LayerNorm(width)

    def forward(self, x, mask):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])

    def forward(self, x, mask=None, record=None):
        """record, if a list, receives the stream entering block 0 and the
        stream after every block."""
        if record is not None:
            record.append(x)
        for block in self.resblocks:
            x = block(x, mask)
            if record is not None:
                record.append(x)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, resolution, patch, width, layers, heads, embed_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(torch.empty((resolution // patch) ** 2 + 1, width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(torch.empty(width, embed_dim))

    def forward(self, images, prompts=None, record=None):
        """prompts (n x width) are appended after the positional embedding
        (VisionTransformer_MaPLe with NOSHARED unset); None is plain CLIP."""
        x = self.conv1(images)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        if prompts is not None:
            x = torch.cat([x, prompts.expand(x.shape[0], -1, -1)], dim=1)
        x = self.ln_pre(x)
        x = self.transformer(x, None, record)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        w = cfg["text_width"]
        self.token_embedding = nn.Embedding(cfg["vocab_size"], w)
        self.positional_embedding = nn.Parameter(torch.empty(cfg["context_length"], w))
        self.transformer = Transformer(w, cfg["text_layers"], w // 64)
        self.ln_final = LayerNorm(w)
        self.text_projection = nn.Parameter(torch.empty(w, cfg["embed_dim"]))
        self.visual = VisionTransformer(cfg["image_resolution"], cfg["patch_size"], cfg["vision_width"],
                                        cfg["vision_layers"], cfg["vision_width"] // 64, cfg["embed_dim"])
        self.logit_scale = nn.Parameter(torch.empty(()))
        n = cfg["context_length"]
        self.register_buffer("causal_mask", torch.full((n, n), float("-inf")).triu_(1), persistent=False)

    def prompt_embeddings(self, tokens, ctx=None):
        """The text tower's input: token embeddings, with the n_ctx rows of ctx
        put after SOS as the seed builds them (cat of token_prefix = emb[:, :1],
        ctx broadcast to every class, token_suffix = emb[:, 1+n_ctx:])."""
        emb = self.token_embedding(tokens)
        if ctx is None:
            return emb
        n_ctx = ctx.shape[0]
        return torch.cat([emb[:, :1], ctx.unsqueeze(0).expand(tokens.shape[0], -1, -1), emb[:, 1 + n_ctx:]], dim=1)

    def encode_text(self, tokens, ctx=None, record=None):
        x = self.prompt_embeddings(tokens, ctx) + self.positional_embedding
        x = self.transformer(x, self.causal_mask, record)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection

    def text_head(self, stream, tokens):
        """ln_final + projection at the EOT rows of a residual stream: the
        features a model cut after that block would give."""
        return self.ln_final(stream)[torch.arange(stream.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection

    def image_head(self, stream):
        return self.visual.ln_post(stream[:, 0, :]) @ self.visual.proj


def init_clip(model, seed):
    """CLIP's initialize_parameters scheme, plus non-trivial LayerNorm
    weights/biases and attention biases so that a port which drops any of
    them cannot match."""
    torch.manual_seed(seed)
    cfg = model.cfg

    def perturb_norm(ln):
        ln.weight.data = 1 + 0.1 * torch.randn_like(ln.weight)
        ln.bias.data = 0.05 * torch.randn_like(ln.bias)

    def init_tower(t, width):
        layers = len(t.resblocks)
        attn_std = width ** -0.5
        proj_std = attn_std * (2 * layers) ** -0.5
        fc_std = (2 * width) ** -0.5
        for b in t.resblocks:
            nn.init.normal_(b.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(b.attn.in_proj_bias, std=0.05)
            nn.init.normal_(b.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(b.attn.out_proj.bias, std=0.05)
            nn.init.normal_(b.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(b.mlp.c_proj.weight, std=proj_std)
            # c_fc / c_proj biases keep nn.Linear's default U(+-fan_in^-1/2).
            perturb_norm(b.ln_1)
            perturb_norm(b.ln_2)

    nn.init.normal_(model.token_embedding.weight, std=0.02)
    nn.init.normal_(model.positional_embedding, std=0.01)
    init_tower(model.transformer, cfg["text_width"])
    perturb_norm(model.ln_final)
    nn.init.normal_(model.text_projection, std=cfg["text_width"] ** -0.5)
    v, scale = model.visual, cfg["vision_width"] ** -0.5
    # conv1 keeps nn.Conv2d's default init.
    nn.init.normal_(v.class_embedding, std=scale)
    nn.init.normal_(v.positional_embedding, std=scale)
    init_tower(v.transformer, cfg["vision_width"])
    perturb_norm(v.ln_pre)
    perturb_norm(v.ln_post)
    nn.init.normal_(v.proj, std=scale)
    # CLIP's initial temperature, 1/0.07: not 100, so a port that hard-codes
    # the pretrained scale fails.
    model.logit_scale.data.fill_(math.log(1 / 0.07))
    for p in model.parameters():
        p.requires_grad_(False)


# ---------------------------------------------------------------------------
# DPT: Algorithm 1 (GetToggle), the straight-through estimator, the prompt
# learner's forward, the loss.


class AmbiguousOrder(Exception):
    """Step 6 had to order equal differences: torch.argsort's order for ties
    is unspecified, so such a matrix cannot be a fixture."""


def algorithm1(scores, tok, variant="full", trace=None, stats=None, gather_tokens=False):
    """GetToggle.forward's selection: one vocabulary id per row of scores
    (n_ctx x V). variant is "full", "noselect" (BOS/EOS filter only) or
    "nofilter" (plain argmax). trace, a list, receives the "!= a vs b" lines
    the seed prints. Raises IndexError where the seed would (a rank past the
    vocabulary).

    stats, a dict, counts the steps taken (for the fixture's coverage
    report). gather_tokens=True is NOT the reference: it reads the scores of
    the ranked tokens in step 6, as the seed's comment intends; the fixture
    uses it only to record where the quirk changes the selection."""
    stats = {} if stats is None else stats

    def count(key):
        stats[key] = stats.get(key, 0) + 1

    n, vocab = scores.shape
    order = torch.argsort(scores, dim=-1, descending=True)
    rows = torch.arange(n)
    ranks = torch.zeros(n, dtype=torch.long)

    def current():
        if int(ranks.max()) >= vocab:
            raise IndexError("rank past the vocabulary")
        return order[rows, ranks].tolist()

    def round_trips(ids):
        return tok.encode(tok.decode(ids)) == ids

    while True:
        best = current()
        if variant == "nofilter":
            return best
        special = [i for i, t in enumerate(best) if t in (tok.sot, tok.eot)]
        if special:
            count("special_bumps")
            ranks[special[0]] += 1
            continue
        if variant == "noselect":
            return best
        decoded = tok.decode(best)
        again = tok.encode(decoded)
        if again == best:
            return best
        if trace is not None:
            trace.append("!= {} vs {}".format(decoded, tok.decode(again)))
        if int(ranks.max()) + 1 >= vocab:
            raise IndexError("gather past the vocabulary")
        # The quirk: gather is given the ranks themselves as column indices,
        # so these are the scores of vocabulary ids ranks[i] and ranks[i]+1.
        if gather_tokens:
            diff = scores[rows, order[rows, ranks]] - scores[rows, order[rows, ranks + 1]]
        else:
            diff = scores.gather(1, ranks.unsqueeze(1)).squeeze(1) - scores.gather(1, (ranks + 1).unsqueeze(1)).squeeze(1)
        if len(set(diff.tolist())) < n:
            raise AmbiguousOrder()
        by_diff = torch.argsort(diff, descending=True).tolist()  # largest difference first
        for i in by_diff:
            ranks[i] += 1
            if round_trips(current()):
                count("single_bump_fixes")
                break
            ranks[i] -= 1
        else:
            count("fallback_bumps")
            ranks[by_diff[0]] += 1


class GetToggle(torch.autograd.Function):
    """Forward: the one-hot of Algorithm 1's ids. Backward: straight-through."""

    @staticmethod
    def forward(ctx, scores, select):
        out = torch.zeros_like(scores)
        out[torch.arange(scores.shape[0]), torch.tensor(select(scores.detach()))] = 1
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def dpt_forward(model, tok, tokens, images, labels, scores, proj, variant, record_text=None, record_vision=None):
    """One training forward of the seed's CustomCLIP with DPT. variant:
    "full", "noshared", "noselect" or "nofilter". Returns a dict of tensors
    (graph kept) and the Algorithm 1 trace."""
    trace, chosen = [], []

    def select(s):
        ids = algorithm1(s, tok, variant if variant in ("noselect", "nofilter") else "full", trace)
        chosen.extend(ids)
        return ids

    onehot = GetToggle.apply(scores, select)
    ctx = onehot @ model.token_embedding.weight
    ctx.retain_grad()
    prompts = None if variant == "noshared" else proj(ctx)
    if prompts is not None:
        prompts.retain_grad()
    text = model.encode_text(tokens, ctx, record_text)
    image = model.visual(images, prompts, record_vision)
    text_n = text / text.norm(dim=-1, keepdim=True)
    image_n = image / image.norm(dim=-1, keepdim=True)
    logits = model.logit_scale.exp() * image_n @ text_n.t()
    loss = F.cross_entropy(logits, labels)
    return {"ids": chosen, "trace": trace, "ctx": ctx, "prompts": prompts, "text": text, "image": image,
            "text_n": text_n, "image_n": image_n, "logits": logits, "loss": loss}


def dassl_lrs(epochs, base, warmup_lr, warmup_epochs):
    """Per-epoch learning rates of Dassl's ConstantWarmupScheduler around
    CosineAnnealingLR(T_max=epochs), stepped once per epoch, with
    WARMUP_RECOUNT: the warmup epochs run at warmup_lr, then the cosine runs
    from its start. Taken from torch's own scheduler."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0)
    out = []
    for e in range(epochs):
        if e < warmup_epochs:
            out.append(warmup_lr)
            continue
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        cosine.step()
    return out


def macro_f1(pred, truth):
    """sklearn f1_score(average="macro", labels=unique(truth)), in percent."""
    total = 0.0
    labels = sorted(set(truth))
    for y in labels:
        tp = sum(1 for p, t in zip(pred, truth) if p == y and t == y)
        predicted = sum(1 for p in pred if p == y)
        actual = sum(1 for t in truth if t == y)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual
        total += 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return 100 * total / len(labels)


# ---------------------------------------------------------------------------
# Deterministic score matrices for the Algorithm 1 fixture. They are given by
# a seed so that the fixture stores a few numbers per matrix rather than
# n_ctx x V floats; the Go test rebuilds the same float32 values.
#
# Row r of the matrix with seed s reads the splitmix64 stream whose state
# starts at s*8 + r. Each output's top 24 bits k give the value
# (k - 2^23) * 2^(scale_exp - 23), an exact float32; a k already used in the
# row is skipped, so every row has distinct values. Overrides then set single
# entries (all overrides exceed 2^scale_exp, so they stay distinct too).

MASK64 = (1 << 64) - 1
GOLDEN64 = 0x9E3779B97F4A7C15


def splitmix_top24(state, count):
    """The top 24 bits of the count splitmix64 outputs after state."""
    with np.errstate(over="ignore"):
        steps = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(state & MASK64) + steps * np.uint64(GOLDEN64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.int64)


def seeded_matrix(seed, n_ctx, vocab, scale_exp, overrides=()):
    rows = []
    for r in range(n_ctx):
        count = vocab + 256
        while True:
            ks = splitmix_top24(seed * 8 + r, count)
            _, first = np.unique(ks, return_index=True)
            keep = np.zeros(count, dtype=bool)
            keep[first] = True
            distinct = ks[keep]  # first occurrences, in stream order
            if len(distinct) >= vocab:
                break
            count *= 2
        rows.append((distinct[:vocab] - (1 << 23)).astype(np.float64) * 2.0 ** (scale_exp - 23))
    m = np.array(rows, dtype=np.float32)
    for r, c, v in overrides:
        m[r, c] = np.float32(v)
    return torch.from_numpy(m)


# ---------------------------------------------------------------------------
# Fixture builders.

MODEL_CONFIG = {"embed_dim": 32, "image_resolution": 32, "patch_size": 8, "vision_width": 128,
                "vision_layers": 2, "context_length": 77, "text_width": 64, "text_layers": 2}
SMALL_MERGES = 400
CLASSES = ["banded", "golden_retriever", "x-ray", "crème brûlée"]
TEMPLATE = "a photo of a"


def prompt_text(name):
    return TEMPLATE + " " + name.replace("_", " ") + "."


def write_small_vocab(real_path, out_path):
    """The first SMALL_MERGES merges of OpenAI's file, with its header and no
    final newline (a final newline would add an empty token in
    simple_tokenizer)."""
    lines = gzip.decompress(open(real_path, "rb").read()).decode("utf-8").split("\n")
    text = "\n".join(lines[:1 + SMALL_MERGES])
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
            gz.write(text.encode("utf-8"))


def build_model(tok, seed):
    cfg = dict(MODEL_CONFIG, vocab_size=tok.vocab_size)
    torch.manual_seed(seed)  # the default inits of conv1 and the MLP biases
    model = CLIP(cfg)
    init_clip(model, seed)
    # Weights are made exactly representable in fp16 so that the model file
    # can be stored as F16 (half the size, and the format of OpenAI's own
    # checkpoints) while every computation stays fp32 on identical values.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    return model.eval()


def self_check(model):
    """Guards the hand-written parts against torch's own implementations."""
    torch.manual_seed(7)
    block = model.visual.transformer.resblocks[0]
    x = torch.randn(2, 5, model.cfg["vision_width"])
    a = block.attn
    ours = a(x, None)
    theirs, _ = F.multi_head_attention_forward(
        x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), x.shape[-1], a.heads,
        a.in_proj_weight, a.in_proj_bias, None, None, False, 0.0, a.out_proj.weight, a.out_proj.bias,
        training=False, need_weights=False)
    assert torch.allclose(ours, theirs.transpose(0, 1), atol=1e-5), "attention differs from torch's MHA"
    t = model.transformer.resblocks[0].attn
    xt = torch.randn(3, 6, model.cfg["text_width"])
    mask = torch.full((6, 6), float("-inf")).triu_(1)
    ours = t(xt, mask)
    theirs, _ = F.multi_head_attention_forward(
        xt.transpose(0, 1), xt.transpose(0, 1), xt.transpose(0, 1), xt.shape[-1], t.heads,
        t.in_proj_weight, t.in_proj_bias, None, None, False, 0.0, t.out_proj.weight, t.out_proj.bias,
        training=False, need_weights=False, attn_mask=mask)
    assert torch.allclose(ours, theirs.transpose(0, 1), atol=1e-5), "causal attention differs from torch's MHA"
    lrs = dassl_lrs(8, 0.0035, 1e-5, 1)
    closed = [1e-5] + [0.0035 * (1 + math.cos(math.pi * (e - 1) / 8)) / 2 for e in range(1, 8)]
    assert all(abs(a - b) < 1e-12 for a, b in zip(lrs, closed)), (lrs, closed)


def save_model(model, out_dir):
    tensors = {name: f32(p) for name, p in model.state_dict().items()}
    write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors, {"format": "pt"}, dtype="F16")


def distinct_rows(scores):
    return all(len(set(row.tolist())) == len(row) for row in scores)


def forward_fixture(model, tok, out):
    """Features, logits, loss and gradients for DPT with n_ctx 1 and 2 and
    the NOSHARED variant, plus per-layer streams."""
    cfg = model.cfg
    torch.manual_seed(101)
    tokens = torch.tensor([tok.tokenize(prompt_text(c), cfg["context_length"]) for c in CLASSES])
    images = torch.randn(3, 3, cfg["image_resolution"], cfg["image_resolution"])
    labels = torch.tensor([0, 2, 3])
    proj = nn.Linear(cfg["text_width"], cfg["vision_width"])
    tensors = {"images": f32(images), "proj_w": f32(proj.weight), "proj_b": f32(proj.bias)}
    with torch.no_grad():
        tensors["image_features_plain"] = f32(model.visual(images))
    meta = {"logit_scale_exp": float(model.logit_scale.exp()), "classes": CLASSES, "prompts": [prompt_text(c) for c in CLASSES], "tokens": tokens.tolist(),
            "labels": labels.tolist(), "cases": {}}
    cases = [("nctx1", 1, "full"), ("nctx2", 2, "full"), ("nctx2_noshared", 2, "noshared"),
             ("nctx3_nofilter", 3, "nofilter")]
    for name, n_ctx, variant in cases:
        while True:
            scores = (0.02 * torch.randn(n_ctx, cfg["vocab_size"])).requires_grad_()
            if distinct_rows(scores.detach()):
                try:
                    algorithm1(scores.detach(), tok, "full")
                    break
                except AmbiguousOrder:
                    pass
        proj.zero_grad()
        text_rec, vision_rec = [], []
        r = dpt_forward(model, tok, tokens, images, labels, scores, proj, variant, text_rec, vision_rec)
        r["loss"].backward()
        p = name + "/"
        tensors.update({
            p + "scores": f32(scores), p + "ctx": f32(r["ctx"]), p + "text_features": f32(r["text"]),
            p + "text_features_norm": f32(r["text_n"]), p + "image_features": f32(r["image"]),
            p + "image_features_norm": f32(r["image_n"]), p + "logits": f32(r["logits"]),
            p + "loss": f32(r["loss"]).reshape(1), p + "grad_scores": f32(scores.grad),
            p + "grad_ctx": f32(r["ctx"].grad),
        })
        if r["prompts"] is not None:
            tensors[p + "visual_prompts"] = f32(r["prompts"])
            tensors[p + "grad_proj_w"] = f32(proj.weight.grad)
            tensors[p + "grad_proj_b"] = f32(proj.bias.grad)
        else:
            assert proj.weight.grad is None or not proj.weight.grad.any()
        with torch.no_grad():
            # Features of the towers cut after block k (k < layers): what a
            # model holding only blocks 0..k-1 computes.
            for k in range(1, len(text_rec) - 1):
                tensors[p + f"text_features_depth{k}"] = f32(model.text_head(text_rec[k], tokens))
            for k in range(1, len(vision_rec) - 1):
                tensors[p + f"image_features_depth{k}"] = f32(model.image_head(vision_rec[k]))
            if name == "nctx2":
                # Residual streams entering block 0 and after every block.
                # Text rows past the last EOT are cut: the mask is causal and
                # the features are read at EOT, so they affect nothing.
                length = int(tokens.argmax(dim=-1).max()) + 1
                for k, s in enumerate(text_rec):
                    tensors[p + f"text_stream{k}"] = f32(s[:, :length])
                for k, s in enumerate(vision_rec):
                    tensors[p + f"vision_stream{k}"] = f32(s)
        meta["cases"][name] = {"n_ctx": n_ctx, "variant": variant, "selected": r["ids"], "trace": r["trace"],
                               "decoded": tok.decode(r["ids"])}
    write_safetensors(os.path.join(out, "forward.safetensors"), tensors)
    write_json(os.path.join(out, "forward.json"), meta)


def sgd_fixture(model, tok, out):
    """Two DPT training steps (full variant, n_ctx 2) with Dassl's SGD and
    schedule: step 1 in epoch 1, step 2 in epoch 2 of a 4-epoch run."""
    cfg = model.cfg
    torch.manual_seed(202)
    epochs, base, warmup_lr, warmup, momentum, wd = 4, 0.0035, 1e-5, 1, 0.9, 5e-4
    lrs = dassl_lrs(epochs, base, warmup_lr, warmup)
    tokens = torch.tensor([tok.tokenize(prompt_text(c), cfg["context_length"]) for c in CLASSES])
    n_ctx = 2
    while True:
        scores = (0.004 * torch.randn(n_ctx, cfg["vocab_size"])).requires_grad_()
        if distinct_rows(scores.detach()):
            break
    proj = nn.Linear(cfg["text_width"], cfg["vision_width"])
    batches = [(torch.randn(3, 3, 32, 32), torch.tensor([1, 0, 3])), (torch.randn(3, 3, 32, 32), torch.tensor([2, 2, 0]))]
    tensors = {"scores0": f32(scores), "proj_w0": f32(proj.weight), "proj_b0": f32(proj.bias)}
    opt = torch.optim.SGD([scores, proj.weight, proj.bias], lr=base, momentum=momentum, weight_decay=wd,
                          dampening=0, nesterov=False)
    steps = []
    for step, ((images, labels), epoch) in enumerate(zip(batches, [1, 2]), start=1):
        for g in opt.param_groups:
            g["lr"] = lrs[epoch]
        opt.zero_grad()
        r = dpt_forward(model, tok, tokens, images, labels, scores, proj, "full")
        r["loss"].backward()
        tensors[f"images{step}"] = f32(images)
        tensors[f"grad_scores{step}"] = f32(scores.grad)
        opt.step()
        tensors[f"scores{step}"] = f32(scores)
        tensors[f"proj_w{step}"] = f32(proj.weight)
        tensors[f"proj_b{step}"] = f32(proj.bias)
        steps.append({"epoch": epoch, "lr": lrs[epoch], "labels": labels.tolist(), "selected": r["ids"],
                      "loss": float(r["loss"])})
    write_safetensors(os.path.join(out, "sgd.safetensors"), tensors)
    write_json(os.path.join(out, "sgd.json"), {
        "n_ctx": n_ctx, "tokens": tokens.tolist(), "epochs": epochs, "lr": base, "warmup_lr": warmup_lr,
        "warmup_epochs": warmup, "momentum": momentum, "weight_decay": wd, "lrs": lrs, "steps": steps})


def run_all_variants(scores, tok):
    """Algorithm 1 under the three variants; None for a matrix whose step 6
    would order ties."""
    entry = {}
    for variant in ("full", "noselect", "nofilter"):
        trace, stats = [], {}
        try:
            ids = algorithm1(scores, tok, variant, trace, stats)
            entry[variant] = {"ids": ids}
        except AmbiguousOrder:
            return None
        except IndexError:
            entry[variant] = {"error": "rank past the vocabulary"}
        if variant == "full":
            # The full trace can run to thousands of lines: stored as its
            # length, SHA-256 (of the lines joined by "\n") and first lines.
            entry[variant].update({"trace_lines": len(trace), "trace_head": trace[:4],
                                   "trace_sha256": hashlib.sha256("\n".join(trace).encode("utf-8")).hexdigest(),
                                   "stats": stats})
    # Coverage: would reading the ranked tokens' scores (no quirk) have
    # selected something else?
    try:
        plain = algorithm1(scores, tok, "full", gather_tokens=True)
    except (IndexError, AmbiguousOrder):
        plain = None
    entry["full"]["quirk_matters"] = plain != entry["full"].get("ids")
    return entry


def non_final_ids(tok):
    """Ids whose token is not word-final (no </w>) and not special: the
    tokens whose decode does not re-encode to themselves when alone."""
    return [i for i in range(tok.vocab_size)
            if not tok.token_of[i].endswith(END_OF_WORD) and i not in (tok.sot, tok.eot)]


def select_fixture(small, real, out):
    """Algorithm 1 selections for seeded score matrices (see seeded_matrix)."""
    rng = random.Random(303)
    cases = []
    next_seed = [1]

    def add(kind, vocab_name, tok, n_ctx, scale_exp, overrides_of):
        while True:
            seed = next_seed[0]
            next_seed[0] += 1
            overrides = overrides_of(seed) if overrides_of else []
            m = seeded_matrix(seed, n_ctx, tok.vocab_size, scale_exp, overrides)
            entry = run_all_variants(m, tok)
            if entry is not None:
                break
        entry.update({"kind": kind, "vocab": vocab_name, "seed": seed, "n_ctx": n_ctx, "scale_exp": scale_exp,
                      "overrides": [[r, c, float(np.float32(v))] for r, c, v in overrides]})
        cases.append(entry)

    def boosted(n_ctx, scale_exp, pick):
        """Overrides that put chosen ids at the top of rows, in order."""
        top = 2.0 ** scale_exp

        def make(seed):
            ov = []
            for r in range(n_ctx):
                for j, c in enumerate(pick(r)):
                    ov.append((r, c, top * (3 - j / 16)))
            return ov
        return make

    for n_ctx in (1, 2, 3, 4):
        for _ in range(60):
            add("random", "small", small, n_ctx, rng.choice([-8, -6, 0]), None)
    for n_ctx in (1, 2, 3, 4):
        for _ in range(8):
            add("random", "real", real, n_ctx, -8, None)

    for tok, vocab_name, count in ((small, "small", 24), (real, "real", 8)):
        specials = [tok.sot, tok.eot]
        bad = non_final_ids(tok)
        for _ in range(count):
            n_ctx = rng.randint(1, 4)
            # BOS/EOS at the top of some rows, in either order, sometimes both.
            plan = [rng.sample(specials, rng.randint(0, 2)) for _ in range(n_ctx)]
            plan[rng.randrange(n_ctx)] = rng.sample(specials, rng.randint(1, 2))
            add("bos_eos", vocab_name, tok, n_ctx, -8, boosted(n_ctx, -8, lambda r, p=plan: p[r]))
        for _ in range(count + 8):
            n_ctx = rng.randint(1, 4)
            # Non-word-final tokens on top of every row, so the round trip
            # fails and steps 6-8 run, sometimes up to the fallback bump.
            plan = [rng.sample(bad, rng.randint(1, 4)) for _ in range(n_ctx)]
            if rng.random() < 0.3:
                plan[0] = [rng.choice(specials)] + plan[0]
            add("round_trip", vocab_name, tok, n_ctx, -8, boosted(n_ctx, -8, lambda r, p=plan: p[r]))
    write_json(os.path.join(out, "select.json"), {
        "generator": "splitmix64 rows, see seeded_matrix in dpt_reference.py", "cases": cases}, compact=True)
    return cases


def tokenizer_fixture(small, real, out):
    rng = random.Random(404)
    names = class_names()
    texts = names + SPECIAL
    # Deduplicate, keeping order.
    texts = list(dict.fromkeys(texts))

    def decode_lists(tok):
        lists = []
        for _ in range(150):
            lists.append([rng.randrange(tok.vocab_size) for _ in range(rng.randint(1, 8))])
        for _ in range(100):
            # Byte tokens alone, so that partial and invalid UTF-8 sequences
            # reach errors="replace".
            lists.append([rng.randrange(512) for _ in range(rng.randint(1, 6))])
        lists.append([tok.sot, tok.eot])
        return lists

    fixture = {}
    for name, tok in (("real", real), ("small", small)):
        encode = [[t, tok.encode(t)] for t in texts]
        decode = [[ids, tok.decode(ids)] for ids in decode_lists(tok)]
        decode += [[ids, tok.decode(ids)] for _, ids in encode[-len(SPECIAL):]]
        fixture[name + "_vocab_size"] = tok.vocab_size
        fixture[name + "_encode"] = encode
        fixture[name + "_decode"] = decode
        fixture[name + "_mojibake"] = [[t, tok.encode(t)] for t in MOJIBAKE]
    write_json(os.path.join(out, "tokenizer.json"), fixture, compact=True)
    return len(texts)


# --- Evaluation fixture: a tiny CoOp-layout dataset (DTD layout).

EVAL_CLASSES = ["banded", "dotted", "zigzagged"]
EVAL_SIZES = [(40, 48), (64, 36), (33, 50)]
CLIP_MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])


def draw_texture(cls, w, h, rng):
    """A noisy, class-specific pattern as an HxWx3 uint8 array."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = rng.uniform(60, 190, size=3)
    if cls == "banded":
        pattern = np.sin(y / rng.uniform(1.5, 3.0))
    elif cls == "dotted":
        pattern = np.cos(x / 2.0) * np.cos(y / 2.0) > 0.6
    else:
        pattern = np.sign(np.sin((x + np.abs((y % 12) - 6)) / 2.5))
    img = base + 60 * np.asarray(pattern, dtype=np.float64)[..., None] * rng.uniform(0.5, 1.0, size=3)
    img += rng.normal(0, 12, size=img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def test_transform(pil_image, size):
    """Dassl's test pipeline: Resize(size) on the shorter side (bicubic, the
    longer side int(size*long/short)), CenterCrop(size), ToTensor, Normalize."""
    from PIL import Image
    w, h = pil_image.size
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)
    new = (size, new_long) if w <= h else (new_long, size)
    if new != (w, h):
        pil_image = pil_image.resize(new, Image.BICUBIC)
    w, h = pil_image.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    pil_image = pil_image.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(pil_image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div(255)
    return (x - CLIP_MEAN[:, None, None]) / CLIP_STD[:, None, None]


def write_evalset(ds_dir, seed):
    """Writes the JPEG files and the split file; returns the items."""
    from PIL import Image
    import shutil
    shutil.rmtree(ds_dir, ignore_errors=True)
    rng = np.random.default_rng(seed)
    items = []
    for label, cls in enumerate(EVAL_CLASSES):
        for i, (w, h) in enumerate(EVAL_SIZES):
            rel = f"{cls}/{cls}_{i + 1:04d}.jpg"
            path = os.path.join(ds_dir, "images", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(draw_texture(cls, w, h, rng)).save(path, quality=90)
            items.append([rel, label, cls])
    write_json(os.path.join(ds_dir, "split_zhou_DescribableTextures.json"),
               {"train": [it for it in items if it[0].endswith("_0001.jpg")], "val": [], "test": items})
    return items


def eval_fixture(model, tok, out):
    """A tiny CoOp-layout dataset (DTD's layout) of real JPEG files, the test
    pipeline's tensors, and zero-shot / DPT-checkpoint evaluations of it."""
    from PIL import Image
    root = os.path.join(out, "evalset")
    ds_dir = os.path.join(root, "dtd")
    size = model.cfg["image_resolution"]
    tokens = torch.tensor([tok.tokenize(prompt_text(c), model.cfg["context_length"]) for c in EVAL_CLASSES])

    # The DPT checkpoint, in the Go engine's format (scores, proj.weight,
    # proj.bias), evaluated as the seed's test forward does: Algorithm 1 on
    # the scores, ctx in the first n_ctx slots of "a photo of a".
    torch.manual_seed(606)
    n_ctx = 2
    while True:
        scores = 0.004 * torch.randn(n_ctx, model.cfg["vocab_size"])
        if distinct_rows(scores):
            try:
                ids = algorithm1(scores, tok, "full")
                break
            except AmbiguousOrder:
                pass
    proj = nn.Linear(model.cfg["text_width"], model.cfg["vision_width"])
    ctx = model.token_embedding.weight[ids].detach()

    def classify(images, truth, ctx, prompts):
        with torch.no_grad():
            text = model.encode_text(tokens, ctx)
            image = model.visual(images, prompts)
            text = text / text.norm(dim=-1, keepdim=True)
            image = image / image.norm(dim=-1, keepdim=True)
            logits = model.logit_scale.exp() * image @ text.t()
        pred = logits.argmax(dim=-1).tolist()
        top2 = logits.topk(2, dim=-1).values
        correct = sum(p == t for p, t in zip(pred, truth))
        return logits, {"pred": pred, "correct": correct, "accuracy": 100 * correct / len(truth),
                        "macro_f1": macro_f1(pred, truth), "min_margin": float((top2[:, 0] - top2[:, 1]).min())}

    # The model is random, so the images are redrawn (seed 505, 506, ...)
    # until the predictions are not all one class and no top-2 margin is so
    # small that JPEG decoders' rounding could flip it.
    for seed in range(505, 605):
        items = write_evalset(ds_dir, seed)
        truth = [it[1] for it in items]
        decoded = [Image.open(os.path.join(ds_dir, "images", it[0])).convert("RGB") for it in items]
        images = torch.stack([test_transform(img, size) for img in decoded])
        runs = {"prompt": classify(images, truth, None, None),
                "dpt": classify(images, truth, ctx, proj(ctx).detach()),
                "dpt_noshared": classify(images, truth, ctx, None)}
        if all(len(set(r["pred"])) >= 2 and r["min_margin"] > 0.05 for _, r in runs.values()):
            break
    else:
        sys.exit("no image seed gives varied predictions")

    # What PIL decoded, losslessly, so that the Go test can check the
    # preprocessing apart from the JPEG decoder.
    pixel_dir = os.path.join(out, "evalpixels")
    os.makedirs(pixel_dir, exist_ok=True)
    for k, img in enumerate(decoded):
        img.save(os.path.join(pixel_dir, f"{k}.png"), optimize=True)
    tensors = {"images": f32(images)}
    results = {}
    for name, (logits, r) in runs.items():
        tensors["logits_" + name] = f32(logits)
        results[name] = r
    write_safetensors(os.path.join(root, "dpt_checkpoint.safetensors"),
                      {"scores": f32(scores), "proj.weight": f32(proj.weight), "proj.bias": f32(proj.bias)},
                      {"format": "grid-dpt-v1", "token_ids": json.dumps(ids), "prompt": tok.decode(ids)})
    write_safetensors(os.path.join(out, "eval.safetensors"), tensors)
    write_json(os.path.join(out, "eval.json"), {
        "dataset": "dtd", "root": "evalset", "checkpoint": "evalset/dpt_checkpoint.safetensors",
        "image_seed": seed, "classes": EVAL_CLASSES, "prompt": TEMPLATE, "items": items, "labels": truth,
        "dpt_selected": ids, "results": results})
    return results


def repo_root():
    d = os.path.dirname(os.path.abspath(__file__))
    while not os.path.exists(os.path.join(d, "go.mod")):
        parent = os.path.dirname(d)
        if parent == d:
            sys.exit("no go.mod above " + __file__)
        d = parent
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
    ap.add_argument("--bpe", default=os.path.join(repo_root(), "..", "shared", "clip", "bpe_simple_vocab_16e6.txt.gz"),
                    help="OpenAI's bpe_simple_vocab_16e6.txt.gz (read, never copied)")
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = args.out
    model_dir = os.path.join(out, "model")
    small_path = os.path.join(model_dir, "bpe_vocab.txt.gz")
    write_small_vocab(args.bpe, small_path)
    small, real = BPETokenizer(small_path), BPETokenizer(args.bpe)
    assert (small.vocab_size, real.vocab_size) == (512 + SMALL_MERGES + 2, 49408)

    model = build_model(small, args.seed)
    self_check(model)
    save_model(model, model_dir)
    forward_fixture(model, small, out)
    sgd_fixture(model, small, out)
    cases = select_fixture(small, real, out)
    n_texts = tokenizer_fixture(small, real, out)
    results = eval_fixture(model, small, out)
    print(f"model: vocab {small.vocab_size}; select cases: {len(cases)}; tokenizer texts: {n_texts}")
    for name, r in results.items():
        print(f"eval {name}: accuracy {r['accuracy']:.1f}% macro-F1 {r['macro_f1']:.1f}% "
              f"(min top-2 margin {r['min_margin']:.4f})")


if __name__ == "__main__":
    main()
