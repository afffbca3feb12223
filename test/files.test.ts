import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectories } from '../src/files.js';
import { tempDir } from './cli-helpers.js';

describe('makeDirectories', () => {
  it('makes every missing level, and is a no-op where the folder exists', () => {
    const dir = join(tempDir(), 'a', 'b', 'c');
    makeDirectories(dir);
    expect(existsSync(dir)).toBe(true);
    makeDirectories(dir);
  });

  it('says which file stands where a folder must be', () => {
    const file = join(tempDir(), 'notes.txt');
    writeFileSync(file, 'x');
    expect(() => makeDirectories(join(file, 'a', 'b'))).toThrow(`ENOTDIR: ${file} is a file, not a directory`);
  });

  it('fails, rather than retrying for ever, where the system lets no folder be made (/proc)', () => {
    expect(() => makeDirectories('/proc/evosearch-test/a')).toThrow(/ENOENT/);
  });
});
