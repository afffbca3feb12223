/**
 * `npm run chaos` (`npm run chaos -- --short` in CI): a fault-injection run of the reference
 * language model's SparseGPT search. A clean run gives the reference result; then the same search
 * runs through SIGKILLs of the coordinator at random moments, evaluations that crash their worker
 * and evaluations that hang past the fitness timeout; then the level database is rebuilt from a
 * changed config under the finished clean run. It passes when the final export equals the clean
 * run's, every evaluation is stored once, the old run still exports what it found (and refuses in
 * one line once its database is gone), and no step printed a stack trace. Prints a table of the
 * faults and their outcomes; exits 1 when an outcome is not the expected one.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Rng } from '../../rng/rng.js';
import { loadExperiment } from '../../cli/db.js';
import type { FaultPlan } from './faulty-fitness.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const short = process.argv.includes('--short');
const SIZE = short ? { kills: 6, crash: 1, hang: 1, generations: 16 } : { kills: 30, crash: 5, hang: 3, generations: 80 };
const TIMEOUT_S = 5;

const dir = mkdtempSync(join(tmpdir(), 'evosearch-chaos-'));
const db = join(dir, 'runs.db');
const dbConfig = join(dir, 'db.json');
const writeDbConfig = (target: number) =>
  writeFileSync(dbConfig, JSON.stringify({ model: join(ROOT, 'models', 'reference-lm'), out: 'db', compression: { type: 'sparsity', method: 'sparsegpt', target }, calibration: { windows: 32 } }));
const experiment = (name: string, fitness: object) => {
  const file = join(dir, `${name}.json`);
  const strategy = { type: 'evopress', generations: SIZE.generations, offspring: 8, selection: [{ survivors: 2, budget: 1 }, { survivors: 1, budget: 2 }] };
  writeFileSync(file, JSON.stringify({ name, seed: 1, space: { database: 'db.json' }, strategy, fitness, workers: 2 }));
  return file;
};

interface Outcome {
  fault: string;
  count: number;
  expected: string;
  seen: string;
  ok: boolean;
}
const outcomes: Outcome[] = [];
const stackTraces: string[] = [];

function cli(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (/\n\s+at /.test(r.stderr)) stackTraces.push(`${args.join(' ')}: ${r.stderr}`);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const committedStep = (runId: string): number => {
  if (!existsSync(db)) return 0;
  const conn = new Database(db, { readonly: true });
  try {
    return (conn.prepare('SELECT step FROM checkpoints WHERE run_id = ?').get(runId) as { step: number } | undefined)?.step ?? 0;
  } catch {
    return 0;
  } finally {
    conn.close();
  }
};

const exportJson = (runId: string) => JSON.parse(cli(['export', runId, '--db', db]).stdout) as { fitness: number; cost: number; units: unknown[]; provenance: { evaluations: number } };
const filesOf = (folder: string) => Object.fromEntries(readdirSync(folder).map((f) => [f, createHash('sha256').update(readFileSync(join(folder, f))).digest('hex')]));

// The clean run, with the built-in KL fitness.
writeDbConfig(0.6);
const started = Date.now();
const clean = cli(['run', experiment('clean', { type: 'kl', windows: 1, slices: 8 }), '--db', db, '--run-id', 'clean', '--json']);
if (clean.code !== 0) throw new Error(`the clean run failed: ${clean.stderr}`);
const reference = exportJson('clean');
console.log(`clean run: ${reference.provenance.evaluations} evaluations in ${((Date.now() - started) / 1000).toFixed(0)} s`);

// The same search through the faulty fitness module: the same KL, with faults on a share of evaluations.
const spec = (await loadExperiment(join(dir, 'clean.json'))).fitness;
const plan: FaultPlan = { every: 25, crash: SIZE.crash, hang: SIZE.hang, log: join(dir, 'faults.log') };
const env = { EVOSEARCH_CHAOS_SPEC: JSON.stringify(spec), EVOSEARCH_CHAOS_FAULTS: JSON.stringify(plan) };
const faulty = experiment('chaos', { type: 'module', path: join(ROOT, 'dist', 'tools', 'chaos', 'faulty-fitness.js'), slices: 8, timeout: TIMEOUT_S });

const firedFaults = (kind: string) => (existsSync(plan.log) ? readFileSync(plan.log, 'utf8').split('\n').filter((l) => l.startsWith(`${kind} `)).length : 0);
const rng = Rng.fromSeed('chaos');
let kills = 0;
/** Crashes that fired in a start the driver then killed, before the run could report them: the resume evaluates them anew. */
let crashesPreempted = 0;
const stepsAtKill: number[] = [];
const failures: string[] = [];
let finished = false;
for (let attempt = 0; !finished && attempt < 10 * (SIZE.kills + SIZE.crash) + 20; attempt++) {
  const exists = cli(['status', 'chaos', '--db', db, '--json']).code === 0;
  const args = exists ? ['resume', 'chaos', '--db', db, '--json'] : ['run', faulty, '--db', db, '--run-id', 'chaos', '--json'];
  const stepBefore = committedStep('chaos');
  const crashesBefore = firedFaults('crash');
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  let killed = false;
  if (kills < SIZE.kills) {
    // Half the kills at a random moment, half just after the run commits a step: they land in start-up, mid-step and mid-commit.
    const moment = kills % 2 === 0 ? sleep(300 + rng.next() * 1500) : (async () => {
      while (committedStep('chaos') <= stepBefore && child.exitCode === null) await sleep(25);
      await sleep(rng.next() * 400);
    })();
    await Promise.race([moment, exited]);
    // A start in which a crash has fired is left to fail by itself: the crash is what it tests.
    if (child.exitCode === null && firedFaults('crash') === crashesBefore) killed = child.kill('SIGKILL');
  }
  const code = await exited;
  if (/\n\s+at /.test(stderr)) stackTraces.push(`${args.join(' ')}: ${stderr}`);
  if (killed) {
    kills++;
    stepsAtKill.push(committedStep('chaos'));
    crashesPreempted += firedFaults('crash') - crashesBefore;
  } else if (code === 0) finished = true;
  else {
    failures.push(stderr.trim().split('\n').filter((l) => l.startsWith('evosearch: error: ')).join(' / ') || `exit ${code}: ${stderr.trim()}`);
    writeFileSync(join(dir, `failed-start-${failures.length}.log`), stderr); // kept for a failed chaos run
  }
}

