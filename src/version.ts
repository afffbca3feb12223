import { readFileSync } from 'node:fs';

/** The package version, read from package.json next to dist/ (or src/ in tests). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The first version whose strategy states this version resumes: 0.2.0 changed them (the noise
 * estimate, the model-led mode, validation), 0.2.1 what the noise estimate's spread means (the
 * offspring's variance) and when replicates happen (with one slice too). Older runs still export
 * what they found.
 */
export const SEARCH_STATE_SINCE = '0.2.1';

/** Whether a run made by `version` stores a search state this version can resume exactly. */
export function resumableSearchState(version: string): boolean {
  const parts = (v: string) => v.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  const [a, b] = [parts(version), parts(SEARCH_STATE_SINCE)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}
