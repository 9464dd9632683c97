/**
 * `grpo export`: a policy checkpoint (or a Hugging Face model directory) as a Hugging Face model
 * directory (`--format hf`: LoRA merged in, the weights under `transformers`' names in F32, F16 or
 * BF16, config.json, generation_config.json, the tokenizer files), or a LoRA policy's adapters
 * alone in PEFT's layout (`--format peft`).
 *
 * config.json: a Hugging Face source's own, with `torch_dtype` set to the written dtype; for a
 * GRPO.ts checkpoint one written from its architecture — Qwen3ForCausalLM with q/k norms,
 * Qwen2ForCausalLM with q/k/v biases, LlamaForCausalLM otherwise (GRPO.ts's own char models too).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CheckpointError, resolvePolicyCheckpoint, type CliCommand, type CliIo } from '@grpo/core';
import { readJsonFile, writeDirAtomic } from '@grpo/core/checkpoint';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { TransformerConfig } from './config.js';
import { HF_CONFIG_FILE, HF_GENERATION_CONFIG_FILE, isHfModelDir, loadHfPolicy } from './hf/load.js';
import { peftFiles } from './hf/peft.js';
import { hfWeightNames } from './hf/weights.js';
import { encodeFloatSafetensors, type FloatDtype, type FloatTensor } from './hf/write.js';
import { adapterValues } from './lora.js';
import { loadPolicy, type TransformerPolicy } from './policy.js';

export type ExportFormat = 'hf' | 'peft';

export interface ExportOptions {
  /** A policy checkpoint, a training checkpoint, a run directory (its latest checkpoint) or a Hugging Face model directory. */
  checkpoint: string;
  format: ExportFormat;
  /** The dtype of the written weights (default F32). */
  dtype?: FloatDtype;
  /** The directory to write (atomically; replaced when it exists). */
  out: string;
}

const TORCH_DTYPE: Record<FloatDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Files of a source directory that are not the tokenizer's (weights, configs, adapters, GRPO.ts's own). */
const NOT_TOKENIZER = /^(config\.json|generation_config\.json|.*\.safetensors|model\.safetensors\.index\.json|adapter_config\.json|lora-reference\.json)$/;

/** Writes the export; returns the directory and the names of the files written. */
export async function exportModel(options: ExportOptions): Promise<{ dir: string; files: string[] }> {
  const dtype = options.dtype ?? 'F32';
  const source = await resolvePolicyCheckpoint(path.resolve(options.checkpoint), { option: 'grpo export', given: options.checkpoint });
  const hfSource = await isHfModelDir(source);
  const policy = hfSource ? await loadHfPolicy(source) : await loadPolicy(source);
  try {
    let files: Record<string, Uint8Array | string>;
    if (options.format === 'peft') {
      const lora = policy.lora;
      if (!lora || !policy.adapters)
        throw new CheckpointError(`${source} holds no LoRA adapters (a policy trained with policy.lora has them); use --format hf to export the whole model`);
      files = peftFiles(policy.config, lora, await adapterValues(policy.adapters), { dtype });
    } else files = await hfFiles(policy, source, hfSource, dtype);
    const out = path.resolve(options.out);
    await writeDirAtomic(out, files);
    return { dir: out, files: Object.keys(files).sort() };
  } finally {
    policy.dispose();
  }
}

async function hfFiles(policy: TransformerPolicy, source: string, hfSource: boolean, dtype: FloatDtype): Promise<Record<string, Uint8Array | string>> {
  const cfg = policy.config;
  const merged = policy.mergedWeights();
  const tensors: Record<string, FloatTensor> = {};
  try {
    for (const w of hfWeightNames(cfg)) {
      const t = merged.get(w.name)!;
      const values = Float32Array.from(await t.data());
      if (!w.transpose) tensors[w.hf] = { shape: w.shape, values };
      else {
        const [r, c] = w.shape as [number, number];
        const out = new Float32Array(values.length);
        for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = values[i * c + j] as number;
        tensors[w.hf] = { shape: [c, r], values: out };
      }
    }
  } finally {
    for (const t of merged.values()) t.dispose();
  }
  const files: Record<string, Uint8Array | string> = { 'model.safetensors': encodeFloatSafetensors(tensors, dtype, { format: 'pt' }) };
  const { bos, eos, pad } = specialIds(policy);
  let config: Record<string, unknown>;
  if (hfSource) {
    config = { ...(await readJsonFile<Record<string, unknown>>(path.join(source, HF_CONFIG_FILE))), torch_dtype: TORCH_DTYPE[dtype] };
    const generation = await readFile(path.join(source, HF_GENERATION_CONFIG_FILE)).catch(() => undefined);
    if (generation) files[HF_GENERATION_CONFIG_FILE] = generation;
  } else {
    config = hfConfig(cfg, { bos, eos, pad }, TORCH_DTYPE[dtype]);
    files[HF_GENERATION_CONFIG_FILE] = `${JSON.stringify({ bos_token_id: bos, eos_token_id: eos.length === 1 ? eos[0] : eos, pad_token_id: pad }, null, 2)}\n`;
  }
  files[HF_CONFIG_FILE] = `${JSON.stringify(config, null, 2)}\n`;
  for (const entry of await readdir(source, { withFileTypes: true }))
    if (entry.isFile() && !NOT_TOKENIZER.test(entry.name) && !entry.name.startsWith('.')) files[entry.name] = await readFile(path.join(source, entry.name));
  return files;
}