const crashes = firedFaults('crash');
const hangs = firedFaults('hang');
const crashLines = failures.filter((f) => /^evosearch: error: .* crashed: called process\.exit\(3\) \(candidate \d+, genome \[[\d,…]+\]\)$/.test(f));
outcomes.push({
  fault: 'coordinator SIGKILL at a random moment',
  count: kills,
  expected: `${SIZE.kills} kills, each resumed`,
  seen: `${kills} kills at ${new Set(stepsAtKill).size} distinct steps, then finished: ${finished}`,
  ok: kills === SIZE.kills && finished,
});
outcomes.push({
  fault: 'evaluation crashes its worker (process.exit)',
  count: crashes,
  expected: `${SIZE.crash}: the run fails in one line naming the candidate; resume continues`,
  seen: `${failures.length} runs failed in one line (${crashesPreempted} more crashes preempted by a SIGKILL): ${failures.slice(0, 2).join(' | ')}${failures.length > 2 ? ' | …' : ''}`,
  ok: crashes === SIZE.crash && crashLines.length === failures.length && failures.length + crashesPreempted === crashes,
});
outcomes.push({
  fault: `evaluation hangs past the ${TIMEOUT_S} s timeout`,
  count: hangs,
  expected: `${SIZE.hang}: worker replaced, evaluation retried once, the run goes on`,
  seen: `${hangs} fired, ${failures.filter((f) => /timeout|timed out/i.test(f)).length} runs failed on them`,
  ok: hangs === SIZE.hang && !failures.some((f) => /timeout|timed out/i.test(f)),
});

const result = exportJson('chaos');
const same = JSON.stringify([result.fitness, result.cost, result.units, result.provenance.evaluations]) === JSON.stringify([reference.fitness, reference.cost, reference.units, reference.provenance.evaluations]);
outcomes.push({ fault: 'final export', count: 1, expected: 'equal to the clean run', seen: same ? 'equal' : `fitness ${result.fitness} against ${reference.fitness}`, ok: same });
const conn = new Database(db, { readonly: true });
const stored = (conn.prepare("SELECT count(*) AS n FROM evaluations WHERE run_id = 'chaos'").get() as { n: number }).n;
conn.close();
outcomes.push({ fault: 'evaluations stored', count: stored, expected: `each once: ${result.provenance.evaluations}`, seen: String(stored), ok: stored === result.provenance.evaluations });

// The database rebuilt from a changed config under the finished clean run.
const before = join(dir, 'export-before');
cli(['export', 'clean', '--db', db, '--format', 'safetensors', '--out', before]);
writeDbConfig(0.5);
const rebuild = cli(['db', 'build', dbConfig]);
const kept = /kept for the runs made with it: (\S+)/.exec(rebuild.stderr)?.[1];
const after = join(dir, 'export-after');
const again = cli(['export', 'clean', '--db', db, '--format', 'safetensors', '--out', after]);
const unchanged = again.code === 0 && JSON.stringify(filesOf(after)) === JSON.stringify(filesOf(before));
if (kept) rmSync(kept, { recursive: true });
const refused = cli(['export', 'clean', '--db', db, '--format', 'safetensors', '--out', join(dir, 'export-refused')]);
const refusal = refused.stderr.trim();
outcomes.push({
  fault: 'database rebuilt under a finished run',
  count: 1,
  expected: 'the old run exports the same files (kept copy); refuses in one line once that copy is gone',
  seen: `${unchanged ? 'same files' : 'different files'}; then ${refused.code === 1 && !refusal.includes('\n') ? `refused: ${refusal.slice(0, 90)}…` : `exit ${refused.code}`}`,
  ok: Boolean(kept) && unchanged && refused.code === 1 && !refusal.includes('\n') && refusal.includes('run "clean"'),
});
outcomes.push({ fault: 'stack traces printed', count: stackTraces.length, expected: 'none', seen: stackTraces.length ? stackTraces[0].slice(0, 200) : 'none', ok: stackTraces.length === 0 });

console.log(`\n## Chaos run${short ? ' (short)' : ''}: reference LM, SparseGPT 60%, ${SIZE.generations} generations (${dir})\n`);
console.log('| fault | count | expected | seen | ok |');
console.log('|---|---|---|---|---|');
for (const o of outcomes) console.log(`| ${o.fault} | ${o.count} | ${o.expected} | ${o.seen.replace(/\|/g, '/')} | ${o.ok ? 'yes' : 'NO'} |`);
const allOk = outcomes.every((o) => o.ok);
console.log(`\nchaos: ${outcomes.filter((o) => o.ok).length} of ${outcomes.length} outcomes as expected`);
if (allOk) rmSync(dir, { recursive: true, force: true });
process.exitCode = allOk ? 0 : 1;
