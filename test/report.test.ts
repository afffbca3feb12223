import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { chromium } from 'playwright-core';
import { cli, tempDir } from './cli-helpers.js';

/** Debian's chromium (`.ci/run` installs it); CHROMIUM names another. */
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * `evosearch report`, opened in a real headless browser: it must load with no console error and
 * no request but its own file, draw one series per run, and not be blank.
 */
describe('the HTML report in a headless browser', () => {
  it('shows two runs side by side: one series each, one row each in the level map [slow]', { timeout: 240_000 }, async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM}: no chromium (apt install chromium, or set CHROMIUM)`).toBe(true);
    const dir = tempDir();
    const experiment = join(dir, 'synthetic.json');
    writeFileSync(
      experiment,
      JSON.stringify({
        name: 'report-synthetic',
        seed: 2,
        space: { synthetic: { family: 'unequalCost', units: 24, levels: 6, seed: 2, budgetFraction: 0.5 } },
        strategy: { type: 'evopress', generations: 40, offspring: 8, selection: [{ survivors: 2, budget: 1 }, { survivors: 1, budget: 4 }] },
        fitness: { type: 'synthetic', seed: 2, interactions: { pairs: 10, strength: 0.5 }, noise: 0.05 },
        workers: 1,
      }),
    );
    const db = join(dir, 'runs.db');
    expect(cli(['run', experiment, '--db', db, '--run-id', 'search', '--json']).code).toBe(0);
    expect(cli(['baseline', 'dp', experiment, '--db', db, '--run-id', 'dp', '--json']).code).toBe(0);
    const out = join(dir, 'report.html');
    const r = cli(['report', 'search', 'dp', '--db', db, '--out', out, '--title', 'two runs']);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/); // self-contained: no script, no address but SVG's namespaces

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (q) => requests.push(q.url()));
      await page.goto(`file://${out}`);
      expect(errors).toEqual([]);
      expect(requests).toEqual([`file://${out}`]);
      const charts = await page.evaluate(() =>
        [...document.querySelectorAll('figure svg')].map((svg) => ({ lines: svg.querySelectorAll('g.mark-line.role-mark path').length, cells: svg.querySelectorAll('g.mark-rect.role-mark path').length })),
      );
      // Best fitness against evaluations and against wall time, then the level map (24 units × 2 runs).
      expect(charts).toEqual([{ lines: 2, cells: 0 }, { lines: 2, cells: 0 }, { lines: 0, cells: 48 }]);
      expect(await page.locator('h1').textContent()).toBe('two runs');
      const png = PNG.sync.read(await page.screenshot({ fullPage: true }));
      const colours = new Set<number>();
      let inked = 0;
      for (let i = 0; i < png.data.length; i += 4) {
        colours.add((png.data[i] << 16) | (png.data[i + 1] << 8) | png.data[i + 2]);
        if (png.data[i] < 200 || png.data[i + 1] < 200 || png.data[i + 2] < 200) inked++;
      }
      expect(colours.size).toBeGreaterThan(20);
      expect(inked / (png.width * png.height)).toBeGreaterThan(0.02);
    } finally {
      await browser.close();
    }
  });

  it('refuses an output that is not .html, and an unknown run, in one line', () => {
    const dir = tempDir();
    expect(cli(['report', 'a', '--db', join(dir, 'none.db'), '--out', join(dir, 'r.txt')]).stderr).toMatch(/^evosearch: error: --out: .*r\.txt: expected an \.html file\n$/);
    const experiment = join(dir, 'e.json');
    writeFileSync(experiment, JSON.stringify({ name: 'e', space: { synthetic: { family: 'equalStep', units: 4, levels: 3, budgetFraction: 0.5 } }, strategy: { type: 'uniform' }, fitness: { type: 'synthetic' } }));
    const db = join(dir, 'runs.db');
    expect(cli(['run', experiment, '--db', db, '--run-id', 'u', '--json']).code).toBe(0);
    const r = cli(['report', 'u', 'nope', '--db', db, '--out', join(dir, 'r.html')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^evosearch: error: .*runs\.db: no run "nope" \(see `evosearch list`\)\n$/);
  });
});
