"""PyTorch reference of one DPT training step and of the evaluation's vision
forward, timed on the same GPU as grid's CUDA benchmarks (run.sh prints the
ratios). It restates the setting of ../shared/anchors.md:

  - frozen CLIP ViT-B/16 with random weights and the real shapes;
  - DPT scores (n_ctx x 49408) turned into a one-hot by a straight-through
    argmax, the context = one-hot @ token_embedding;
  - Linear(512 -> 768) visual prompts appended to the ViT tokens;
  - every class's prompt through the text tower on every step;
  - cross-entropy on 100 * cos, SGD (momentum 0.9, weight decay 5e-4) on the
    scores and the projection.

Two variants, as the anchors name them:

  seed         fp16 eager, as the seed runs (LayerNorm in fp32, explicit
               attention, full 77-token text sequences);
  best         best-effort: SDPA attention, text cut at the last EOT,
               torch.compile of both towers (skipped, saying so, when
               torch.compile is unavailable or fails).

The selection is a plain argmax of the scores (the tokenizer round trip of
Algorithm 1 is host work both sides skip). Output: one JSON object per
line: {"what": ..., "variant": ..., "classes": ..., "ms": ...} or
{"what": "eval", ..., "images_per_s": ...}.

Usage: python3 torch_step.py [--device cuda] [--classes 50,500] [--tiny]
"""

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SOT, EOT, VOCAB, CONTEXT = 49406, 49407, 49408, 77


class LayerNorm(nn.LayerNorm):
    """CLIP's LayerNorm: computed in fp32, cast back."""

    def forward(self, x):
        return super().forward(x.float()).type(x.dtype)


