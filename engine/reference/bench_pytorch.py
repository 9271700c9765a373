#!/usr/bin/python3
"""PyTorch side of `make bench` (engine/bench runs it and prints the ratios).

One job per process, so each peak RSS is that job's alone. Every job prints
one JSON object on stdout:

  gemm   F.linear(x, W) (out = x·Wᵀ, the NT form of a Linear forward) on each
         --shapes entry MxNxK: best and all GFLOP/s over --reps calls.
  step   one DPT training step as the seed computes it, fp32 on the CPU:
         frozen CLIP ViT-B/16 with random weights (the real shapes, OpenAI's
         module layout with nn.MultiheadAttention), scores n_ctx x 49408 with
         the straight-through one-hot, ctx = onehot @ token_embedding, the full
         77-token text of every class on every step, visual prompts
         Linear(512->768)(ctx) appended to the ViT tokens (none with
         --noshared), cross-entropy on 100*cos, an SGD step on scores and
         the projection. It omits what the anchors' reference omits (the
         tokenizer round trip, the discarded distillation forward, logging).
         Seconds per step: best and all of --reps after one warm-up step;
         peak RSS of the process.
  eval   what evaluation does per test batch: the vision tower with the two
         visual prompt tokens and no gradients on --batch images, then the
         logits against 10 class features computed once beforehand: best
         and all images/s over --reps passes.

The class token sequences are [SOT, ctx slots, 4-6 word tokens, EOT, 0...]
(the layout of "a photo of a <class>." with its first n_ctx words as the
slots), the same ids the Go side uses (engine/bench).

On a GPU (--device cuda; engine/cuda/gpucheck runs it) the same jobs run
as the anchors of ../shared/anchors.md: --dtype fp16 is the seed's
PREC=fp16 (Linear, conv, attention weights and projections in fp16,
LayerNorm computed in fp32, the token embedding cast to fp16 where used,
fp16 scores and projection updated by SGD), and --best the best-effort
variant (the text cut at the last EOT and both towers through
torch.compile; nn.MultiheadAttention already runs SDPA kernels there).
Times are taken after torch.cuda.synchronize.
"""

