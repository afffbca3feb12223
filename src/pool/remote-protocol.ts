import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Fidelity, Genome } from '../space/space.js';
import type { FileIdentity } from '../fitness/identity.js';
import type { WorkerSetup } from './protocol.js';

/** The BullMQ queue every coordinator sends to and every worker takes from, unless `--queue` names another. */
export const DEFAULT_QUEUE = 'evosearch';

/** How long, by default, a dead worker's job waits before another takes it: the job lock's duration. */
export const DEFAULT_LOCK_SECONDS = 30;

/** A job taken back from a dead worker this many times fails when its next worker dies too. */
export const MAX_STALLS = 2;

/** An experiment's `remote` settings, stored with its runs: how long a job whose worker died waits before another worker takes it. */
export const remoteSettingsSchema = z.strictObject({ lockSeconds: z.number().min(1).default(DEFAULT_LOCK_SECONDS) });

/**
 * What a worker needs to evaluate a run's jobs, stored once in Redis under {@link setupKey} and
 * named by its digest in every job. `files` are the coordinator's content hashes of what the
 * fitness reads: a worker whose files differ refuses the jobs. `root` is the coordinator's working
 * directory: a worker started with `--data-root` finds the files under that directory in its own.
 */
export interface RemoteSetup extends WorkerSetup {
  run: string;
  files: FileIdentity[];
  root: string;
  /** How long a job's lock lasts without renewal: past it, a job whose worker died goes to another. */
  lockMs: number;
}

/** A job: genomes of one run at one fidelity, in order; its result is their values, in order. */
export interface EvaluationJob {
  setup: string;
  fidelity: Fidelity;
  genomes: Genome[];
}

/** Why a job failed, as the worker sends it back: `index` (into the job's genomes) -1 when no candidate is to blame. */
export interface JobFailure {
  index: number;
  message: string;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** A setup's name: equal setups (run, fitness, space, seed, files) evaluate equal values. */
export const setupDigest = (setup: RemoteSetup): string => digest(JSON.stringify([setup.run, setup.fitness, setup.space, setup.seed, setup.files])).slice(0, 32);

export const setupKey = (queue: string, digest: string) => `evosearch:${queue}:setup:${digest}`;

/**
 * A job's id is its content: (run, via the setup digest), the fidelity and the hashes of its
 * genomes. Delivered twice, or sent again by a resumed coordinator, it is the same job, and its
 * result the same values.
 */
export const jobId = (setup: string, fidelity: Fidelity, hashes: string[]): string => `${setup.slice(0, 16)}-${fidelity.budget}-${fidelity.slice}-${digest(hashes.join(',')).slice(0, 32)}`;

export const encodeFailure = (failure: JobFailure): string => JSON.stringify(failure);

/** Whether a waiter's error is the job's own failure (a worker's, or BullMQ's for a job whose workers died), not a lost connection. */
export const isJobFailure = (reason: string): boolean => decodeFailure(reason).index >= 0 || reason.startsWith('{') || /stalled more than allowable limit/.test(reason);

export function decodeFailure(reason: string): JobFailure {
  try {
    const f = JSON.parse(reason) as Partial<JobFailure>;
    if (typeof f.index === 'number' && typeof f.message === 'string') return { index: f.index, message: f.message };
  } catch {
    // BullMQ's own reasons ("job stalled more than allowable limit") are plain text.
  }
  return { index: -1, message: reason };
}

/**
 * The setup with every path under the coordinator's `root` moved under `dataRoot`: strings equal
 * to root or starting with root + '/' anywhere in the fitness, the space and the file list.
 */
export function relocate(setup: RemoteSetup, dataRoot: string | undefined): RemoteSetup {
  if (!dataRoot || dataRoot === setup.root) return setup;
  const root = setup.root.replace(/\/+$/, '');
  const to = dataRoot.replace(/\/+$/, '');
  const move = (value: unknown): unknown => {
    if (typeof value === 'string') return value === root || value.startsWith(`${root}/`) ? to + value.slice(root.length) : value;
    if (Array.isArray(value)) return value.map(move);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, move(v)]));
    return value;
  };
  return move(setup) as RemoteSetup;
}
