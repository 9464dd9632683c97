/**
 * LoRA adapters in PEFT's layout, so that Python PEFT (`PeftModel.from_pretrained`) loads what
 * GRPO.ts trains and GRPO.ts loads PEFT adapters:
 *
 * - `adapter_config.json`: `peft_type: "LORA"`, `task_type: "CAUSAL_LM"`, `r`, `lora_alpha`,
 *   `lora_dropout`, `target_modules` (the module names, e.g. `["q_proj", "v_proj"]`), `bias: "none"`,
 *   `use_rslora`, `fan_in_fan_out: false`;
 * - `adapter_model.safetensors`: `base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight`
 *   `[r, in]` and `….lora_B.weight` `[out, r]` for every adapted projection (`mlp.gate_proj`, … for
 *   the MLP), as `torch.nn.Linear` stores them.
 *
 * Reading refuses every setting that would change the computation and is not implemented here
 * (DoRA, biases, per-layer ranks, `modules_to_save`, …), naming the file and the key.
 */
import { join, readJsonFile } from '#node-io';
import { CheckpointError } from '@grpo/core';
import type { TransformerConfig } from '../config.js';
import { adapterSlots, LORA_MODULES, type AdapterValues, type LoraConfig, type LoraModule } from '../lora.js';
import { SafetensorsReader } from './safetensors.js';
import { encodeFloatSafetensors, type FloatDtype, type FloatTensor } from './write.js';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

const PEFT_MODULE_PATH: Record<LoraModule, string> = {
  q_proj: 'self_attn.q_proj',
  k_proj: 'self_attn.k_proj',
  v_proj: 'self_attn.v_proj',
  o_proj: 'self_attn.o_proj',
  gate_proj: 'mlp.gate_proj',
  up_proj: 'mlp.up_proj',
  down_proj: 'mlp.down_proj',
};

/** PEFT's key of an adapter matrix (`A` or `B`) of a projection in a layer. */
export function peftKey(layer: number, module: LoraModule, which: 'A' | 'B'): string {
  return `base_model.model.model.layers.${layer}.${PEFT_MODULE_PATH[module]}.lora_${which}.weight`;
}

/** Transposes a row-major `[r, c]` matrix. */
function transposed(values: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = values[i * c + j] as number;
  return out;
}

/** `adapter_config.json` and `adapter_model.safetensors` for adapters of `cfg` (file name → content). */
export function peftFiles(
  cfg: TransformerConfig,
  lora: LoraConfig,
  values: AdapterValues,
  options: { dtype?: FloatDtype; baseModel?: string } = {},
): Record<string, Uint8Array | string> {
  const tensors: Record<string, FloatTensor> = {};
  for (const s of adapterSlots(cfg, lora)) {
    const v = values.get(s.name);
    if (!v) throw new Error(`missing adapter for ${s.name}`);
    tensors[peftKey(s.layer, s.module, 'A')] = { shape: [lora.r, s.inDim], values: transposed(v.a, s.inDim, lora.r) };
    tensors[peftKey(s.layer, s.module, 'B')] = { shape: [s.outDim, lora.r], values: transposed(v.b, lora.r, s.outDim) };
  }
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: options.baseModel ?? null,
    r: lora.r,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    target_modules: lora.targetModules,
    bias: 'none',
    fan_in_fan_out: false,
    use_rslora: lora.rslora ?? false,
    use_dora: false,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  return {
    [ADAPTER_CONFIG_FILE]: `${JSON.stringify(config, null, 2)}\n`,
    [ADAPTER_WEIGHTS_FILE]: encodeFloatSafetensors(tensors, options.dtype ?? 'F32', { format: 'pt' }),
  };
}

/** Whether `adapter_config.json` is there. */
export async function hasPeftAdapter(dir: string): Promise<boolean> {
  return readJsonFile(join(dir, ADAPTER_CONFIG_FILE)).then(
    () => true,
    () => false,
  );
}

