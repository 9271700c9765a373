#!/usr/bin/env python3
"""Writes the weight-loading fixtures of engine/clip (needs PyTorch; CI does not).

A tiny CLIP whose parameter names and layouts are exactly those of OpenAI's
checkpoints is filled from a fixed seed, then its fp16 conversion follows
OpenAI's convert_weights rule (Linear, Conv and MultiheadAttention weights
and biases, text_projection and proj become fp16; LayerNorms, embeddings
and logit_scale stay fp32). From it:

  tiny_openai.pt          torch.jit.script + torch.jit.save (like ViT-B-16.pt)
  tiny_state_dict.pt      torch.save(model.state_dict())
  tiny_hf.safetensors     the same weights under Hugging Face CLIPModel names,
                          float32, with the int64 position_ids HF stores
  tiny_reference.safetensors  every state_dict tensor as float32 (fp16 ones
                          widened exactly), OpenAI names: what all three
                          must load to
  tiny_features.json      PyTorch's fp32 forward of the loaded weights: image
                          and text features of two seeded images and three
                          token sequences

Run from this folder:  python3 make_fixtures.py
With --vit-b16 PATH it instead writes a randomly initialised TorchScript
archive with the real ViT-B/16 shapes to PATH (about 300 MB; for the opt-in
GRID_BIG_TESTS test, never committed).
"""
import argparse
import json
import math
import struct
from collections import OrderedDict
from typing import Optional

