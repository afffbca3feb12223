#!/usr/bin/env node
// The `evosearch` command. The program lives in program.ts, so that importing it runs nothing.
import { main } from './program.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