class Block(nn.Module):
    def __init__(self, width, heads, sdpa):
        super().__init__()
        self.heads, self.sdpa = heads, sdpa
        self.ln_1, self.ln_2 = LayerNorm(width), LayerNorm(width)
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)
        self.c_fc, self.c_proj = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def attention(self, x, causal):
        B, T, C = x.shape
        q, k, v = self.in_proj(x).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        if self.sdpa:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        else:
            s = q @ k.transpose(-1, -2) / math.sqrt(C // self.heads)
            if causal:
                s = s + torch.full((T, T), float("-inf"), device=x.device, dtype=s.dtype).triu(1)
            o = s.softmax(-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(B, T, C))

    def forward(self, x, causal):
        x = x + self.attention(self.ln_1(x), causal)
        h = self.c_fc(self.ln_2(x))
        return x + self.c_proj(h * torch.sigmoid(1.702 * h))


class Tower(nn.Module):
    def __init__(self, width, layers, heads, sdpa, causal):
        super().__init__()
        self.causal = causal
        self.blocks = nn.ModuleList(Block(width, heads, sdpa) for _ in range(layers))

    def forward(self, x):
        for b in self.blocks:
            x = b(x, self.causal)
        return x


class CLIP(nn.Module):
    def __init__(self, cfg, sdpa):
        super().__init__()
        tw, vw, e, p = cfg["text_width"], cfg["vision_width"], cfg["embed"], cfg["patch"]
        self.cfg = cfg
        self.token_embedding = nn.Embedding(VOCAB, tw)
        self.positional_embedding = nn.Parameter(torch.randn(CONTEXT, tw) * 0.01)
        self.text = Tower(tw, cfg["layers"], tw // 64, sdpa, causal=True)
        self.ln_final = LayerNorm(tw)
        self.text_projection = nn.Parameter(torch.randn(tw, e) * tw**-0.5)
        grid = cfg["resolution"] // p
        self.conv1 = nn.Conv2d(3, vw, p, p, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(vw) * vw**-0.5)
        self.visual_pos = nn.Parameter(torch.randn(grid * grid + 1, vw) * vw**-0.5)
        self.ln_pre, self.ln_post = LayerNorm(vw), LayerNorm(vw)
        self.vision = Tower(vw, cfg["layers"], vw // 64, sdpa, causal=False)
        self.visual_proj = nn.Parameter(torch.randn(vw, e) * vw**-0.5)

    def encode_text(self, prompts, eot, length):
        x = prompts[:, :length] + self.positional_embedding[:length].type(prompts.dtype)
        x = self.ln_final(self.text(x))
        return x[torch.arange(x.shape[0], device=x.device), eot] @ self.text_projection

    def encode_image(self, images, extra):
        x = self.conv1(images).flatten(2).transpose(1, 2)
        cls = self.class_embedding.type(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], 1) + self.visual_pos.type(x.dtype)
        if extra is not None:
            x = torch.cat([x, extra.expand(x.shape[0], -1, -1)], 1)
        x = self.vision(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.visual_proj


class StraightThrough(torch.autograd.Function):
    """The one-hot of the argmax forward, the identity backward (GetToggle)."""

    @staticmethod
    def forward(ctx, scores):
        return F.one_hot(scores.argmax(-1), scores.shape[-1]).type(scores.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def class_tokens(classes, n_ctx, gen):
    """[SOT][n_ctx slots] "of a" class words "." [EOT][pad], as the seed's."""
    rows, eot = [], []
    for _ in range(classes):
        words = torch.randint(1000, 40000, (int(torch.randint(1, 4, (1,), generator=gen)),), generator=gen).tolist()
        seq = [SOT] + [0] * n_ctx + [539, 320] + words + [269, EOT]
        eot.append(len(seq) - 1)
        rows.append(seq + [0] * (CONTEXT - len(seq)))
    return torch.tensor(rows), torch.tensor(eot)


def make_step(model, classes, n_ctx, batch, dtype, device, cut, gen):
    tokens, eot = class_tokens(classes, n_ctx, gen)
    tokens, eot = tokens.to(device), eot.to(device)
    length = int(eot.max()) + 1 if cut else CONTEXT
    emb = model.token_embedding.weight.type(dtype)
    with torch.no_grad():
        prefix_suffix = emb[tokens]  # [K, 77, width], the frozen parts of the prompts
    scores = nn.Parameter(torch.randn(n_ctx, VOCAB, generator=gen).mul(0.004).to(device, dtype))
    proj = nn.Linear(model.cfg["text_width"], model.cfg["vision_width"]).to(device, dtype)
    opt = torch.optim.SGD([scores, *proj.parameters()], lr=0.0035, momentum=0.9, weight_decay=5e-4)
    images = torch.randn(batch, 3, model.cfg["resolution"], model.cfg["resolution"], generator=gen).to(device, dtype)
    labels = torch.arange(batch, device=device) % classes

    def step():
        ctx = StraightThrough.apply(scores) @ emb  # [n_ctx, width]
        prompts = torch.cat([prefix_suffix[:, :1], ctx.expand(classes, -1, -1), prefix_suffix[:, 1 + n_ctx:]], 1)
        text = F.normalize(model.encode_text(prompts, eot, length), dim=-1)
        image = F.normalize(model.encode_image(images, proj(ctx)), dim=-1)
        loss = F.cross_entropy(100 * image @ text.t(), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def timed(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    sync()
    return (time.perf_counter() - start) / iters


def build(cfg, device, dtype, variant):
    torch.manual_seed(1)
    sdpa = variant == "best" and hasattr(F, "scaled_dot_product_attention")
    if variant == "best" and not sdpa:
        print(json.dumps({"note": "this torch has no scaled_dot_product_attention"}), flush=True)
    model = CLIP(cfg, sdpa=sdpa).to(device)
    for p in model.parameters():
        p.requires_grad_(False)
    # convert_weights: Linear, conv and projections in fp16; LayerNorms,
    # embeddings stay fp32 and are cast where used.
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.to(dtype)
    model.text_projection.data = model.text_projection.data.to(dtype)
    model.visual_proj.data = model.visual_proj.data.to(dtype)
    if variant == "best":
        try:
            model.text = torch.compile(model.text)
            model.vision = torch.compile(model.vision)
        except Exception as e:  # torch without compile, or a failing backend
            print(json.dumps({"note": f"torch.compile unavailable: {e}"}), flush=True)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--classes", default="50,500")
    ap.add_argument("--variants", default="seed,best")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--tiny", action="store_true", help="small shapes, for a smoke test on a CPU")
    args = ap.parse_args()
    cfg = dict(text_width=512, vision_width=768, embed=512, layers=12, patch=16, resolution=224)
    if args.tiny:
        cfg = dict(text_width=64, vision_width=64, embed=32, layers=2, patch=16, resolution=32)
    dtype = torch.float16 if args.device == "cuda" else torch.float32
    gen = torch.Generator().manual_seed(0)
    for variant in args.variants.split(","):
        model = build(cfg, args.device, dtype, variant)
        for classes in [int(c) for c in args.classes.split(",")]:
            step = make_step(model, classes, 2, 4, dtype, args.device, cut=variant == "best", gen=gen)
            ms = 1000 * timed(step, args.device, 3 if args.tiny else 5, 2 if args.tiny else args.iters)
            print(json.dumps({"what": "train_step", "variant": variant, "classes": classes, "ms": round(ms, 3)}), flush=True)
        images = torch.randn(100 if not args.tiny else 4, 3, cfg["resolution"], cfg["resolution"], generator=gen).to(args.device, dtype)
        with torch.no_grad():
            sec = timed(lambda: F.normalize(model.encode_image(images, None), dim=-1), args.device, 3, 2 if args.tiny else 10)
        print(json.dumps({"what": "eval", "variant": variant, "batch": images.shape[0], "images_per_s": round(images.shape[0] / sec, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
