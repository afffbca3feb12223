import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonErrorOffset, readJson } from '../src/validation.js';
import { tempDir } from './cli-helpers.js';

/** V8's offset, where its message gives one. */
const v8Offset = (text: string): number | null => {
  try {
    JSON.parse(text);
    return -1;
  } catch (err) {
    const m = /position (\d+)/.exec((err as Error).message);
    return m ? Number(m[1]) : null;
  }
};

describe('where JSON goes wrong', () => {
  const broken = ['{"a": 1,,}', '{"a": "x', '{"a" 1}', '[1 2]', '{} x', '"\u0001"', '{"a": 01}', '{"a": 1.}', '{"a": "\\q"}', '{"a": "\\u12G4"}', '{"a": 1,}', '{"a": [1, 2', '{"a": -Infinity}', '{"a": 1e}', '{"a": -}'];

  it.each(broken)('finds the offset V8 reports in %j', (text) => {
    const offset = v8Offset(text);
    expect(offset).not.toBeNull();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it.each([
    ['{"a": [NaN]}', 7],
    ['{"a": Infinity}', 6],
    ['{"a": tru}', 9],
    ['{"a": .5}', 6],
    ['{"a": undefined}', 6],
    ['', 0],
    ['[1,]', 3],
    ['{\n  "a": [1,\n 2\n  ,, 3]}', 19],
  ])('finds the offset of %j, which V8 does not say', (text, offset) => {
    expect(v8Offset(text)).toBeNull();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('finds nothing wrong in valid JSON', () => {
    for (const text of ['{}', ' [1, -2.5e-3, "\\u00e9\\n", true, false, null, {"a": {"b": []}}] ', '"x"', '0']) expect(jsonErrorOffset(text)).toBe(-1);
  });

  it('gives the line and column of a literal NaN, and says why', () => {
    const file = join(tempDir(), 'nan.json');
    writeFileSync(file, '{\n  "cost": [1,\n    NaN]\n}\n');
    expect(() => readJson(file, 'experiment')).toThrow(`${file}: malformed JSON: Unexpected token 'N' at line 3 column 5 (NaN is not JSON: write a number)`);
  });
});
