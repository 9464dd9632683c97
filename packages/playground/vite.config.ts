import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig } from 'vite';

// The @grpo/* packages are used from their sources (`source` condition), each through its
// `browser` entry: a build that reached a Node-only module would fail here, not in the page.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: { conditions: ['browser', 'source', ...defaultClientConditions] },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The checkpoint and the wasm binaries stay files (never inlined as data: URLs).
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4000,
  },
  server: { fs: { allow: [fileURLToPath(new URL('../..', import.meta.url))] } },
});
