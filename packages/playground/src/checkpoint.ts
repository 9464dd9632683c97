/**
 * The shipped SFT policy (plugins/math-task/checkpoints/sft), served as static assets and read as
 * bytes: the same files `grpo` reads from the directory.
 */
import configUrl from '../../../plugins/math-task/checkpoints/sft/config.json?url';
import weightsUrl from '../../../plugins/math-task/checkpoints/sft/model.safetensors?url';
import tokenizerUrl from '../../../plugins/math-task/checkpoints/sft/tokenizer.json?url';

const FILES: Readonly<Record<string, string>> = { 'config.json': configUrl, 'model.safetensors': weightsUrl, 'tokenizer.json': tokenizerUrl };

/** The checkpoint's files (name → bytes). */
export async function loadCheckpoint(): Promise<Record<string, Uint8Array>> {
  const entries = await Promise.all(
    Object.entries(FILES).map(async ([name, url]) => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`${name}: HTTP ${response.status} fetching ${url}`);
      return [name, new Uint8Array(await response.arrayBuffer())] as const;
    }),
  );
  return Object.fromEntries(entries);
}
