import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../store/store.js';
import { loadExperimentOfRun, runResult, type RunResult } from '../../export/result.js';
import type { Experiment } from '../../engine/experiment.js';

export const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');

/** Runs the CLI; throws with its error line when it fails. `inherit` shows its progress. */
export function evosearch(args: string[], inherit = false): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', stdio: inherit ? 'inherit' : 'pipe' });
  if (r.status !== 0) throw new Error(`evosearch ${args.join(' ')}: ${(r.stderr ?? '').trim() || `exit ${r.status}`}`);
  return r.stdout ?? '';
}

/**
 * A finished run of `db`, reused when there, resumed when stopped, and otherwise launched with
 * `launch` (`['run', file]` or `['baseline', method, file]`), so that an interrupted benchmark goes
 * on where it stopped. Its wall time is the run's own, summed over its sessions.
 */
export function finishedRun(db: string, runId: string, launch: string[]): { experiment: Experiment; result: RunResult; seconds: number } {
  const have = existsSync(db) && spawnSync(process.execPath, [CLI, 'status', runId, '--db', db, '--json'], { encoding: 'utf8' });
  const status = have && have.status === 0 ? (JSON.parse(have.stdout) as { status: string }).status : null;
  if (status !== 'finished') {
    const verb = status === null ? [...launch, '--run-id', runId] : ['resume', runId];
    console.log(`${runId}: ${verb[0]}`);
    evosearch([...verb, '--db', db], true);
  }
  const store = Store.open(db, { mustExist: true });
  try {
    return { experiment: loadExperimentOfRun(store, runId), result: runResult(store, runId), seconds: store.getCheckpoint(runId).wallMs / 1000 };
  } finally {
    store.close();
  }
}
