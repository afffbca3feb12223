import { describe, expect, it, beforeAll } from 'vitest';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import { VERSION } from '../src/version.js';
import { CLI, FIXTURES, ROOT, cli, expectOneLineError, tempDir, unprivileged, withoutTimestamps } from './cli-helpers.js';

const toy = join(ROOT, 'experiments', 'toy', 'experiment.json');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Writes a variant of the toy experiment next to a copy of its fitness module. */
function variant(dir: string, name: string, edit: (e: Record<string, any>) => void): string {
  const experiment = JSON.parse(readFileSync(toy, 'utf8'));
  edit(experiment);
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(experiment, null, 2));
  return file;
}

/** A variant whose JSON text is then edited: what JSON.stringify cannot write (NaN, 1e999). */
function variantText(dir: string, name: string, edit: (e: Record<string, any>) => void, text: (json: string) => string): string {
  const file = variant(dir, name, edit);
  writeFileSync(file, text(readFileSync(file, 'utf8')));
  return file;
}

/** "line L column C" of the first `needle` in a file, counted from 1 as editors do. */
function lineAndColumn(file: string, needle: string): string {
  const before = readFileSync(file, 'utf8').split(needle)[0].split('\n');
  return `line ${before.length} column ${before[before.length - 1].length + 1}`;
}

