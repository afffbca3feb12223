import type Database from 'better-sqlite3';
import { UserError } from '../errors.js';

export const SCHEMA_VERSION = 2;

const V1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  strategy TEXT NOT NULL,
  experiment TEXT NOT NULL,           -- the resolved experiment, JSON: resume replays it
  seed INTEGER NOT NULL,
  status TEXT NOT NULL,
  message TEXT,
  version TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  finished_at TEXT,
  lock_pid INTEGER,
  lock_host TEXT,
  lock_token TEXT,
  lock_heartbeat INTEGER
);
CREATE TABLE evaluations (
  run_id TEXT NOT NULL REFERENCES runs(id),
  genome_hash TEXT NOT NULL,
  budget REAL NOT NULL,
  slice INTEGER NOT NULL,
  genome TEXT NOT NULL,
  fitness REAL NOT NULL,             -- raw, as the fitness returned it
  step INTEGER NOT NULL,             -- the step that first computed it
  PRIMARY KEY (run_id, genome_hash, budget, slice)
) WITHOUT ROWID;
CREATE TABLE checkpoints (
  run_id TEXT PRIMARY KEY REFERENCES runs(id),
  step INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  strategy_state TEXT NOT NULL,
  rng_state TEXT NOT NULL,
  evaluations INTEGER NOT NULL,
  best_genome TEXT,
  best_fitness REAL,
  wall_ms REAL NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE history (
  run_id TEXT NOT NULL REFERENCES runs(id),
  step INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  evaluations INTEGER NOT NULL,
  best_fitness REAL,
  wall_ms REAL NOT NULL,
  PRIMARY KEY (run_id, step)
) WITHOUT ROWID;
`;

/** Version 2: budget sweeps. A sweep's runs are ordinary runs, named `<sweep>@<budget>`. */
const V2 = `
CREATE TABLE IF NOT EXISTS sweeps (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  experiment TEXT NOT NULL,           -- the resolved experiment with every budget's space, JSON
  created_at TEXT NOT NULL
);
`;

/** Creates or upgrades the schema. A database of another application, or of a newer evosearch, is refused untouched. */
export function migrate(db: Database.Database, file: string): void {
  const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
  if (tables.length > 0 && !tables.includes('meta')) {
    throw new UserError(`${file}: an SQLite database, but not an evosearch one (it has tables ${tables.slice(0, 3).join(', ')})`);
  }
  db.pragma('journal_mode = WAL');
  // WAL + NORMAL survives a killed process (not a power cut) and keeps a step commit cheap.
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (tables.length === 0) {
    db.transaction(() => {
      db.exec(V1);
      db.exec(V2);
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    })();
    return;
  }
  const row = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  const version = Number(row?.value ?? 0);
  if (version > SCHEMA_VERSION) {
    throw new UserError(`${file}: written by a newer evosearch (schema ${version}, this one reads ${SCHEMA_VERSION})`);
  }
  if (version < 2) {
    db.transaction(() => {
      db.exec(V2);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION));
    })();
  }
}
