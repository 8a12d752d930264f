/**
 * The generation chart: ms per decode step against position, one line per engine, one panel per model,
 * as SVG rendered headless by Vega-Lite → Vega (no browser, no canvas), as benchmarks/race/chart.ts does.
 * The y axis is logarithmic: the recomputing baseline is orders of magnitude above the cached engines.
 */

export interface ChartPoint {
  model: string;
  engine: string;
  position: number;
  ms: number;
}

/** vega and vega-lite ship as ES modules only; a real dynamic import (not compiled to require) loads them. */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

export async function renderGenerationChartSvg(points: ChartPoint[], title: string): Promise<string> {
  const [vega, vegaLite] = await Promise.all([importModule('vega'), importModule('vega-lite')]);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: {values: points.map(p => ({...p, ms: Number(p.ms.toPrecision(4))}))},
    facet: {column: {field: 'model', type: 'nominal', title: null}},
    spec: {
      width: 340,
      height: 260,
      mark: {type: 'line', point: {size: 12}, tooltip: true},
      encoding: {
        x: {field: 'position', type: 'quantitative', title: 'position (tokens in context)'},
        y: {field: 'ms', type: 'quantitative', scale: {type: 'log'}, title: 'ms per decode step, batch 1 (log scale)'},
        color: {field: 'engine', type: 'nominal', legend: {orient: 'bottom', columns: 2, title: null, labelLimit: 360}},
      },
    },
    resolve: {scale: {y: 'shared'}},
  };
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), {renderer: 'none'});
  const svg: string = await view.toSVG();
  view.finalize();
  return svg;
}
