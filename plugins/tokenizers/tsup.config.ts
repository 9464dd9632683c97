import { defineConfig } from 'tsup';
import { baseConfig, browserConfig } from '../../tsup.base.js';

export default defineConfig([{ ...baseConfig, entry: ['src/index.ts'] }, browserConfig({ browser: 'src/index.ts' })]);
