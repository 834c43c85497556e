/**
 * The dashboard as the pipeline and the operators see it: what to sync for an evaluation or a
 * project (from the profiles), the online updater (W&B) and the offline one (spec files).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Config } from '../../config.js';
import type { DashboardOutcome, DashboardUpdater, RunContext } from '../../ports.js';
import type { Profile } from '../../profile.js';
import { BENCHMARKS } from './keys.js';
import { DashboardSync, type DashboardView, type SyncRequest, type SyncResult } from './sync.js';

export { DashboardSync, type DashboardStore, type SyncRequest, type SyncResult } from './sync.js';

/** What one evaluation contributes: its profile's project, benchmark, judge, settings, and itself as "latest". */
export function evaluationRequest(ctx: RunContext, outcome: { score: number | null; runUrl?: string }): SyncRequest {
  const p = ctx.profile;
  const a = ctx.artifact;
  return {
    entity: p.wandb.entity,
    project: p.wandb.project,
    views: p.dashboard.views,
    benchmarks: [p.benchmark],
    judgeModels: [p.judge.model],
    title: p.dashboard.reportTitle,
    description: p.dashboard.reportDescription,
    latest: {
      checkpoint: `${a.collection}:${a.version}`,
      trainingRun: a.sourceRun?.name,
      epoch: a.checkpoint?.epoch,
      benchmark: p.benchmark,
      score: outcome.score,
      judgeModel: p.judge.model,
      runUrl: outcome.runUrl,
    },
  };
}

/** A rebuild by hand: every profile logging to the project contributes its benchmark, judge and views. */
export function projectRequest(config: Config, target: { entity?: string; project?: string }): SyncRequest {
  const all = [...config.profiles.values()];
  const fallback = config.profiles.get(config.defaultProfile) ?? all[0]!;
  const project = target.project ?? fallback.wandb.project;
  const matching = all.filter(
    (p) => p.wandb.project === project && (!target.entity || !p.wandb.entity || p.wandb.entity === target.entity),
  );
  const ps: Profile[] = matching.length ? matching : [fallback];
  const views = [...new Set(ps.flatMap((p) => p.dashboard.views))] as DashboardView[];
  return {
    entity: target.entity ?? ps.find((p) => p.wandb.entity)?.wandb.entity,
    project,
    views: (['workspace', 'report'] as const).filter((v) => views.includes(v)),
    benchmarks: [...new Set(ps.map((p) => p.benchmark))],
    judgeModels: [...new Set(ps.map((p) => p.judge.model))],
    title: ps.find((p) => p.dashboard.reportTitle)?.dashboard.reportTitle,
    description: ps.find((p) => p.dashboard.reportDescription)?.dashboard.reportDescription,
    force: true,
  };
}

/** Why a rebuild by hand does nothing: the project's profiles turn every view off. */
export const dashboardOffMessage = (project: string) =>
  `the dashboard is off for project ${project} (WANDB_DASHBOARD / profile dashboard.views)`;

/** A sync's result as `evalhook dashboard` prints it and POST /dashboards/sync replies (absent URLs as null). */
export function syncReply(r: SyncResult) {
  return {
    entity: r.entity,
    project: r.project,
    workspaceUrl: r.workspaceUrl ?? null,
    reportUrl: r.reportUrl ?? null,
    workspaces: r.workspaces,
    warnings: r.warnings,
  };
}

export function createDashboardUpdater(sync: DashboardSync): DashboardUpdater {
  return {
    async afterEvaluation(ctx, outcome, signal): Promise<DashboardOutcome> {
      const req = evaluationRequest(ctx, outcome);
      if (!req.views.length) return { warnings: [] };
      try {
        const r = await sync.sync({ ...req, signal });
        return { workspaceUrl: r.workspaceUrl, reportUrl: r.reportUrl, warnings: r.warnings };
      } catch (err) {
        return { warnings: [`dashboard not updated: ${err instanceof Error ? err.message : String(err)}`] };
      }
    },
  };
}

/** Offline: the specs sync would write, as files under `<dir>/dashboard/<project>/` (same names as `evalhook dashboard --dry-run` keys). */
export async function writeSpecFiles(dir: string, entity: string, req: SyncRequest): Promise<string> {
  const out = resolve(dir, 'dashboard', req.project.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_'));
  await mkdir(out, { recursive: true });
  const specs = DashboardSync.specs(entity, req);
  for (const [b, spec] of Object.entries(specs.workspaces))
    await writeFile(
      join(out, `workspace-${BENCHMARKS[b as keyof typeof BENCHMARKS].slug}.json`),
      JSON.stringify(spec, null, 2) + '\n',
    );
  await writeFile(join(out, 'report.json'), JSON.stringify(specs.report, null, 2) + '\n');
  return out;
}

export function createOfflineDashboard(dir: string): DashboardUpdater {
  return {
    async afterEvaluation(ctx, outcome): Promise<DashboardOutcome> {
      const req = evaluationRequest(ctx, outcome);
      if (!req.views.length) return { warnings: [] };
      try {
        return { localDir: await writeSpecFiles(dir, req.entity ?? '<entity>', req), warnings: [] };
      } catch (err) {
        return { warnings: [`dashboard specs not written: ${err instanceof Error ? err.message : String(err)}`] };
      }
    },
  };
}
