#!/usr/bin/env node
import { main } from './index.js';
import { exitWhenDone, finalExitCode, installProcessHandlers } from './process.js';

installProcessHandlers();
exitWhenDone(finalExitCode(await main(process.argv.slice(2))));
