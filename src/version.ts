import { readFileSync } from 'node:fs';

/** The package version, read from package.json next to dist/ (or src/ in tests). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The first version whose strategy states this version resumes: 0.2.0 changed them (the noise
 * estimate, the model-led mode, validation), 0.2.1 what the noise estimate's spread means (the
 * offspring's variance) and when replicates happen (with one slice too), 0.4.0 evopress's proposals
 * (a trust radius in the state) and the noise estimate (a median of the latest replicates). Older
 * runs still export what they found.
 */
export const SEARCH_STATE_SINCE = '0.4.0';

/** The first version whose strategy states carry a validated winner. */
export const VALIDATED_STATE_SINCE = '0.2.0';

/** Whether `version` is `since` or later (major.minor.patch; a pre-release counts as its release). */
export function atLeast(version: string, since: string): boolean {
  const parts = (v: string) => v.split(/[.-]/).slice(0, 3).map((x) => Number.parseInt(x, 10) || 0);
  const [a, b] = [parts(version), parts(since)];
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** Whether a run made by `version` stores a search state this version can resume exactly. */
export const resumableSearchState = (version: string): boolean => atLeast(version, SEARCH_STATE_SINCE);
