/** Writes docs/radar.svg, the README's picture of the radar preset: `npx tsx scripts/render-radar.ts`. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderRadarSvg, sampleRadarRows } from '../test/helpers/radar.js';

const svg = await renderRadarSvg(sampleRadarRows(), 'MT-Bench radar (sample data)');
const out = join(import.meta.dirname, '../docs/radar.svg');
writeFileSync(out, svg + '\n');
process.stdout.write(`${JSON.stringify({ wrote: out, bytes: svg.length })}\n`);
