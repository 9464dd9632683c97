"""PyTorch reference of bench:policy's model, for the speed ratio (Debian's python3-torch).

The same architecture as @grpo/plugin-transformer (Llama-style: RMSNorm, rotary embeddings in the
rotate-half layout, SwiGLU, tied embeddings; dModel 128, 4 layers, 4 heads, context 128, 64-token
vocabulary) and the same two workloads as policy.bench.ts:

- generate: 8 prompts of 32 tokens, 8 samples each (the prompts prefilled once, keys and values
  repeated 8 times), 96 new tokens at temperature 1 with a KV cache (concatenated per step, as
  Hugging Face's DynamicCache does), stopping at EOS;
- train: forward + backward + AdamW (gradient clipping at 1) on 32 x 128 tokens, the loss the mean
  log-prob of the 96 completion tokens of each row.

It runs as a server so that the benchmark can interleave it with its own runs: one JSON command
per line on stdin (`{"cmd": "generate"}`, `{"cmd": "train", "steps": 4}`, `{"cmd": "quit"}`), one
JSON answer per line on stdout (`{"tokens": ..., "seconds": ...}`). The first line it prints is
`{"ready": true, "torch": "<version>", "threads": n}`.
"""

import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

THREADS = int(os.environ.get("TORCH_THREADS", os.cpu_count() or 1))
torch.set_num_threads(THREADS)
torch.manual_seed(0)

V, D, LAYERS, HEADS, CTX = 64, 128, 4, 4, 128
HD = D // HEADS
FFN = max(8, round(8 * D / 3 / 8) * 8)  # 344, the transformer plugin's default
EPS = 1e-5
EOS = 2


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = torch.nn.Parameter(torch.ones(D))
        self.wq = torch.nn.Linear(D, D, bias=False)
        self.wk = torch.nn.Linear(D, D, bias=False)
        self.wv = torch.nn.Linear(D, D, bias=False)
        self.wo = torch.nn.Linear(D, D, bias=False)
        self.mlp_norm = torch.nn.Parameter(torch.ones(D))
        self.w1 = torch.nn.Linear(D, FFN, bias=False)
        self.w3 = torch.nn.Linear(D, FFN, bias=False)
        self.w2 = torch.nn.Linear(FFN, D, bias=False)


def rms_norm(x, gain):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * gain


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(V, D)
        torch.nn.init.normal_(self.embed.weight, std=0.02)
        self.layers = torch.nn.ModuleList([Block() for _ in range(LAYERS)])
        for layer in self.layers:
            for lin in (layer.wq, layer.wk, layer.wv, layer.w1, layer.w3):
                torch.nn.init.normal_(lin.weight, std=0.02)
            for lin in (layer.wo, layer.w2):
                torch.nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * LAYERS))
        self.norm = torch.nn.Parameter(torch.ones(D))
        inv = 1.0 / (10000 ** (torch.arange(0, HD, 2).float() / HD))
        ang = torch.outer(torch.arange(CTX).float(), inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)

    def forward(self, ids, pos0=0, cache=None):
        """ids [B, T] at positions pos0..pos0+T-1; cache: per layer (k, v) [B, H, L, hd] or None."""
        B, T = ids.shape
        x = self.embed(ids)
        cos = self.cos[pos0 : pos0 + T]
        sin = self.sin[pos0 : pos0 + T]
        new_cache = []
        for i, layer in enumerate(self.layers):
            h = rms_norm(x, layer.attn_norm)
            q = layer.wq(h).view(B, T, HEADS, HD).transpose(1, 2)
            k = layer.wk(h).view(B, T, HEADS, HD).transpose(1, 2)
            v = layer.wv(h).view(B, T, HEADS, HD).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                k = torch.cat((cache[i][0], k), dim=2)
                v = torch.cat((cache[i][1], v), dim=2)
            new_cache.append((k, v))
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(HD)
            if T > 1:
                L = k.shape[2]
                mask = torch.ones(T, L, dtype=torch.bool).tril(L - T)
                scores = scores.masked_fill(~mask, float("-inf"))
            att = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
            x = x + layer.wo(att)
            h = rms_norm(x, layer.mlp_norm)
            x = x + layer.w2(F.silu(layer.w1(h)) * layer.w3(h))
        x = rms_norm(x, self.norm)
        return x @ self.embed.weight.t(), new_cache


def make_prompts():
    # 8 prompts of BOS + 31 characters, as in policy.bench.ts.
    return torch.tensor([[1] + [3 + (i * 7 + j * 3) % 61 for j in range(31)] for i in range(8)])


@torch.inference_mode()
def generate(model, prompts, group=8, new_tokens=96):
    gen = torch.Generator().manual_seed(1)
    logits, cache = model(prompts)
    logits = logits[:, -1].repeat_interleave(group, 0)
    cache = [(k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)) for k, v in cache]
    n = logits.shape[0]
    alive = torch.ones(n, dtype=torch.bool)
    tokens = 0
    pos = prompts.shape[1]
    for step in range(new_tokens):
        probs = logits.softmax(-1)
        nxt = torch.multinomial(probs, 1, generator=gen)
        tokens += int(alive.sum())
        alive &= nxt[:, 0] != EOS
        if step == new_tokens - 1 or not bool(alive.any()):
            break
        logits, cache = model(nxt, pos, cache)
        logits = logits[:, -1]
        pos += 1
    return tokens


def train_batch():
    B, P, T = 32, 32, 128
    rows = [[3 + (b + j) % 61 for j in range(P)] + [3 + (b * 5 + j * 2) % 61 for j in range(T - P)] for b in range(B)]
    return torch.tensor(rows), P


def train_step(model, opt, ids, prompt_len):
    inputs, targets = ids[:, :-1], ids[:, 1:]
    logits, _ = model(inputs)
    logp = logits.log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    loss = -logp[:, prompt_len - 1 :].mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


def main():
    model = Model()
    prompts = make_prompts()
    ids, prompt_len = train_batch()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    # Warm-up, as the benchmark warms up its own model.
    generate(model, prompts[:2], 2, 4)
    train_step(model, opt, ids, prompt_len)
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        t0 = time.perf_counter()
        c0 = time.process_time()
        if cmd["cmd"] == "generate":
            tokens = generate(model, prompts)
        elif cmd["cmd"] == "train":
            steps = int(cmd.get("steps", 4))
            for _ in range(steps):
                train_step(model, opt, ids, prompt_len)
            tokens = steps * ids.shape[0] * ids.shape[1]
        else:
            raise ValueError(f"unknown command {cmd['cmd']}")
        print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - t0, "cpuSeconds": time.process_time() - c0}), flush=True)


if __name__ == "__main__":
    main()