function specialIds(policy: TransformerPolicy): { bos: number; eos: number[]; pad: number } {
  const { promptPrefix, eosIds } = policy.conventions;
  const bos = promptPrefix?.length === 1 ? (promptPrefix[0] as number) : policy.tokenizer.bosId;
  return { bos, eos: eosIds?.length ? [...eosIds] : [policy.tokenizer.eosId], pad: policy.tokenizer.padId };
}

/** A Hugging Face config.json for `cfg` (see the module doc for the architecture chosen). */
export function hfConfig(cfg: TransformerConfig, ids: { bos: number; eos: number[]; pad: number }, torchDtype = 'float32'): Record<string, unknown> {
  const architecture = cfg.qkNorm ? 'Qwen3ForCausalLM' : cfg.qkvBias ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM';
  if (cfg.qkNorm && cfg.qkvBias)
    throw new CheckpointError('this architecture has both q/k/v biases and q/k norms, which no supported Hugging Face architecture has');
  const llama = architecture === 'LlamaForCausalLM';
  const s = cfg.ropeScaling;
  return {
    architectures: [architecture],
    model_type: llama ? 'llama' : architecture === 'Qwen2ForCausalLM' ? 'qwen2' : 'qwen3',
    vocab_size: cfg.vocabSize,
    hidden_size: cfg.dModel,
    intermediate_size: cfg.ffnDim,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads,
    head_dim: cfg.headDim ?? cfg.dModel / cfg.nHeads,
    hidden_act: 'silu',
    max_position_embeddings: cfg.maxSeqLen,
    rms_norm_eps: cfg.normEps,
    rope_theta: cfg.ropeBase,
    rope_scaling: s
      ? {
          rope_type: 'llama3',
          factor: s.factor,
          low_freq_factor: s.lowFreqFactor,
          high_freq_factor: s.highFreqFactor,
          original_max_position_embeddings: s.originalMaxPositionEmbeddings,
        }
      : null,
    tie_word_embeddings: cfg.tiedEmbeddings,
    ...(llama ? { attention_bias: false, mlp_bias: false } : { use_sliding_window: false, sliding_window: null }),
    attention_dropout: 0,
    bos_token_id: ids.bos,
    eos_token_id: ids.eos.length === 1 ? ids.eos[0] : ids.eos,
    pad_token_id: ids.pad,
    torch_dtype: torchDtype,
  };
}

const DTYPES: Record<string, FloatDtype> = { f32: 'F32', float32: 'F32', f16: 'F16', float16: 'F16', bf16: 'BF16', bfloat16: 'BF16' };

/** `grpo export <checkpoint> --format hf|peft [--dtype f32|f16|bf16] -o <dir>`. */
export const exportCommand: CliCommand = { name: 'export', create: (io) => createExportCommand(io) };

function createExportCommand(io: CliIo): Command {
  return new Command('export')
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .description('write a policy as a Hugging Face model directory (LoRA merged) or its LoRA adapters in PEFT layout')
    .argument('<checkpoint>', 'a policy checkpoint, a training checkpoint, a run directory (its latest) or a Hugging Face model directory')
    .addOption(
      new Option('--format <format>', "'hf' (a Hugging Face model directory) or 'peft' (the LoRA adapters only)").choices(['hf', 'peft']).makeOptionMandatory(),
    )
    .option('--dtype <dtype>', 'dtype of the written weights: f32, f16 or bf16 (default f32)', (v: string) => {
      const d = DTYPES[v.toLowerCase()];
      if (!d) throw new InvalidArgumentError('expected f32, f16 or bf16');
      return d;
    })
    .requiredOption('-o, --out <dir>', 'the directory to write (replaced atomically)')
    .option('-c, --config <file>', "the config whose plugins' commands the CLI loads (export itself reads no config)")
    .option('--cwd <dir>', 'directory the checkpoint and --out paths are relative to (default: current directory)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ grpo export runs/lora --format hf --dtype bf16 -o exported/model\n  $ grpo export runs/lora --format peft -o exported/adapter',
    )
    .action(async (checkpoint: string, flags: { format: ExportFormat; dtype?: FloatDtype; out: string; cwd?: string }) => {
      const at = (p: string) => path.resolve(flags.cwd ?? process.cwd(), p);
      const { dir, files } = await exportModel({ checkpoint: at(checkpoint), format: flags.format, dtype: flags.dtype, out: at(flags.out) });
      io.out(`exported (${flags.format}, ${(flags.dtype ?? 'F32').toLowerCase()}): ${dir}\n  ${files.join('\n  ')}\n`);
    });
}
