import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './cli-helpers.js';

/**
 * The rooms of ../shared/ARCHITECTURE.md and what each may import: arrows only point down. Where
 * the code took another shape than the plan's table, the reason stands beside the room.
 * `kernel` is the files at the root of src/ (errors, files, statistics, validation, version), open to every room.
 */
const MAY_IMPORT: Record<string, string[]> = {
  kernel: [],
  rng: [],
  data: [],
  runtime: [],
  // Repair and random sampling draw from the seeded Rng.
  space: ['rng'],
  // A model directory's tokenizer.json loads into data's character tokenizer.
  models: ['runtime', 'data'],
  // Calibration reads text and pictures from data; a database's levels are a space (budget, genomes).
  compress: ['models', 'runtime', 'data', 'space'],
  // Genomes and fidelities; the synthetic problem draws its losses from the Rng.
  fitness: ['models', 'compress', 'data', 'runtime', 'space', 'rng'],
  strategies: ['space', 'rng'],
  store: ['space'],
  pool: ['fitness', 'space'],
  // An experiment names its fitness spec.
  engine: ['strategies', 'store', 'pool', 'space', 'rng', 'fitness'],
  // config assembles the schemas that live beside their code into the experiment the engine runs
  // (a sweep's uniform configuration at each budget is repaired by seeded steps: rng; the remote
  // settings' schema lives beside the remote evaluator: pool).
  config: ['space', 'strategies', 'fitness', 'compress', 'models', 'engine', 'rng', 'pool'],
  // Weight export stitches levels into the model; the held-out comparison runs the run's fitness.
  export: ['store', 'space', 'engine', 'fitness', 'compress', 'models'],
  cli: ['config', 'engine', 'export', 'store', 'pool', 'fitness', 'compress', 'models', 'runtime', 'space', 'strategies', 'rng', 'data'],
  // Benchmarks and training scripts are programs: they may use anything, and nothing uses them.
  tools: ['cli', 'config', 'engine', 'export', 'store', 'pool', 'fitness', 'compress', 'models', 'runtime', 'space', 'strategies', 'rng', 'data'],
};

const SRC = join(ROOT, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const roomOf = (file: string) => {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? 'kernel' : parts[0];
};

/** Every relative import of a file (static, re-export and dynamic), resolved to the file it names. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.[^']+)'/g)].map((m) => m[1]);
  return specifiers.map((s) => resolve(dirname(file), s.replace(/\.js$/, '.ts')));
}

const edges = sourceFiles(SRC).flatMap((file) => importsOf(file).map((target) => ({ file: relative(ROOT, file), from: roomOf(file), to: roomOf(target) })));

describe('the house plan', () => {
  it('knows every room under src/', () => {
    const rooms = new Set(sourceFiles(SRC).map(roomOf));
    expect([...rooms].sort()).toEqual(Object.keys(MAY_IMPORT).sort());
    expect(edges.length).toBeGreaterThan(100); // the import parser sees the imports
  });

  it('has no room importing a room above it', () => {
    const wrong = edges.filter((e) => e.from !== e.to && e.to !== 'kernel' && !MAY_IMPORT[e.from].includes(e.to)).map((e) => `${e.file}: ${e.from} → ${e.to}`);
    expect(wrong).toEqual([]);
  });

  it('has no cycle between rooms', () => {
    const graph = new Map<string, Set<string>>();
    for (const e of edges) if (e.from !== e.to) graph.set(e.from, (graph.get(e.from) ?? new Set()).add(e.to));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (room: string, path: string[]) => {
      if (state.get(room) === 'open') return void cycles.push([...path.slice(path.indexOf(room)), room].join(' → '));
      if (state.get(room) === 'done') return;
      state.set(room, 'open');
      for (const next of graph.get(room) ?? []) visit(next, [...path, room]);
      state.set(room, 'done');
    };
    for (const room of graph.keys()) visit(room, []);
    expect(cycles).toEqual([]);
  });

  it('keeps the allowed imports themselves free of cycles, so that "above" means something', () => {
    const depth = new Map<string, number>();
    const level = (room: string, seen: string[] = []): number => {
      if (seen.includes(room)) throw new Error(`cycle in MAY_IMPORT: ${[...seen, room].join(' → ')}`);
      if (!depth.has(room)) depth.set(room, 1 + Math.max(0, ...MAY_IMPORT[room].map((r) => level(r, [...seen, room]))));
      return depth.get(room)!;
    };
    for (const room of Object.keys(MAY_IMPORT)) expect(level(room)).toBeGreaterThan(0);
  });

  it('imports the CLI entry point without running the CLI', async () => {
    const before = process.exitCode;
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => written.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      const { buildProgram } = await import('../src/cli/main.js');
      await new Promise((done) => setImmediate(done)); // a started CLI would have failed on vitest's argv by now
      expect(buildProgram().name()).toBe('evosearch');
    } finally {
      process.stderr.write = write;
    }
    expect(written).toEqual([]);
    expect(process.exitCode).toBe(before);
  });
});
