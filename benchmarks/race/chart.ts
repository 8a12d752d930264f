/**
 * The race chart: sentences/s per engine, grouped by batch size, as SVG
 * rendered headless by Vega-Lite → Vega (no browser, no canvas). The y axis
 * is logarithmic: the engines differ by orders of magnitude.
 */
import {CellResult} from './measure';

/** vega and vega-lite ship as ES modules only; a real dynamic import (not compiled to require) loads them. */
const importModule = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

export async function renderChartSvg(cells: CellResult[], title: string): Promise<string> {
  const [vega, vegaLite] = await Promise.all([importModule('vega'), importModule('vega-lite')]);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 300,
    data: {values: cells.map(c => ({engine: c.engine, batch: `batch ${c.batchSize}`, order: c.batchSize,
                                    sentencesPerSecond: Number(c.sentencesPerSecond.toPrecision(4))}))},
    mark: {type: 'bar', tooltip: true},
    encoding: {
      x: {field: 'batch', type: 'nominal', sort: {field: 'order'}, title: null, axis: {labelAngle: 0}},
      xOffset: {field: 'engine', type: 'nominal'},
      y: {field: 'sentencesPerSecond', type: 'quantitative', scale: {type: 'log'}, title: 'sentences / s (log scale)'},
      color: {field: 'engine', type: 'nominal', legend: {orient: 'bottom', columns: 2, title: null, labelLimit: 320}},
    },
  };
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), {renderer: 'none'});
  const svg: string = await view.toSVG();
  view.finalize();
  return svg;
}