describe('CLI', () => {
  let dir: string;
  let db: string;
  let exported: string;

  beforeAll(() => {
    dir = tempDir();
    copyFileSync(join(ROOT, 'experiments', 'toy', 'fitness.mjs'), join(dir, 'fitness.mjs'));
    writeFileSync(join(dir, 'nan.mjs'), 'export default () => NaN;\n');
    writeFileSync(join(dir, 'throws.mjs'), 'export function evaluate() { throw new Error("out of memory"); }\n');
    db = join(dir, 'runs.db');
    const r = cli(['run', variant(dir, 'good', () => {}), '--db', db, '--run-id', 'good', '--json']);
    expect(r.code, r.stderr).toBe(0);
    exported = cli(['export', 'good', '--db', db]).stdout;
  });

  it('closes the fitness in every worker that loaded it when the run ends', () => {
    // The module notes each worker thread that loads it and each that closes it.
    const log = join(dir, 'closing.log');
    writeFileSync(
      join(dir, 'closing.mjs'),
      [
        "import { appendFileSync } from 'node:fs';",
        "import { threadId } from 'node:worker_threads';",
        'appendFileSync(process.env.EVOSEARCH_TEST_LOG, `loaded ${threadId}\\n`);',
        'export default (genome) => genome.reduce((s, level, i) => s + (i + 1) * level, 0);',
        'export function close() { appendFileSync(process.env.EVOSEARCH_TEST_LOG, `closed ${threadId}\\n`); }',
      ].join('\n'),
    );
    const file = variant(dir, 'closing', (e) => (e.fitness.path = './closing.mjs'));
    const r = cli(['run', file, '--db', join(dir, 'closing.db'), '--workers', '2', '--json'], { EVOSEARCH_TEST_LOG: log });
    expect(r.code, r.stderr).toBe(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const threads = (what: string) => lines.filter((l) => l.startsWith(what)).map((l) => l.split(' ')[1]).sort();
    expect(threads('loaded').length).toBeGreaterThan(0);
    expect(threads('closed')).toEqual(threads('loaded'));
  });

  it('runs, lists, shows and exports in three formats', () => {
    const result = JSON.parse(exported);
    expect(result).toMatchObject({ runId: 'good', experiment: 'toy', strategy: 'evopress', status: 'finished', budget: { total: 500, mode: 'atMost' } });
    expect(result.cost).toBeLessThanOrEqual(500);
    expect(result.units).toHaveLength(8);
    expect(result.units.reduce((s: number, u: { cost: number }) => s + u.cost, 0)).toBe(result.cost);
    expect(result.provenance).toMatchObject({ seed: 1, generations: 200, version: VERSION });
    // The run ended by re-scoring its finalists on the 4 held-back slices and exported the best there.
    expect(result.validation).toMatchObject({ slices: 4, finalists: 4 });
    expect(Number.isFinite(result.validation.fitness)).toBe(true);
    // The toy loss Σ w_i·s_i² at 12 steps of 25% to hand out: the best uses all the budget.
    expect(result.cost).toBe(500);

    const csv = cli(['export', 'good', '--db', db, '--format', 'csv']).stdout.trim().split('\n');
    expect(csv[0]).toBe('name,level,value,cost');
    expect(csv).toHaveLength(9);
    const txt = cli(['export', 'good', '--db', db, '--format', 'evopress']).stdout.trim().split('\n');
    expect(txt).toEqual(result.units.map((u: { name: string; level: number }) => `${u.name}: ${u.level}`));

    const list = JSON.parse(cli(['list', '--db', db, '--json']).stdout);
    expect(list.map((r: { id: string }) => r.id)).toContain('good');
    const status = JSON.parse(cli(['status', 'good', '--db', db, '--json']).stdout);
    expect(status).toMatchObject({ id: 'good', status: 'finished', generation: 200, evaluations: result.provenance.evaluations });
  });

  it.each([
    ['0.1.0', false],
    ['0.2.0', true],
  ] as const)('exports a run made by %s, whose search state is older, but refuses to resume it, in one line', (version, validated) => {
    const old = join(dir, `old-${version}.db`);
    copyFileSync(db, old);
    const store = Store.open(old);
    store.db.prepare('UPDATE runs SET version = ? WHERE id = ?').run(version, 'good');
    store.close();
    const exportedOld = JSON.parse(cli(['export', 'good', '--db', old]).stdout);
    expect(exportedOld.units).toEqual(JSON.parse(exported).units);
    expect(JSON.parse(exported).validation).toBeDefined();
    expect(exportedOld.validation).toEqual(validated ? JSON.parse(exported).validation : undefined);
    expectOneLineError(cli(['resume', 'good', '--db', old]), new RegExp(`run "good" was made by evosearch ${version.replace(/\./g, '\\.')}; evosearch \\S+ cannot continue its search exactly .*export what it found`));
  });

  it('is deterministic: the same experiment and seed give the same export', () => {
    const again = join(dir, 'again.db');
    expect(cli(['run', variant(dir, 'good2', () => {}), '--db', again, '--run-id', 'good', '--json']).code).toBe(0);
    expect(withoutTimestamps(cli(['export', 'good', '--db', again]).stdout)).toBe(withoutTimestamps(exported));
  });

  it('evaluates through an external command', () => {
    const file = variant(dir, 'command', (e) => {
      e.fitness = { type: 'command', command: [process.execPath, join(FIXTURES, 'command-fitness.mjs')] };
      e.strategy.generations = 30;
    });
    const r = cli(['run', file, '--db', join(dir, 'command.db'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result.cost).toBeLessThanOrEqual(500);
  });

  const bad: [string, (dir: string) => string[], RegExp][] = [
    ['malformed JSON', (d) => { writeFileSync(join(d, 'broken.json'), '{ "name": "x",\n  "seed": 1,,\n}'); return ['run', join(d, 'broken.json')]; }, /broken\.json: malformed JSON: .* at line 2 column/],
    ['unknown strategy', (d) => ['run', variant(d, 'unknown', (e) => (e.strategy = { type: 'annealing', generations: 3 }))], /unknown\.json: strategy\.type: .*'evopress'.*\(got "annealing"\)/],
    ['a unit with no levels', (d) => ['run', variant(d, 'nolevels', (e) => { e.space.units[2].levels = []; e.space.units[2].cost = []; })], /nolevels\.json: space\.units\[2\]\.levels: expected at least one level/],
    ['levels and costs of different lengths', (d) => ['run', variant(d, 'mismatch', (e) => e.space.units[1].cost.pop())], /mismatch\.json: space\.units\[1\]\.cost: expected as many costs as levels/],
    ['a string cost in an inline space', (d) => ['run', variant(d, 'stringcost', (e) => (e.space.units[3].cost[2] = 'NaN'))], /stringcost\.json: space\.units\[3\]\.cost\[2\]: expected a finite number \(got "NaN"\)$/],
    ['an infinite cost (1e999) in an inline space', (d) => ['run', variantText(d, 'infinite', (e) => (e.space.units[3].cost[2] = 12345), (t) => t.replace('12345', '1e999'))], /infinite\.json: space\.units\[3\]\.cost\[2\]: expected a finite number \(got Infinity\)$/],
    ['a missing budget in an inline space', (d) => ['run', variant(d, 'nobudget', (e) => delete e.space.budget)], /nobudget\.json: space\.budget: /],
    ['a bad synthetic space', (d) => ['run', variant(d, 'synthetic', (e) => (e.space = { synthetic: { family: 'equalStep', units: 0, levels: 4 } }))], /synthetic\.json: space\.synthetic\.units: .*>=1/],
    ['a space that is a number', (d) => ['run', variant(d, 'numberspace', (e) => (e.space = 42))], /numberspace\.json: space: expected a search-space file, an inline space, \{"synthetic": \{\.\.\.\}\}, \{"database": "<config>"\} or \{"architecture": \{\.\.\.\}, "budget": \{\.\.\.\}\} \(got 42\)$/],
    ['an unreadable space file', (d) => ['run', variant(d, 'nospacefile', (e) => (e.space = './no-such-space.json'))], /nospacefile\.json: space: cannot read search space .*no-such-space\.json \(no such file\)$/],
    ['an unknown option', (d) => ['run', variant(d, 'option', () => {}), '--bogus'], /^evosearch: error: unknown option '--bogus' \(see evosearch run --help\)$/],
    ['an empty run id', () => ['status', ''], /^evosearch: error: .*'' is invalid.*expected a non-empty run id \(see evosearch status --help\)$/],
    ['an empty --run-id', (d) => ['run', variant(d, 'emptyid', () => {}), '--run-id', ''], /'' is invalid.*expected a non-empty run id \(see evosearch run --help\)$/],
    ['an --out under a regular file', (d) => ['run', variant(d, 'outrun', () => {}), '--out', join(d, 'outrun.json', 'best.json')], /^evosearch: error: --out: .*outrun\.json\/best\.json: cannot write it \(.*outrun\.json is a file, not a directory\)$/],
    ['an impossible budget', (d) => ['run', variant(d, 'budget', (e) => (e.space.budget.total = 100))], /budget\.json: space\.budget: no configuration can meet the budget: the cheapest configuration costs 200/],
    ['an unreachable equal budget', (d) => ['run', variant(d, 'equal', (e) => (e.space.budget = { mode: 'equal', total: 510, tolerance: 5 }))], /equal\.json: space\.budget: .*510 ± 5/],
    ['a missing fitness module', (d) => ['run', variant(d, 'missing', (e) => (e.fitness.path = './nope.mjs'))], /missing\.json: fitness\.path: fitness module not found: .*nope\.mjs/],
    ['a fitness that returns NaN', (d) => ['run', variant(d, 'nan', (e) => (e.fitness.path = './nan.mjs'))], /fitness module .*nan\.mjs returned NaN, expected a finite number \(candidate \d+/],
    ['a fitness that throws', (d) => ['run', variant(d, 'throws', (e) => (e.fitness.path = './throws.mjs'))], /fitness module .*throws\.mjs threw: out of memory/],
    ['a command that crashes', (d) => ['run', variant(d, 'crash', (e) => (e.fitness = { type: 'command', command: [process.execPath, join(FIXTURES, 'command-fitness.mjs'), '--crash-after', '3'] }))], /fitness command ".*command-fitness\.mjs --crash-after 3" exited with code 3 \(stderr: simulated crash/],
    ['a command that answers garbage', (d) => ['run', variant(d, 'garbage', (e) => (e.fitness = { type: 'command', command: [process.execPath, join(FIXTURES, 'command-fitness.mjs'), '--garbage'] }))], /answered "loss=0\.5", expected a line \{"fitness": <number>\}/],
    ['resume of an unknown run', () => ['resume', 'no-such-run'], /no run "no-such-run"/],
    ['export of an unknown run', () => ['export', 'no-such-run'], /no run "no-such-run"/],
  ];

  it.each(bad)('%s: one line, non-zero exit, db intact', (_name, args, pattern) => {
    const before = cli(['list', '--db', db, '--json']).stdout;
    expectOneLineError(cli([...args(dir), '--db', db]), pattern);
    // Runs already stored are untouched (a failed run may be added, never an old one changed).
    const after = JSON.parse(cli(['list', '--db', db, '--json']).stdout);
    const stored = JSON.parse(before) as { id: string }[];
    expect(stored.map((run) => run.id)).toContain('good'); // something to compare
    for (const run of stored) expect(after).toContainEqual(run);
    expect(withoutTimestamps(cli(['export', 'good', '--db', db]).stdout)).toBe(withoutTimestamps(exported));
  });

  it('points at the line and column of a literal NaN, which is not JSON', () => {
    const file = variantText(dir, 'nanliteral', (e) => (e.space.units[3].cost[2] = 12345), (t) => t.replace('12345', 'NaN'));
    const where = lineAndColumn(file, 'NaN');
    expect(where).toMatch(/^line [2-9]\d* column \d+$/);
    expectOneLineError(cli(['run', file, '--db', db]), new RegExp(`nanliteral\\.json: malformed JSON: Unexpected token 'N' at ${where} \\(NaN is not JSON: write a number\\)$`));
  });

  it('refuses a file that is not SQLite, and leaves it untouched', () => {
    const file = join(dir, 'notes.db');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(50));
    const hash = sha(file);
    expectOneLineError(cli(['run', toy, '--db', file]), /notes\.db: not an SQLite database/);
    expectOneLineError(cli(['list', '--db', file]), /notes\.db: not an SQLite database/);
    expect(sha(file)).toBe(hash);
  });

  it('refuses a directory as the database', () => {
    const directory = join(dir, 'a-directory.db');
    mkdirSync(directory);
    for (const command of [['run', toy], ['list'], ['status', 'good'], ['resume', 'good']]) {
      expectOneLineError(cli([...command, '--db', directory]), /a-directory\.db: a directory, expected an SQLite database file$/);
    }
  });

  it('refuses a read-only database where it must write (run, resume), leaves it untouched, and still reads it', () => {
    const shared = tempDir();
    chmodSync(shared, 0o777); // the unprivileged user writes SQLite's -shm file beside the database
    const file = join(shared, 'readonly.db');
    expect(cli(['run', variant(dir, 'short', (e) => (e.strategy.generations = 3)), '--db', file, '--run-id', 'r', '--json']).code).toBe(0);
    chmodSync(file, 0o444);
    const hash = sha(file);
    for (const command of [['run', toy], ['resume', 'r']]) {
      expectOneLineError(cli([...command, '--db', file], {}, unprivileged()), /readonly\.db: a read-only database file, and this command writes to it$/);
    }
    expect(sha(file)).toBe(hash);
    expect(JSON.parse(cli(['status', 'r', '--db', file, '--json'], {}, unprivileged()).stdout)).toMatchObject({ id: 'r', status: 'finished' });
  });

  it.each([
    ['under a regular file', (d: string) => join(d, 'good.json', 'best.json'), /--out: .*good\.json\/best\.json: cannot write it \(.*good\.json is a file, not a directory\)$/],
    ['deeper under a regular file', (d: string) => join(d, 'good.json', 'sub', 'best.csv'), /--out: .*good\.json\/sub\/best\.csv: cannot write it \(.*good\.json is a file, not a directory\)$/],
    ['where the system lets no file be made', () => '/proc/evosearch-best.json', /--out: \/proc\/evosearch-best\.json: cannot write it \(no such file or directory\)$/],
  ])('export --out %s: one line', (_name, out, pattern) => {
    expectOneLineError(cli(['export', 'good', '--db', db, '--out', out(dir)]), pattern);
  });

  it('stops quietly when the reader of its output goes away (list | head -1)', () => {
    const file = join(tempDir(), 'many.db');
    const store = Store.open(file);
    // Long ids: more output than a pipe holds, so that the CLI is still writing when head exits.
    for (let i = 0; i < 100; i++) {
      store.createRun(
        { id: `run-${i}-${'x'.repeat(1000)}`, name: 'toy', strategy: 'evopress', experiment: '{}', seed: 1, version: '0.1.0' },
        { step: 0, generation: 0, strategyState: '{}', rngState: '{}', evaluations: 0, bestGenome: null, bestFitness: null, wallMs: 0 },
      );
    }
    store.close();
    for (const [args, reader] of [['list', 'head -1'], ['list --json', 'head -c1']]) {
      const r = spawnSync('bash', ['-c', `set -o pipefail; "$0" "$1" ${args} --db "$2" | ${reader}`, process.execPath, CLI, file], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(0);
    }
  });

  it('prints a stack trace only with --debug', () => {
    const r = cli(['resume', 'nope', '--db', db, '--debug']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\n\s+at /);
  });
});
