#!/usr/bin/python3
"""Tiny InternViT-6B-style golden (RMSNorm, QK normalization, no qkv bias) for ModelForge's internvl2 builder.

Provenance: the forward pass below is written from the semantics of OpenGVLab's ORIGINAL code, read for this purpose
(internvl_chat/internvl/model/internvl_chat/modeling_intern_vit.py: InternRMSNorm, InternVisionEmbeddings._get_pos_embed,
InternAttention._naive_attn with qk_normalization, InternVisionEncoderLayer with ls1/ls2; modeling_internvl_chat.py:
extract_feature, pixel_shuffle with ps_version v2, mlp1). It is a re-statement of that code's math in plain PyTorch ops,
not the file itself (the original imports timm/einops/transformers, which are not installed here). Run with Debian's
python3-torch 1.13 (CPU, float32):  /usr/bin/python3 tools/GoldenInternVit6B/make_golden.py fixtures/golden
It writes internvit6b-tiny/ (original key names) and internvit6b-tiny-hf/ (the same weights under transformers'
InternVL "-hf" names, q/k/v split), each with fixture.json, model.safetensors and golden.safetensors.
Tests never run this script; they read its outputs.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

SEED = 61
CFG = dict(image_size=56, patch_size=14, hidden_size=64, num_layers=2, num_heads=4, ffn_hidden_size=256, qkv_bias=False,
           qk_normalization=True, norm_type="rms_norm", layer_norm_eps=1e-6, activation="gelu", layer_scale=True)
MLP_HIDDEN = 96
RATIO = 0.5
CASES = [("case0", 1, 56), ("case1", 2, 56), ("case2", 1, 84)]


def rms_norm(x, w, eps):
    # InternRMSNorm: statistics in float32, x * rsqrt(mean(x^2) + eps), then weight * x (cast back to the input dtype).
    dtype = x.dtype
    h = x.to(torch.float32)
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return w * h.to(dtype)


def params(gen):
    c, L, f, p = CFG["hidden_size"], CFG["num_layers"], CFG["ffn_hidden_size"], CFG["patch_size"]
    g = CFG["image_size"] // p
    def r(*shape, scale=0.2):
        return (torch.rand(*shape, generator=gen) * 2 - 1) * scale
    def around_one(n):
        return 1 + r(n, scale=0.3)
    w = {
        "vision_model.embeddings.class_embedding": r(1, 1, c, scale=1.0),
        "vision_model.embeddings.patch_embedding.weight": r(c, 3, p, p, scale=0.05),
        "vision_model.embeddings.patch_embedding.bias": r(c),
        "vision_model.embeddings.position_embedding": r(1, 1 + g * g, c, scale=1.0),
    }
    for i in range(L):
        k = f"vision_model.encoder.layers.{i}."
        w[k + "norm1.weight"] = around_one(c)
        w[k + "norm2.weight"] = around_one(c)
        w[k + "attn.qkv.weight"] = r(3 * c, c)
        w[k + "attn.q_norm.weight"] = around_one(c)
        w[k + "attn.k_norm.weight"] = around_one(c)
        w[k + "attn.proj.weight"] = r(c, c)
        w[k + "attn.proj.bias"] = r(c)
        w[k + "ls1"] = r(c, scale=0.5)
        w[k + "ls2"] = r(c, scale=0.5)
        w[k + "mlp.fc1.weight"] = r(f, c)
        w[k + "mlp.fc1.bias"] = r(f)
        w[k + "mlp.fc2.weight"] = r(c, f)
        w[k + "mlp.fc2.bias"] = r(c)
    k2c = int(c / RATIO / RATIO)
    w["mlp1.0.weight"] = around_one(k2c)
    w["mlp1.0.bias"] = r(k2c)
    w["mlp1.1.weight"] = r(MLP_HIDDEN, k2c)
    w["mlp1.1.bias"] = r(MLP_HIDDEN)
    w["mlp1.3.weight"] = r(MLP_HIDDEN, MLP_HIDDEN)
    w["mlp1.3.bias"] = r(MLP_HIDDEN)
    return w


def forward(w, pixels):
    c, h, eps = CFG["hidden_size"], CFG["num_heads"], CFG["layer_norm_eps"]
    p, g0 = CFG["patch_size"], CFG["image_size"] // CFG["patch_size"]
    # InternVisionEmbeddings
    x = F.conv2d(pixels, w["vision_model.embeddings.patch_embedding.weight"], w["vision_model.embeddings.patch_embedding.bias"], stride=p)
    b, _, gh, gw = x.shape
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([w["vision_model.embeddings.class_embedding"].expand(b, 1, -1), x], dim=1)
    pos = w["vision_model.embeddings.position_embedding"]
    grid = pos[:, 1:, :].float().reshape(1, g0, g0, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False).reshape(1, -1, gh * gw).permute(0, 2, 1)
    x = x + torch.cat([pos[:, :1, :], grid], dim=1)
    # InternVisionEncoderLayer x L (naive attention path)
    for i in range(CFG["num_layers"]):
        k = f"vision_model.encoder.layers.{i}."
        y = rms_norm(x, w[k + "norm1.weight"], eps)
        B, N, C = y.shape
        qkv = F.linear(y, w[k + "attn.qkv.weight"]).reshape(B, N, 3, h, C // h).permute(2, 0, 3, 1, 4)
        q, kk, v = qkv.unbind(0)
        q = rms_norm(q.transpose(1, 2).flatten(-2, -1), w[k + "attn.q_norm.weight"], eps).view(B, N, h, C // h).transpose(1, 2)
        kk = rms_norm(kk.transpose(1, 2).flatten(-2, -1), w[k + "attn.k_norm.weight"], eps).view(B, N, h, C // h).transpose(1, 2)
        attn = ((q * (C // h) ** -0.5) @ kk.transpose(-2, -1)).softmax(dim=-1)
        a = F.linear((attn @ v).transpose(1, 2).reshape(B, N, C), w[k + "attn.proj.weight"], w[k + "attn.proj.bias"])
        x = x + a * w[k + "ls1"]
        y = rms_norm(x, w[k + "norm2.weight"], eps)
        m = F.linear(F.gelu(F.linear(y, w[k + "mlp.fc1.weight"], w[k + "mlp.fc1.bias"])), w[k + "mlp.fc2.weight"], w[k + "mlp.fc2.bias"])
        x = x + m * w[k + "ls2"]
    last = x
    # extract_feature (select_layer -1) + pixel_shuffle v2 + mlp1
    e = last[:, 1:, :]
    s = int(e.shape[1] ** 0.5)
    e = e.reshape(e.shape[0], s, s, -1)
    n, ww, hh, cc = e.size()
    e = e.view(n, ww, int(hh * RATIO), int(cc / RATIO)).permute(0, 2, 1, 3).contiguous()
    e = e.view(n, int(hh * RATIO), int(ww * RATIO), int(cc / (RATIO * RATIO))).permute(0, 2, 1, 3).contiguous()
    e = e.reshape(e.shape[0], -1, e.shape[-1])
    e = F.layer_norm(e, (e.shape[-1],), w["mlp1.0.weight"], w["mlp1.0.bias"], 1e-5)
    e = F.linear(F.gelu(F.linear(e, w["mlp1.1.weight"], w["mlp1.1.bias"])), w["mlp1.3.weight"], w["mlp1.3.bias"])
    return last, e


def hf_names(w):
    """convert_internvl_weights_to_hf.py's renames, with attn.qkv split into q_proj/k_proj/v_proj (rows [:C], [C:2C], [2C:])."""
    import re
    rules = [(r"^vision_model\.", "vision_tower."), (r"\.encoder\.layers\.", ".encoder.layer."),
             (r"\.embeddings\.class_embedding$", ".embeddings.cls_token"), (r"\.embeddings\.position_embedding$", ".embeddings.position_embeddings"),
             (r"\.embeddings\.patch_embedding\.", ".embeddings.patch_embeddings.projection."), (r"\.ls(\d+)$", r".lambda_\1"),
             (r"\.attn\.proj\.", ".attention.projection_layer."), (r"\.attn\.", ".attention."), (r"\.norm1\.", ".layernorm_before."),
             (r"\.norm2\.", ".layernorm_after."), (r"^mlp1\.0\.", "multi_modal_projector.layer_norm."),
             (r"^mlp1\.1\.", "multi_modal_projector.linear_1."), (r"^mlp1\.3\.", "multi_modal_projector.linear_2.")]
    out = {}
    c = CFG["hidden_size"]
    for k, v in w.items():
        n = k
        for pat, rep in rules:
            n = re.sub(pat, rep, n)
        if ".attention.qkv." in n:
            for j, part in enumerate(["q_proj", "k_proj", "v_proj"]):
                out[n.replace(".qkv.", f".{part}.")] = v[j * c:(j + 1) * c]
        else:
            out[n] = v
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name].detach().numpy().astype("<f4"))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(out_root):
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    w = params(gen)
    golden = {}
    cases = []
    for name, batch, size in CASES:
        pixels = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
        with torch.no_grad():
            last, feats = forward(w, pixels)
        golden[f"{name}.input.pixel_values"] = pixels
        golden[f"{name}.output.vit_last_hidden_state"] = last
        golden[f"{name}.output.image_features"] = feats
        cases.append({"name": name, "batch": batch, "image_size": size, "tokens": int(feats.shape[1])})
    for folder, layout, weights in [("internvit6b-tiny", "original", w), ("internvit6b-tiny-hf", "hf", hf_names(w))]:
        d = os.path.join(out_root, folder)
        os.makedirs(d, exist_ok=True)
        fixture = {
            "name": folder, "architecture": "internvl2", "seed": SEED, "checkpoint_dtype": "float32",
            "reference": "InternViT-6B semantics of OpenGVLab modeling_intern_vit.py (InternRMSNorm, qk_normalization, no qkv bias) "
                         "+ modeling_internvl_chat.py pixel_shuffle v2 / mlp1, restated in PyTorch 1.13 ops (tools/GoldenInternVit6B)",
            "vit": CFG, "downsample_ratio": RATIO, "select_layer": -1,
            "mlp1": {"in": int(CFG["hidden_size"] / RATIO / RATIO), "hidden": MLP_HIDDEN},
            "checkpoint_layout": layout, "cases": cases,
        }
        with open(os.path.join(d, "fixture.json"), "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        write_safetensors(os.path.join(d, "model.safetensors"), weights, {"format": "pt"})
        write_safetensors(os.path.join(d, "golden.safetensors"), golden)
    print("torch", torch.__version__, "wrote", out_root)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/golden")
