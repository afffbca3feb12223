import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/**
 * Charts of the HTML report as static SVG, drawn in Node by Vega-Lite (compiled to Vega, rendered
 * headless with renderer 'none'): the page carries no script and loads nothing, and each chart is
 * a short declarative spec rather than drawing code of our own.
 */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const WIDTH = 640;

async function render(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** One line per series: steps for progress (a value holds until the next is measured), points joined in x order for a front. */
function seriesChart(options: { title: string; x: string; y: string; series: Series[]; logY?: boolean }, style: 'steps' | 'front'): Promise<string> {
  const values = options.series.flatMap((s) => s.points.map((p) => ({ series: s.name, x: p.x, y: p.y })));
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title,
    description: `${options.series.length} series`,
    width: WIDTH,
    height: 260,
    data: { values },
    mark: style === 'steps' ? { type: 'line', interpolate: 'step-after', point: false } : { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: options.x, ...(style === 'front' && { scale: { zero: false } }) },
      y: { field: 'y', type: 'quantitative', title: options.y, scale: options.logY ? { type: 'log' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, sort: options.series.map((s) => s.name), legend: { labelLimit: 400 } },
      ...(style === 'front' && { order: { field: 'x', type: 'quantitative' } }),
    },
  });
}

/** Progress: one step line per series. */
export const lineChart = (options: { title: string; x: string; y: string; series: Series[]; logY?: boolean }) => seriesChart(options, 'steps');

/** A size–fitness front: points joined in x order, one series each. */
export const frontChart = (options: { title: string; x: string; y: string; series: Series[] }) => seriesChart(options, 'front');

/** Each row's value per unit, as a grid of coloured cells: rows are runs, columns the units in model order. */
export function heatmap(options: { title: string; units: string[]; rows: { name: string; values: number[] }[]; value: string }): Promise<string> {
  const values = options.rows.flatMap((r) => r.values.map((v, u) => ({ row: r.name, unit: options.units[u], value: v })));
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: options.title,
    description: `${options.rows.length} rows`,
    width: Math.max(WIDTH, 14 * options.units.length),
    height: { step: 22 },
    data: { values },
    mark: 'rect',
    encoding: {
      x: { field: 'unit', type: 'ordinal', sort: options.units, title: null, axis: { labelAngle: -60, labelFontSize: 9 } },
      y: { field: 'row', type: 'nominal', sort: options.rows.map((r) => r.name), title: null, axis: { labelLimit: 400 } },
      color: { field: 'value', type: 'quantitative', title: options.value, scale: { scheme: 'viridis' } },
    },
  });
}