import argparse
import json
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, CONTEXT, SOT, EOT = 49408, 77, 49406, 49407
TEXT_WIDTH, TEXT_LAYERS, VISION_WIDTH, VISION_LAYERS, EMBED = 512, 12, 768, 12, 512
RESOLUTION, PATCH = 224, 16


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class LayerNorm(nn.LayerNorm):
    """OpenAI CLIP's LayerNorm: computed in fp32 whatever the input's type."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class ResidualAttentionBlock(nn.Module):
    """OpenAI CLIP's block: sequence-first tensors, nn.MultiheadAttention."""

    def __init__(self, width, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), QuickGELU(), nn.Linear(4 * width, width))
        self.ln_2 = LayerNorm(width)

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers):
        super().__init__()
        self.blocks = nn.ModuleList([ResidualAttentionBlock(width, width // 64) for _ in range(layers)])

    def forward(self, x, mask=None):
        for b in self.blocks:
            x = b(x, mask)
        return x


class Vision(nn.Module):
    def __init__(self):
        super().__init__()
        w = VISION_WIDTH
        self.conv1 = nn.Conv2d(3, w, kernel_size=PATCH, stride=PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w) * w ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn((RESOLUTION // PATCH) ** 2 + 1, w) * w ** -0.5)
        self.ln_pre = LayerNorm(w)
        self.transformer = Transformer(w, VISION_LAYERS)
        self.ln_post = LayerNorm(w)
        self.proj = nn.Parameter(torch.randn(w, EMBED) * w ** -0.5)

    def forward(self, images, prompts=None):
        x = self.conv1(images).flatten(2).permute(0, 2, 1)
        cls = self.class_embedding.type(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.type(x.dtype)
        if prompts is not None:  # MaPLe-style: appended after the positional embedding
            x = torch.cat([x, prompts.expand(x.shape[0], -1, -1)], dim=1)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj.type(x.dtype)


class Text(nn.Module):
    def __init__(self):
        super().__init__()
        w = TEXT_WIDTH
        self.token_embedding = nn.Embedding(VOCAB, w)
        self.positional_embedding = nn.Parameter(torch.randn(CONTEXT, w) * 0.01)
        self.transformer = Transformer(w, TEXT_LAYERS)
        self.ln_final = LayerNorm(w)
        self.text_projection = nn.Parameter(torch.randn(w, EMBED) * w ** -0.5)
        self.register_buffer("mask", torch.full((CONTEXT, CONTEXT), float("-inf")).triu_(1))

    def forward(self, tokens, ctx):
        """tokens may be cut short of CONTEXT (--best: at the last EOT)."""
        length = tokens.shape[1]
        emb = self.token_embedding(tokens).type(ctx.dtype)
        n_ctx = ctx.shape[0]
        x = torch.cat([emb[:, :1], ctx.expand(tokens.shape[0], -1, -1), emb[:, 1 + n_ctx:]], dim=1)
        x = (x + self.positional_embedding[:length].type(x.dtype)).permute(1, 0, 2)
        x = self.transformer(x, self.mask[:length, :length].type(x.dtype)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), tokens.argmax(dim=-1)] @ self.text_projection.type(x.dtype)


def class_tokens(classes, n_ctx):
    """[SOT, n_ctx slots, 4-6 word tokens ("of a <class> ."), EOT, 0...]: the
    Go side builds the same sequences."""
    rows = []
    for k in range(classes):
        seq = [SOT] + [1 + j for j in range(n_ctx)] + [1000 + 7 * k + j for j in range(4 + k % 3)] + [EOT]
        rows.append(seq + [0] * (CONTEXT - len(seq)))
    return torch.tensor(rows)


def frozen(module):
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def towers(args):
    """The frozen text and vision towers on args.device, in the seed's
    precision: CLIP's convert_weights puts Linear, conv, attention weights
    and the projections in fp16 and leaves LayerNorms and embeddings fp32.
    With --best, both go through torch.compile."""
    torch.manual_seed(0)
    text, vision = frozen(Text()).to(args.device), frozen(Vision()).to(args.device)
    dtype = DTYPES[args.dtype]
    for tower in (text, vision):
        for m in tower.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.MultiheadAttention)):
                m.to(dtype)
    text.text_projection.data = text.text_projection.data.to(dtype)
    vision.proj.data = vision.proj.data.to(dtype)
    if args.best:
        if not hasattr(torch, "compile"):
            sys.exit(f"bench_pytorch.py: --best needs torch.compile (PyTorch 2); this is {torch.__version__}")
        text, vision = torch.compile(text), torch.compile(vision)
    return text, vision


DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def sync(args):
    if args.device == "cuda":
        torch.cuda.synchronize()


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def job_gemm(args):
    out = []
    for shape in args.shapes.split(","):
        m, n, k = (int(v) for v in shape.split("x"))
        x, w = torch.randn(m, k), torch.randn(n, k)
        F.linear(x, w)
        rates = []
        for _ in range(args.reps):
            start = time.perf_counter()
            F.linear(x, w)
            rates.append(2 * m * n * k / (time.perf_counter() - start) / 1e9)
        out.append({"shape": shape, "best": max(rates), "all": rates})
    return {"gemm": out}


def job_step(args):
    text, vision = towers(args)
    dev, dtype = args.device, DTYPES[args.dtype]
    n_ctx = args.n_ctx
    tokens = class_tokens(args.classes, n_ctx).to(dev)
    if args.best:
        tokens = tokens[:, : int(tokens.argmax(dim=-1).max()) + 1]
    scores = nn.Parameter((torch.randn(n_ctx, VOCAB) * 0.02).to(dev, dtype))
    params = [scores]
    proj = None
    if not args.noshared:
        proj = nn.Linear(TEXT_WIDTH, VISION_WIDTH).to(dev, dtype)
        params += list(proj.parameters())
    opt = torch.optim.SGD(params, lr=0.002, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(args.batch, 3, RESOLUTION, RESOLUTION).to(dev, dtype)
    labels = torch.arange(args.batch, device=dev) % args.classes
    embedding = text.token_embedding.weight

    def step():
        onehot = F.one_hot(scores.argmax(dim=-1), VOCAB).type(dtype)
        onehot = onehot + scores - scores.detach()  # straight-through
        ctx = onehot @ embedding.type(dtype)
        txt = text(tokens, ctx)
        img = vision(images, proj(ctx) if proj is not None else None)
        txt = txt / txt.norm(dim=-1, keepdim=True)
        img = img / img.norm(dim=-1, keepdim=True)
        loss = F.cross_entropy(100 * img @ txt.t(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync(args)
    times = []
    for _ in range(args.reps):
        start = time.perf_counter()
        step()
        sync(args)
        times.append(time.perf_counter() - start)
    return {"best": min(times), "all": times, "peak_rss": peak_rss_bytes()}


def job_eval(args):
    text, vision = towers(args)
    text.eval(), vision.eval()  # Dassl tests in eval mode
    dev, dtype = args.device, DTYPES[args.dtype]
    prompts = (torch.randn(args.n_ctx, VISION_WIDTH) * 0.02).to(dev, dtype)
    images = torch.randn(args.batch, 3, RESOLUTION, RESOLUTION).to(dev, dtype)
    rates = []
    with torch.no_grad():
        tokens = class_tokens(10, args.n_ctx).to(dev)
        txt = text(tokens, text.token_embedding(tokens[0, 1:1 + args.n_ctx]).type(dtype))
        txt = txt / txt.norm(dim=-1, keepdim=True)  # the class features, once

        def logits():
            img = vision(images, prompts)
            return 100 * (img / img.norm(dim=-1, keepdim=True)) @ txt.t()

        for _ in range(args.warmup):
            logits()
        sync(args)
        for _ in range(args.reps):
            start = time.perf_counter()
            logits()
            sync(args)
            rates.append(args.batch / (time.perf_counter() - start))
    return {"best": max(rates), "all": rates, "peak_rss": peak_rss_bytes()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("job", choices=["gemm", "step", "eval"])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--shapes", default="768x768x768")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--n-ctx", type=int, default=2)
    ap.add_argument("--noshared", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU device check")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="fp32", help="fp16: the seed's PREC=fp16")
    ap.add_argument("--best", action="store_true", help="best-effort: text cut at the last EOT, torch.compile")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs first (compilation, autotuning)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {"gemm": job_gemm, "step": job_step, "eval": job_eval}[args.job](args)
    result["torch"] = torch.__version__
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
