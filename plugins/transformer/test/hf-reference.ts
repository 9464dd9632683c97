/**
 * An independent float64 reference of the Hugging Face causal LMs the loader reads, written with
 * plain loops from the published modelling equations (`modeling_llama.py`, `modeling_qwen2.py`,
 * `modeling_qwen3.py`, `modeling_rope_utils.py`) and reading the Hugging Face tensors as stored
 * (`[out, in]`, `y = x·Wᵀ + b`). It shares no code with the plugin.
 *
 *   h      = x · rsqrt(mean(x²) + ε) · g                                   (RMSNorm)
 *   q,k,v  = h·Wqᵀ (+bq), h·Wkᵀ (+bk), h·Wvᵀ (+bv), split into heads of head_dim
 *   q,k    = RMSNorm per head with q_norm / k_norm                         (Qwen3)
 *   θ_i    = rope_theta^(−2i/hd), i < hd/2; llama3: rescaled by wavelength
 *   rope(x)= x·cos(pθ) + rotate_half(x)·sin(pθ), rotate_half(x) = [−x₂, x₁] (angles repeated over both halves)
 *   att    = softmax(q·kᵀ/√hd + causal mask) · v, query head j reads kv head ⌊j / (H/Hkv)⌋
 *   x     += att·Woᵀ;  x += down(silu(gate(h₂)) · up(h₂));  logits = norm(x) · (lm_head or embed)ᵀ
 */
import type { HfWeights } from './hf-fixtures.js';

type Vec = Float64Array;

/** `x · Wᵀ (+ b)` for W stored `[out, in]`. */
function linear(x: Vec, w: { shape: number[]; values: Float64Array }, bias?: { values: Float64Array }): Vec {
  const [out, inp] = w.shape as [number, number];
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? (bias.values[o] as number) : 0;
    for (let i = 0; i < inp; i++) s += (x[i] as number) * (w.values[o * inp + i] as number);
    y[o] = s;
  }
  return y;
}

function rmsNorm(x: Vec, g: Float64Array, eps: number): Vec {
  let ms = 0;
  for (const v of x) ms += v * v;
  const r = 1 / Math.sqrt(ms / x.length + eps);
  return x.map((v, i) => v * r * (g[i] as number));
}

/** Inverse frequencies, with Llama 3's rescaling (`_compute_llama3_parameters`) when configured. */
export function inverseFrequencies(config: Record<string, unknown>, hd: number): number[] {
  const base = (config.rope_theta as number | undefined) ?? 10000;
  const inv = Array.from({ length: hd / 2 }, (_, i) => 1 / base ** ((2 * i) / hd));
  const s = config.rope_scaling as Record<string, number> | null | undefined;
  if (!s) return inv;
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: old } = s as Record<string, number>;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < old! / high!) return f;
    if (wavelen > old! / low!) return f / factor!;
    const smooth = (old! / wavelen - low!) / (high! - low!);
    return (1 - smooth) * (f / factor!) + smooth * f;
  });
}

function rope(x: Vec, pos: number, inv: number[]): Vec {
  const half = x.length / 2;
  const out = new Float64Array(x.length);
  for (let i = 0; i < half; i++) {
    const c = Math.cos(pos * inv[i]!);
    const s = Math.sin(pos * inv[i]!);
    out[i] = x[i]! * c - x[i + half]! * s;
    out[i + half] = x[i + half]! * c + x[i]! * s;
  }
  return out;
}

/** Logits `[T][V]` for one sequence fed at positions 0..T−1. */
export function referenceLogits(config: Record<string, unknown>, weights: HfWeights, ids: readonly number[]): number[][] {
  const W = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`reference: no tensor ${name}`);
    return w;
  };
  const d = config.hidden_size as number;
  const H = config.num_attention_heads as number;
  const Hkv = (config.num_key_value_heads as number | undefined) ?? H;
  const hd = (config.head_dim as number | undefined) ?? d / H;
  const eps = (config.rms_norm_eps as number | undefined) ?? 1e-6;
  const arch = (config.architectures as string[])[0];
  const inv = inverseFrequencies(config, hd);
  const embed = W('model.embed_tokens.weight');
  let xs: Vec[] = ids.map((id) => embed.values.slice(id * d, (id + 1) * d));
  const head = (v: Vec, j: number) => v.subarray(j * hd, (j + 1) * hd);
  for (let l = 0; l < (config.num_hidden_layers as number); l++) {
    const p = `model.layers.${l}`;
    const bias = (n: string) => (arch === 'Qwen2ForCausalLM' ? W(`${p}.self_attn.${n}_proj.bias`) : undefined);
    const qs: Vec[][] = [];
    const ks: Vec[][] = [];
    const vs: Vec[][] = [];
    xs.forEach((x, t) => {
      const h = rmsNorm(x, W(`${p}.input_layernorm.weight`).values, eps);
      const q = linear(h, W(`${p}.self_attn.q_proj.weight`), bias('q'));
      const k = linear(h, W(`${p}.self_attn.k_proj.weight`), bias('k'));
      const v = linear(h, W(`${p}.self_attn.v_proj.weight`), bias('v'));
      const norm = (x: Vec, n: string) => (arch === 'Qwen3ForCausalLM' ? rmsNorm(x, W(`${p}.self_attn.${n}_norm.weight`).values, eps) : x);
      qs.push(Array.from({ length: H }, (_, j) => rope(norm(head(q, j), 'q'), t, inv)));
      ks.push(Array.from({ length: Hkv }, (_, j) => rope(norm(head(k, j), 'k'), t, inv)));
      vs.push(Array.from({ length: Hkv }, (_, j) => head(v, j).slice()));
    });
    xs = xs.map((x, t) => {
      const att = new Float64Array(H * hd);
      for (let j = 0; j < H; j++) {
        const kv = Math.floor(j / (H / Hkv));
        const scores = Array.from({ length: t + 1 }, (_, s) => {
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += qs[t]![j]![i]! * ks[s]![kv]![i]!;
          return dot / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        for (let s = 0; s <= t; s++) for (let i = 0; i < hd; i++) att[j * hd + i] = att[j * hd + i]! + (e[s]! / z) * vs[s]![kv]![i]!;
      }
      const o = linear(att, W(`${p}.self_attn.o_proj.weight`));
      const x1 = x.map((v, i) => v + o[i]!);
      const h2 = rmsNorm(x1, W(`${p}.post_attention_layernorm.weight`).values, eps);
      const gate = linear(h2, W(`${p}.mlp.gate_proj.weight`));
      const up = linear(h2, W(`${p}.mlp.up_proj.weight`));
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = linear(act, W(`${p}.mlp.down_proj.weight`));
      return x1.map((v, i) => v + down[i]!);
    });
  }
  const out = config.tie_word_embeddings ? embed : W('lm_head.weight');
  return xs.map((x) => Array.from(linear(rmsNorm(x, W('model.norm.weight').values, eps), out)));
}
