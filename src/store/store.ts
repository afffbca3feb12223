import Database from 'better-sqlite3';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { UserError, fsReason } from '../errors.js';
import { makeDirectories } from '../files.js';
import { migrate } from './schema.js';

export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

export interface RunRow {
  id: string;
  name: string;
  strategy: string;
  experiment: string;
  seed: number;
  status: RunStatus;
  message: string | null;
  version: string;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface Checkpoint {
  step: number;
  generation: number;
  strategyState: string;
  rngState: string;
  evaluations: number;
  bestGenome: number[] | null;
  bestFitness: number | null;
  wallMs: number;
}

export interface CachedEvaluation {
  fitness: number;
  step: number;
}

export interface EvaluationRow {
  hash: string;
  genome: number[];
  fitness: number;
}

const now = () => new Date().toISOString();

function isWritable(file: string): boolean {
  try {
    accessSync(file, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * SQLite's errors that mean the file or its folder cannot be used (read-only, unopenable, disk
 * full) as one line naming the database; null for any other error.
 */
export function storageError(err: unknown, file: string): UserError | null {
  if (!(err instanceof Database.SqliteError)) return null;
  const { code, message } = err;
  if (code === 'SQLITE_NOTADB') return new UserError(`${file}: not an SQLite database (${message})`);
  if (code === 'SQLITE_READONLY_DIRECTORY') return new UserError(`${file}: its directory is read-only, and SQLite writes its journal files beside the database`);
  if (code.startsWith('SQLITE_READONLY')) return new UserError(`${file}: a read-only database file, and this command writes to it`);
  if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR') || code === 'SQLITE_PERM') return new UserError(`${file}: cannot use the database (${message})`);
  return null;
}

/**
 * The SQLite store (WAL). Only the coordinator writes: workers never open it. Each engine step is
 * one transaction (checkpoint + history); evaluations land in their own small transactions as
 * they finish, so that a crash mid-step loses no computed fitness.
 */
export class Store {
  readonly db: Database.Database;
  /** Identifies this coordinator in run locks. */
  private readonly lockToken = randomUUID();

  private constructor(db: Database.Database, readonly file: string) {
    this.db = db;
  }

  /**
   * Opens (or, unless `mustExist`, creates) a store. A file that is not an evosearch db is refused
   * untouched; so is a read-only one when the command will write (`writable`), before it starts.
   */
  static open(file: string, options: { mustExist?: boolean; writable?: boolean } = {}): Store {
    const exists = existsSync(file);
    if (options.mustExist && !exists) throw new UserError(`${file}: no such database`);
    if (exists && statSync(file).isDirectory()) throw new UserError(`${file}: a directory, expected an SQLite database file`);
    // Root writes to read-only files; anyone else is refused here rather than at the first commit.
    if (exists && options.writable && !isWritable(file)) throw new UserError(`${file}: a read-only database file, and this command writes to it`);
    if (!exists) {
      try {
        makeDirectories(dirname(file));
      } catch (err) {
        throw new UserError(`${file}: cannot create the database there (${fsReason(err)})`);
      }
    }
    let db: Database.Database;
    try {
      db = new Database(file, { fileMustExist: options.mustExist ?? false });
      // Read before any write: a file that is not SQLite fails here, before a pragma could touch it.
      db.prepare('SELECT count(*) FROM sqlite_master').get();
    } catch (err) {
      throw storageError(err, file) ?? new UserError(`${file}: not an SQLite database (${(err as Error).message})`);
    }
    try {
      migrate(db, file);
    } catch (err) {
      db.close();
      throw storageError(err, file) ?? err;
    }
    return new Store(db, file);
  }

  close(): void {
    this.db.close();
  }

  /** Statements are prepared once: lookups, inserts and commits run for every step. */
  private readonly statements = new Map<string, Database.Statement>();

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) this.statements.set(text, (statement = this.db.prepare(text)));
    return statement;
  }

  /** Records a budget sweep before its first run; its runs are created one by one as the sweep reaches them. */
  createSweep(sweep: { id: string; name: string; experiment: string }): void {
    this.db.transaction(() => {
      if (this.sql('SELECT 1 FROM sweeps WHERE id = ?').get(sweep.id) || this.sql('SELECT 1 FROM runs WHERE id = ?').get(sweep.id)) {
        throw new UserError(`${this.file}: "${sweep.id}" already exists; continue it with \`evosearch resume ${sweep.id}\``);
      }
      this.sql('INSERT INTO sweeps (id, name, experiment, created_at) VALUES (@id, @name, @experiment, @t)').run({ ...sweep, t: now() });
    })();
  }

  getSweep(id: string): { id: string; name: string; experiment: string; createdAt: string } | undefined {
    return this.sql('SELECT id, name, experiment, created_at AS createdAt FROM sweeps WHERE id = ?').get(id) as never;
  }

  createRun(run: { id: string; name: string; strategy: string; experiment: string; seed: number; version: string }, checkpoint: Checkpoint): void {
    const t = now();
    this.db.transaction(() => {
      if (this.sql('SELECT 1 FROM runs WHERE id = ?').get(run.id)) {
        throw new UserError(`${this.file}: run "${run.id}" already exists; resume it with \`evosearch resume ${run.id}\``);
      }
      this
        .sql(
          `INSERT INTO runs (id, name, strategy, experiment, seed, status, version, created_at, updated_at)
           VALUES (@id, @name, @strategy, @experiment, @seed, 'running', @version, @t, @t)`,
        )
        .run({ ...run, t });
      // The creator holds the lock from the first moment: no other coordinator can slip in before it starts.
      this.writeLock(run.id);
      this.writeCheckpoint(run.id, checkpoint);
    })();
  }

  /** The run, with the status a reader should see: "running" only while its coordinator lives. */
  getRun(id: string): RunRow | undefined {
    const row = this
      .sql(
        `SELECT id, name, strategy, experiment, seed, status, message, version,
                created_at AS createdAt, updated_at AS updatedAt, finished_at AS finishedAt, ${LOCK_COLUMNS} FROM runs WHERE id = ?`,
      )
      .get(id) as (RunRow & Lock) | undefined;
    return row && withObservedStatus(row);
  }

  requireRun(id: string): RunRow {
    const run = this.getRun(id);
    if (!run) throw new UserError(`${this.file}: no run "${id}" (see \`evosearch list\`)`);
    return run;
  }

  /** The run's progress, step by step: evaluations so far, the best fitness then (raw, as the fitness returned it), wall time. */
  history(runId: string): { step: number; evaluations: number; bestFitness: number | null; wallMs: number }[] {
    return this.sql('SELECT step, evaluations, best_fitness AS bestFitness, wall_ms AS wallMs FROM history WHERE run_id = ? ORDER BY step').all(runId) as never;
  }

  listRuns(): (RunRow & { evaluations: number; bestFitness: number | null; generation: number })[] {
    return this
      .sql(
        `SELECT r.id, r.name, r.strategy, r.seed, r.status, r.message, r.version,
                r.created_at AS createdAt, r.updated_at AS updatedAt, r.finished_at AS finishedAt,
                c.evaluations, c.best_fitness AS bestFitness, c.generation, ${LOCK_COLUMNS}
         FROM runs r JOIN checkpoints c ON c.run_id = r.id ORDER BY r.created_at, r.id`,
      )
      .all()
      .map((row) => withObservedStatus(row as RunRow & Lock & { evaluations: number; bestFitness: number | null; generation: number })) as never;
  }

  /**
   * Takes the run's lock for this coordinator. A lock held by a live process on this host, or
   * refreshed in the last minute from another host, refuses; a lock left by a killed process is
   * taken over.
   */
  acquireLock(runId: string): void {
    this.db.transaction(() => {
      const row = this.sql(`SELECT lock_token AS token, ${LOCK_COLUMNS} FROM runs WHERE id = ?`).get(runId) as (Lock & { token: string | null }) | undefined;
      if (!row) throw new UserError(`${this.file}: no run "${runId}"`);
      if (row.token && row.token !== this.lockToken && lockAlive(row)) {
        throw new UserError(`run "${runId}" is already being run by process ${row.lockPid} on ${row.lockHost}; only one coordinator may run it`);
      }
      this.writeLock(runId);
    }).immediate();
  }

  private writeLock(runId: string): void {
    this.sql(`UPDATE runs SET lock_pid = ?, lock_host = ?, lock_token = ?, lock_heartbeat = ?, status = 'running', message = NULL WHERE id = ?`).run(
      process.pid,
      hostname(),
      this.lockToken,
      Date.now(),
      runId,
    );
  }

  releaseLock(runId: string, status: RunStatus, message: string | null = null): void {
    this
      .sql(
        `UPDATE runs SET lock_pid = NULL, lock_host = NULL, lock_token = NULL, status = ?, message = ?, updated_at = ?,
                finished_at = CASE WHEN ? = 'finished' THEN ? ELSE finished_at END
         WHERE id = ? AND lock_token = ?`,
      )
      .run(status, message, now(), status, now(), runId, this.lockToken);
  }

  getCheckpoint(runId: string): Checkpoint {
    const row = this.sql('SELECT * FROM checkpoints WHERE run_id = ?').get(runId) as Record<string, unknown> | undefined;
    if (!row) throw new UserError(`${this.file}: run "${runId}" has no checkpoint`);
    return {
      step: row.step as number,
      generation: row.generation as number,
      strategyState: row.strategy_state as string,
      rngState: row.rng_state as string,
      evaluations: row.evaluations as number,
      bestGenome: row.best_genome ? (JSON.parse(row.best_genome as string) as number[]) : null,
      bestFitness: row.best_fitness as number | null,
      wallMs: row.wall_ms as number,
    };
  }

  private writeCheckpoint(runId: string, c: Checkpoint): void {
    this
      .sql(
        `INSERT INTO checkpoints (run_id, step, generation, strategy_state, rng_state, evaluations, best_genome, best_fitness, wall_ms, created_at)
         VALUES (@runId, @step, @generation, @strategyState, @rngState, @evaluations, @bestGenome, @bestFitness, @wallMs, @t)
         ON CONFLICT (run_id) DO UPDATE SET step = excluded.step, generation = excluded.generation,
           strategy_state = excluded.strategy_state, rng_state = excluded.rng_state, evaluations = excluded.evaluations,
           best_genome = excluded.best_genome, best_fitness = excluded.best_fitness, wall_ms = excluded.wall_ms,
           created_at = excluded.created_at`,
      )
      .run({ runId, ...c, bestGenome: c.bestGenome ? JSON.stringify(c.bestGenome) : null, t: now() });
  }

  /** One engine step, atomically: the new checkpoint, its history row and the lock heartbeat. */
  commitStep(runId: string, c: Checkpoint): void {
    this.db.transaction(() => {
      this.writeCheckpoint(runId, c);
      this
        .sql('INSERT OR REPLACE INTO history (run_id, step, generation, evaluations, best_fitness, wall_ms) VALUES (?, ?, ?, ?, ?, ?)')
        .run(runId, c.step, c.generation, c.evaluations, c.bestFitness, c.wallMs);
      this.sql('UPDATE runs SET updated_at = ?, lock_heartbeat = ? WHERE id = ? AND lock_token = ?').run(now(), Date.now(), runId, this.lockToken);
    })();
  }

  cachedEvaluation(runId: string, hash: string, budget: number, slice: number): CachedEvaluation | undefined {
    return this.sql('SELECT fitness, step FROM evaluations WHERE run_id = ? AND genome_hash = ? AND budget = ? AND slice = ?').get(runId, hash, budget, slice) as
      | CachedEvaluation
      | undefined;
  }

  insertEvaluations(runId: string, step: number, budget: number, slice: number, rows: EvaluationRow[]): void {
    const insert = this.sql(
      'INSERT OR IGNORE INTO evaluations (run_id, genome_hash, budget, slice, genome, fitness, step) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const r of rows) insert.run(runId, r.hash, budget, slice, r.genome.join(','), r.fitness, step);
    })();
  }
}

const LOCK_COLUMNS = 'lock_pid AS lockPid, lock_host AS lockHost, lock_heartbeat AS lockHeartbeat';

/** Who holds a run's lock: a process on a host, and when it last committed a step. */
interface Lock {
  lockPid: number | null;
  lockHost: string | null;
  lockHeartbeat: number | null;
}

/** A lock is held while its process lives on this host, or while another host refreshed it in the last minute. */
function lockAlive(lock: Lock): boolean {
  if (lock.lockPid === null) return false;
  return lock.lockHost === hostname() ? processAlive(lock.lockPid) : Date.now() - (lock.lockHeartbeat ?? 0) < 60_000;
}

/** A run marked running whose coordinator is gone (killed, crashed) is interrupted: resume continues it. */
function withObservedStatus<T extends RunRow & Lock>(row: T): Omit<T, keyof Lock> {
  const { lockPid, lockHost, lockHeartbeat, ...run } = row;
  return row.status === 'running' && !lockAlive({ lockPid, lockHost, lockHeartbeat }) ? { ...run, status: 'interrupted' } : run;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

