/**
 * Renders the radar preset the way W&B's Vega2 panel would: settings injected, rows bound to the
 * `wandb` dataset in the shape `tableWithLeafColNames` gives (`id`, `name`, `_defaultColorIndex`,
 * then the table's columns), headless to SVG with the `vega` package.
 */
import { parse, View, type Spec } from 'vega';
import { radarTable } from '../../src/wandb/results.js';
import type { EvalSummary } from '../../src/eval/types.js';
import { injectSettings, RADAR_VEGA_SPEC } from '../../src/wandb/dashboard/radar-preset.js';

export interface RadarRow {
  id: string;
  name: string;
  _defaultColorIndex: number;
  category: string;
  score: number;
}

/** One run's rows of mtbench_radar_table (built by the reporter's own radarTable), as the panel's query returns them. */
export function radarRows(run: {
  id: string;
  name: string;
  colorIndex: number;
  categories: Record<string, number>;
}): RadarRow[] {
  // radarTable reads only the category scores.
  const t = radarTable({ scores: { categories: run.categories } } as EvalSummary);
  return t.data.map(([category, score]) => ({
    id: run.id,
    name: run.name,
    _defaultColorIndex: run.colorIndex,
    category: String(category),
    score: Number(score),
  }));
}

const CATEGORIES = ['writing', 'roleplay', 'reasoning', 'math', 'coding', 'extraction', 'stem', 'humanities'];

/** Three checkpoints of one fine-tuning run with made-up category scores (README picture, tests). */
export function sampleRadarRows(): RadarRow[] {
  const shapes = [
    [6.1, 5.8, 3.9, 2.7, 3.4, 5.2, 6.3, 7.0],
    [7.2, 6.9, 4.6, 3.5, 4.1, 6.0, 7.4, 8.1],
    [7.9, 7.6, 5.3, 4.4, 4.8, 6.8, 8.0, 8.6],
  ];
  return shapes.flatMap((scores, i) =>
    radarRows({
      id: `mtb-${i}`,
      name: `llama-ft:v${i} (epoch ${i + 1})`,
      colorIndex: i,
      categories: Object.fromEntries(CATEGORIES.map((c, j) => [c, scores[j]!])),
    }),
  );
}

export async function renderRadarSvg(rows: RadarRow[], title = 'MT-Bench radar'): Promise<string> {
  // The panel's fieldSettings and stringSettings, exactly as spec-*.ts write them.
  const spec = injectSettings(
    RADAR_VEGA_SPEC,
    { category: 'category', score: 'score', series: 'name' },
    { title },
  ) as unknown as Spec;
  const view = new View(parse(spec), { renderer: 'none' }).background('white');
  view.insert('wandb', rows);
  await view.runAsync();
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
