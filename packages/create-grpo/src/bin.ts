#!/usr/bin/env node
import { createMain } from './main.js';

process.exitCode = await createMain(process.argv.slice(2), {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
});
