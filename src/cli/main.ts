#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from './program.js';

export { buildProgram, main } from './program.js';

// Runs only as the `evosearch` command (npm's bin link resolved): importing this module runs nothing.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invoked === fileURLToPath(import.meta.url)) {
  // `evosearch list | head -1`: the reader has gone, and the rest of the output with it; stop quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') process.stderr.write(`evosearch: error: cannot write the output (${err.message})\n`);
    process.exit(err.code === 'EPIPE' ? 0 : 1);
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
