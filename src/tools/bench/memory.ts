/**
 * Worker memory during a search on a model larger than the reference LM: the random 6 × 512 GPT-2
 * (19M parameters) and its SparseGPT 60% database, EvoPress with 2 workers, for two level-cache
 * caps. The run is the CLI's own (`evosearch run`); its resident memory is sampled from /proc
 * while it runs. Prints resident memory over the run, its peak, and the run's wall time.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDatabase } from '../../compress/build.js';
import { loadDatabaseConfig } from '../../compress/config.js';
import { GPT2_6X512, writeRandomGpt2 } from '../models/random-gpt2.js';

const MiB = 2 ** 20;

/** Resident memory of a process, from /proc (0 once it has ended). */
function residentBytes(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

async function sampledRun(root: string, experiment: string, dir: string): Promise<{ seconds: number; samples: { at: number; rss: number }[] }> {
  const started = performance.now();
  const child = spawn(process.execPath, [join(root, 'dist', 'cli', 'main.js'), 'run', experiment, '--db', join(dir, 'runs.db'), '--json'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const samples: { at: number; rss: number }[] = [];
  const timer = setInterval(() => samples.push({ at: (performance.now() - started) / 1000, rss: residentBytes(child.pid!) }), 250);
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  clearInterval(timer);
  if (code !== 0) throw new Error(`evosearch run ${experiment} exited with ${code}`);
  return { seconds: (performance.now() - started) / 1000, samples: samples.filter((s) => s.rss > 0) };
}

export async function memoryBench(root: string): Promise<void> {
  console.log('\n## Worker memory: random 6 × 512 GPT-2 (19M), SparseGPT 60%, EvoPress 30 generations of 16, 2 workers');
  const model = writeRandomGpt2(join(root, 'results', 'models', 'random-gpt2-6x512'), join(root, 'models', 'reference-lm'), GPT2_6X512);
  const dir = mkdtempSync(join(tmpdir(), 'evosearch-memory-'));
  try {
    const database = join(dir, 'db.json');
    writeFileSync(database, JSON.stringify({ model, out: join(root, 'results', 'db', 'random-gpt2-6x512-sparsegpt-60'), compression: { type: 'sparsity', method: 'sparsegpt', target: 0.6 } }));
    // Built (or found) before the runs, so that neither run's time or memory holds the build.
    const { manifest } = await buildDatabase(loadDatabaseConfig(database));
    const stored = manifest.units.reduce((sum, u) => sum + u.levels.filter((l) => l.tensors === 'file').length * u.parameters * 4, 0);
    for (const cap of [256, 1024]) {
      const experiment = join(dir, `memory-${cap}.json`);
      writeFileSync(
        experiment,
        JSON.stringify({
          name: `memory-${cap}`,
          seed: 1,
          workers: 2,
          space: { database },
          strategy: { type: 'evopress', generations: 30, offspring: 16 },
          fitness: { type: 'kl', windows: 2, slices: 16, levelCacheMiB: cap },
        }),
      );
      const { seconds, samples } = await sampledRun(root, experiment, dir);
      const tenths = Array.from({ length: 10 }, (_, i) => samples[Math.min(samples.length - 1, Math.floor(((i + 1) * samples.length) / 10))]);
      console.log(`levelCacheMiB ${cap} (the database holds ${(stored / MiB).toFixed(0)} MiB of levels): run ${seconds.toFixed(1)} s, peak resident ${(Math.max(...samples.map((s) => s.rss)) / MiB).toFixed(0)} MiB`);
      console.log(`  resident MiB at each tenth of the run: ${tenths.map((s) => (s.rss / MiB).toFixed(0)).join(', ')}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
