import { defineConfig } from 'tsup';
import { baseConfig, browserConfig } from '../../tsup.base.js';

export default defineConfig([{ ...baseConfig, entry: { index: 'src/index.ts', presets: 'src/presets.ts' } }, browserConfig({ browser: 'src/index.ts' })]);