/** Reads `adapter_config.json` (validated; every unsupported setting listed at once). */
export async function readPeftConfig(dir: string): Promise<LoraConfig> {
  const file = join(dir, ADAPTER_CONFIG_FILE);
  const c = await readJsonFile<Record<string, unknown>>(file);
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new CheckpointError(`${file}: expected a JSON object`);
  const problems: string[] = [];
  const empty = (v: unknown) => v === undefined || v === null || (typeof v === 'object' && Object.keys(v).length === 0);
  if (c.peft_type !== 'LORA') problems.push(`peft_type ${JSON.stringify(c.peft_type)}: only "LORA" adapters are supported`);
  if (c.task_type !== undefined && c.task_type !== null && c.task_type !== 'CAUSAL_LM')
    problems.push(`task_type ${JSON.stringify(c.task_type)}: only "CAUSAL_LM" is supported`);
  const r = c.r;
  if (!Number.isInteger(r) || (r as number) < 1) problems.push(`r must be an integer ≥ 1, got ${JSON.stringify(r)}`);
  const alpha = c.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !(alpha > 0)) problems.push(`lora_alpha must be a number > 0, got ${JSON.stringify(alpha)}`);
  const dropout = c.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) problems.push(`lora_dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const known = Object.keys(LORA_MODULES);
  let targets: LoraModule[] = [];
  const tm = c.target_modules;
  if (tm === 'all-linear') targets = known as LoraModule[];
  else if (Array.isArray(tm) && tm.length > 0 && tm.every((m) => typeof m === 'string')) {
    const unknown = (tm as string[]).filter((m) => !known.includes(m));
    if (unknown.length) problems.push(`target_modules ${JSON.stringify(unknown)} are not supported (supported: ${known.join(', ')})`);
    targets = (known as LoraModule[]).filter((m) => (tm as string[]).includes(m));
  } else problems.push(`target_modules must be a list of module names or "all-linear", got ${JSON.stringify(tm)}`);
  if ((c.bias ?? 'none') !== 'none') problems.push(`bias ${JSON.stringify(c.bias)}: only "none" is supported`);
  if (c.fan_in_fan_out === true) problems.push('fan_in_fan_out true is not supported (Conv1D layers)');
  if (c.use_dora === true) problems.push('use_dora true is not supported (DoRA)');
  for (const key of ['rank_pattern', 'alpha_pattern', 'modules_to_save', 'layers_to_transform', 'layer_replication'] as const)
    if (!empty(c[key])) problems.push(`${key} ${JSON.stringify(c[key])} is not supported`);
  if (c.use_rslora !== undefined && typeof c.use_rslora !== 'boolean') problems.push(`use_rslora must be true or false, got ${JSON.stringify(c.use_rslora)}`);
  if (problems.length) throw new CheckpointError(`${file}: cannot load this adapter:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { r: r as number, alpha: alpha as number, dropout: dropout as number, targetModules: targets, ...(c.use_rslora === true ? { rslora: true } : {}) };
}

/**
 * Reads `adapter_model.safetensors` for `cfg` (F32, F16 or BF16): every adapter of `lora` must be
 * there with PEFT's shapes, and nothing else.
 */
export async function readPeftWeights(dir: string, cfg: TransformerConfig, lora: LoraConfig): Promise<AdapterValues> {
  const file = join(dir, ADAPTER_WEIGHTS_FILE);
  const reader = await SafetensorsReader.open(file);
  try {
    const out: AdapterValues = new Map();
    const expected = new Set<string>();
    for (const s of adapterSlots(cfg, lora)) {
      const read = async (which: 'A' | 'B', shape: [number, number]) => {
        const key = peftKey(s.layer, s.module, which);
        expected.add(key);
        const info = reader.tensors.get(key);
        if (!info) throw new CheckpointError(`${file}: missing tensor '${key}' (shape [${shape.join(', ')}])`);
        if (info.shape.join() !== shape.join())
          throw new CheckpointError(`${file}: tensor '${key}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}]`);
        const values = await reader.readFloat32(key, { transpose: true });
        const bad = values.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) throw new CheckpointError(`${file}: tensor '${key}' holds a non-finite value at index ${bad}`);
        return values;
      };
      out.set(s.name, { a: await read('A', [lora.r, s.inDim]), b: await read('B', [s.outDim, lora.r]) });
    }
    const extra = [...reader.tensors.keys()].filter((k) => !expected.has(k));
    if (extra.length)
      throw new CheckpointError(
        `${file}: unexpected tensors for this adapter_config.json and model: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`,
      );
    return out;
  } finally {
    await reader.close();
  }
}

/** Reads a PEFT adapter directory for a model of `cfg`. */
export async function readPeftAdapter(dir: string, cfg: TransformerConfig): Promise<{ config: LoraConfig; values: AdapterValues }> {
  const config = await readPeftConfig(dir);
  return { config, values: await readPeftWeights(dir, cfg, config) };
}