import torch
from torch import nn


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))
        self.ln_2 = nn.LayerNorm(width)
        self.causal = causal

    def forward(self, x):
        mask: Optional[torch.Tensor] = None
        if self.causal:
            n = x.shape[0]
            mask = torch.full((n, n), float("-inf"), dtype=x.dtype, device=x.device).triu(1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, causal: bool):
        super().__init__()
        self.resblocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, causal) for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, resolution: int, patch: int, width: int, layers: int, embed: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch, stride=patch, bias=False)
        self.class_embedding = nn.Parameter(torch.zeros(width))
        self.positional_embedding = nn.Parameter(torch.zeros((resolution // patch) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, width // 64, causal=False)
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.zeros(width, embed))

    def forward(self, x):
        x = self.conv1(x.type(self.conv1.weight.dtype))
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x).permute(1, 0, 2)
        x = self.transformer(x).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class CLIP(nn.Module):
    def __init__(self, embed, resolution, patch, vision_width, vision_layers,
                 context, vocab, text_width, text_layers):
        super().__init__()
        self.visual = VisionTransformer(resolution, patch, vision_width, vision_layers, embed)
        self.transformer = Transformer(text_width, text_layers, text_width // 64, causal=True)
        self.token_embedding = nn.Embedding(vocab, text_width)
        self.positional_embedding = nn.Parameter(torch.zeros(context, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(torch.zeros(text_width, embed))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        # OpenAI's TorchScript checkpoints carry these three int64 buffers.
        self.register_buffer("input_resolution", torch.tensor(resolution))
        self.register_buffer("context_length", torch.tensor(context))
        self.register_buffer("vocab_size", torch.tensor(vocab))

    def encode_image(self, image):
        return self.visual(image)

    def encode_text(self, text):
        x = self.token_embedding(text) + self.positional_embedding
        x = self.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
        x = self.ln_final(x)
        return x[torch.arange(x.shape[0]), text.argmax(dim=-1)] @ self.text_projection

    def forward(self, image, text):
        img = self.encode_image(image)
        txt = self.encode_text(text)
        img = img / img.norm(p=2, dim=1, keepdim=True)
        txt = txt / txt.norm(p=2, dim=1, keepdim=True)
        return self.logit_scale.exp() * img @ txt.t()


def fill(model, seed):
    """Distinct, non-trivial values everywhere (LayerNorms included), so that
    a swapped or transposed tensor cannot go unnoticed."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            std = 0.1 if p.dim() < 2 else p.shape[-1] ** -0.5
            p.copy_(torch.randn(p.shape, generator=gen) * std)
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or "ln_" in name and name.endswith(".weight"):
                p.add_(1.0)


def convert_weights(model):
    """OpenAI's fp16 rule: the weights (and biases) of every Linear, Conv and
    MultiheadAttention, plus the text_projection and proj matrices."""
    def halve(m):
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            m.weight.data = m.weight.data.half()
            if m.bias is not None:
                m.bias.data = m.bias.data.half()
        if isinstance(m, nn.MultiheadAttention):
            for attr in ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight",
                         "in_proj_bias", "bias_k", "bias_v"]:
                t = getattr(m, attr)
                if t is not None:
                    t.data = t.data.half()
        for attr in ["text_projection", "proj"]:
            if hasattr(m, attr) and getattr(m, attr) is not None:
                getattr(m, attr).data = getattr(m, attr).data.half()
    model.apply(halve)


def hf_names(sd, vision_layers, text_layers):
    """OpenAI state_dict -> Hugging Face CLIPModel names (float32 tensors)."""
    f = lambda t: t.detach().float().contiguous()
    out = {
        "logit_scale": f(sd["logit_scale"]),
        "text_model.embeddings.token_embedding.weight": f(sd["token_embedding.weight"]),
        "text_model.embeddings.position_embedding.weight": f(sd["positional_embedding"]),
        "text_model.final_layer_norm.weight": f(sd["ln_final.weight"]),
        "text_model.final_layer_norm.bias": f(sd["ln_final.bias"]),
        "text_projection.weight": f(sd["text_projection"]).t().contiguous(),
        "vision_model.embeddings.class_embedding": f(sd["visual.class_embedding"]),
        "vision_model.embeddings.patch_embedding.weight": f(sd["visual.conv1.weight"]),
        "vision_model.embeddings.position_embedding.weight": f(sd["visual.positional_embedding"]),
        "vision_model.pre_layrnorm.weight": f(sd["visual.ln_pre.weight"]),
        "vision_model.pre_layrnorm.bias": f(sd["visual.ln_pre.bias"]),
        "vision_model.post_layernorm.weight": f(sd["visual.ln_post.weight"]),
        "vision_model.post_layernorm.bias": f(sd["visual.ln_post.bias"]),
        "visual_projection.weight": f(sd["visual.proj"]).t().contiguous(),
    }
    for src, dst, layers in [("transformer.resblocks.", "text_model.encoder.layers.", text_layers),
                             ("visual.transformer.resblocks.", "vision_model.encoder.layers.", vision_layers)]:
        for i in range(layers):
            s, d = f"{src}{i}.", f"{dst}{i}."
            w, b = f(sd[s + "attn.in_proj_weight"]), f(sd[s + "attn.in_proj_bias"])
            width = w.shape[1]
            for j, qkv in enumerate("qkv"):
                out[d + f"self_attn.{qkv}_proj.weight"] = w[j * width:(j + 1) * width].contiguous()
                out[d + f"self_attn.{qkv}_proj.bias"] = b[j * width:(j + 1) * width].contiguous()
            for a, b2 in [("attn.out_proj", "self_attn.out_proj"), ("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"),
                          ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")]:
                out[d + b2 + ".weight"] = f(sd[s + a + ".weight"])
                out[d + b2 + ".bias"] = f(sd[s + a + ".bias"])
    return out


def write_safetensors(path, tensors):
    """Minimal safetensors writer (the safetensors package is not needed)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_features(path, model):
    """The features the Go model must reproduce from the same weights."""
    ref = CLIP(**TINY)
    ref.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    gen = torch.Generator().manual_seed(99)
    r = TINY["resolution"]
    images = torch.randn(2, 3, r, r, generator=gen)
    sot, eot = TINY["vocab"] - 2, TINY["vocab"] - 1
    rows = [[sot, 5, 6, eot], [sot, 40, eot], [sot, 7, 8, 9, 10, 11, eot]]
    tokens = torch.zeros(len(rows), TINY["context"], dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, :len(row)] = torch.tensor(row)
    with torch.no_grad():
        img = ref.encode_image(images)
        txt = ref.encode_text(tokens)
    with open(path, "w") as fh:
        json.dump({"images": images.reshape(-1).tolist(), "batch": 2, "tokens": tokens.tolist(),
                   "image_features": img.reshape(-1).tolist(), "text_features": txt.reshape(-1).tolist()}, fh)
        fh.write("\n")


TINY = dict(embed=32, resolution=16, patch=8, vision_width=64, vision_layers=2,
            context=16, vocab=100, text_width=64, text_layers=1)
VIT_B16 = dict(embed=512, resolution=224, patch=16, vision_width=768, vision_layers=12,
               context=77, vocab=49408, text_width=512, text_layers=12)


def build(cfg, seed):
    model = CLIP(**cfg)
    fill(model, seed)
    convert_weights(model)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vit-b16", metavar="PATH", help="write a random ViT-B/16-shaped TorchScript archive to PATH")
    args = ap.parse_args()
    if args.vit_b16:
        torch.jit.save(torch.jit.script(build(VIT_B16, 16)), args.vit_b16)
        return

    model = build(TINY, 2024)
    torch.jit.save(torch.jit.script(model), "tiny_openai.pt")
    sd = model.state_dict()
    torch.save(sd, "tiny_state_dict.pt")
    reference = {k: v.detach().float().contiguous() for k, v in sd.items()}
    write_safetensors("tiny_reference.safetensors", reference)
    hf = hf_names(sd, TINY["vision_layers"], TINY["text_layers"])
    grid = TINY["resolution"] // TINY["patch"]
    hf["text_model.embeddings.position_ids"] = torch.arange(TINY["context"]).unsqueeze(0)
    hf["vision_model.embeddings.position_ids"] = torch.arange(grid * grid + 1).unsqueeze(0)
    write_safetensors("tiny_hf.safetensors", hf)
    write_features("tiny_features.json", model)
    halves = sorted(k for k, v in sd.items() if v.dtype == torch.float16)
    print(f"{len(sd)} tensors, {len(halves)} fp16, {sum(v.numel() for v in sd.values())} values")


if __name__ == "__main__":
    main()
