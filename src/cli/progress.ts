import cliProgress from 'cli-progress';
import type { Progress } from '../engine/engine.js';

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface Reporter {
  update(p: Progress): void;
  stop(): void;
}

const fmt = (x: number | null) => (x === null ? '-' : Number(x.toPrecision(6)).toString());

/** A progress bar on a TTY, a plain line every few seconds otherwise, nothing for --json. */
export function createReporter(mode: ProgressMode): Reporter {
  const started = Date.now();
  const rate = (p: Progress) => Math.round(p.computed / Math.max(1e-3, (Date.now() - started) / 1000));
  if (mode === 'none') return { update() {}, stop() {} };
  if (mode === 'lines') {
    let last = 0;
    let latest: Progress | null = null;
    const print = (p: Progress) =>
      process.stderr.write(`generation ${p.generation}/${p.generations}  evaluations ${p.evaluations}  best ${fmt(p.bestFitness)}  ${rate(p)} evals/s\n`);
    return {
      update(p) {
        latest = p;
        if (Date.now() - last >= 2000) {
          last = Date.now();
          print(p);
        }
      },
      stop() {
        if (latest) print(latest);
      },
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: 'generation {bar} {value}/{total} | evals {evals} | best {best} | {rate} evals/s | {duration_formatted}',
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let started_ = false;
  return {
    update(p) {
      const payload = { evals: p.evaluations, best: fmt(p.bestFitness), rate: rate(p) };
      if (!started_) {
        bar.start(p.generations, p.generation, payload);
        started_ = true;
      } else bar.update(p.generation, payload);
    },
    stop() {
      if (started_) bar.stop();
    },
  };
}
