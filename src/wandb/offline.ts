/**
 * Without WANDB_API_KEY: the same results written under `<dir>/<evaluationId>/` (summary.json with
 * the W&B summary keys, both tables as JSON, FastChat's answer/judgment files), and `localDir` on
 * the handle so the admin API can say where. Every write replaces the file, so retries are idempotent.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fastChatFiles } from '../eval/index.js';
import type { RunContext, RunHandle, RunReporter } from '../ports.js';
import { runIdFor } from './names.js';
import { outputTable, radarTable, summaryMetrics } from './results.js';
import { runConfig } from './run.js';

export interface OfflineReporterOptions {
  dir: string;
}

export function createOfflineReporter(opts: OfflineReporterOptions): RunReporter {
  const root = resolve(opts.dir);
  const dirOf = (ctx: RunContext) => {
    const d = resolve(root, safeSegment(ctx.evaluationId));
    if (!d.startsWith(root + sep)) throw new Error(`evaluation id ${ctx.evaluationId} is not a safe directory name`);
    return d;
  };
  return {
    async open(ctx): Promise<RunHandle> {
      const dir = dirOf(ctx);
      await mkdir(dir, { recursive: true });
      await put(dir, 'config.json', json(runConfig(ctx)));
      await put(dir, 'status.json', json({ state: 'running', updatedAt: new Date().toISOString() }));
      return {
        runId: runIdFor(ctx.evaluationId),
        localDir: dir,
        async logProgress(metrics) {
          // Progress is visible in the admin API already; keep only the latest here.
          await put(dir, 'progress.json', json({ ...metrics, _timestamp: Date.now() / 1000 })).catch(() => undefined);
        },
        async finish(result, outcome) {
          await put(dir, 'mtbench_output_table.json', json(outputTable(result)));
          await put(dir, 'mtbench_radar_table.json', json(radarTable(result.summary)));
          for (const f of fastChatFiles(result)) {
            // fastChatFiles' summary.json is the engine's summary; ours (W&B keys) is wandb-summary.json.
            await put(dir, f.path, f.content);
          }
          await put(dir, 'wandb-summary.json', json(summaryMetrics(result.summary, ctx.artifact.checkpoint)));
          // A failure decided before finishing (too many invalid judgments) is the status too: one exit.
          const status = outcome?.failure ? { state: 'failed', reason: outcome.failure } : { state: 'finished' };
          await put(dir, 'status.json', json({ ...status, updatedAt: new Date().toISOString() }));
        },
        async fail(reason) {
          await put(dir, 'status.json', json({ state: 'failed', reason, updatedAt: new Date().toISOString() }));
        },
      };
    },
    async writeBack(ctx, outcome) {
      return [
        `offline: no registry write-back for ${ctx.artifact.fullName} (score ${outcome.score ?? 'none'}); results in ${dirOf(ctx)}`,
      ];
    },
  };
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

function safeSegment(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_') || '_';
}

/** Write via a temp file and rename, so a reader never sees half a file. */
async function put(dir: string, rel: string, content: string): Promise<void> {
  const file = join(dir, rel);
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}
