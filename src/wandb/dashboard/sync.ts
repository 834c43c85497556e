/**
 * Creates and keeps current one project's dashboard: the radar preset (once per entity), a saved
 * workspace view per benchmark and one report. Idempotent (deterministic specs, a hash of the last
 * write skips unchanged ones, ids kept in the store), one update per project at a time (the store's
 * lock), never a blind second create (re-read by name first), never over a person's edits.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { WandbError, type WandbClient } from '../client.js';
import {
  CREATE_CUSTOM_CHART,
  CUSTOM_CHART_BY_ID,
  FIND_VIEWS,
  UPDATE_CUSTOM_CHART,
  UPSERT_VIEW,
  VIEW_BY_ID,
  VIEWER,
} from '../documents.js';
import { BENCHMARKS, radarPresetId, type BenchmarkName } from './keys.js';
import type { JsonObject } from './panels.js';
import { RADAR_PRESET, RADAR_VEGA_SPEC } from './radar-preset.js';
import {
  ChartMutationResponse,
  CustomChartResponse,
  FindViewsResponse,
  parseSpec,
  UpsertViewResponse,
  ViewByIdResponse,
  ViewerResponse,
  type ViewNode,
} from './responses.js';
import { defaultReportTitle, reportSpec, type LatestEvaluation } from './spec-report.js';
import { mergeWorkspace, workspaceSlug, workspaceSpec, workspaceViewName } from './spec-workspace.js';
import { reportUrl, workspaceUrl } from './urls.js';

export type DashboardView = 'workspace' | 'report';

/** Where ids, hashes and the report's last write live between evaluations (Redis in production). */
export interface DashboardStore {
  /** Runs fn while holding the named lock; all workers share it. */
  withLock<T>(name: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
}

const Benchmark = z.enum(['mt-bench', 'japanese-mt-bench']);
const Latest = z.object({
  checkpoint: z.string(),
  trainingRun: z.string().optional(),
  epoch: z.number().optional(),
  benchmark: Benchmark,
  score: z.number().nullable(),
  judgeModel: z.string(),
  runUrl: z.string().optional(),
});
const ProjectState = z.object({
  benchmarks: z.array(Benchmark).default([]),
  judgeModels: z.array(z.string()).default([]),
  latest: Latest.optional(),
  workspaces: z.record(z.string(), z.object({ id: z.string(), hash: z.string() })).default({}),
  report: z
    .object({
      id: z.string(),
      name: z.string(),
      generation: z.number().int(),
      hash: z.string(),
      writtenAt: z.string(),
      url: z.string(),
    })
    .optional(),
});
type ProjectState = z.infer<typeof ProjectState>;

export interface SyncRequest {
  entity?: string;
  project: string;
  views: DashboardView[];
  /** Benchmarks to show; added to those the project already has. */
  benchmarks: BenchmarkName[];
  judgeModels?: string[];
  title?: string;
  description?: string;
  latest?: LatestEvaluation;
  /** Write even when the hash says nothing changed (a rebuild by hand). */
  force?: boolean;
  signal?: AbortSignal;
}

export interface SyncResult {
  entity: string;
  project: string;
  /** The workspace of the request's (first) benchmark. */
  workspaceUrl?: string;
  workspaces: Partial<Record<BenchmarkName, string>>;
  reportUrl?: string;
  /** Why a part was not written (the rest was). */
  warnings: string[];
}

const sha = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex');
const ORDER = Object.keys(BENCHMARKS) as BenchmarkName[];
const union = <T>(a: readonly T[], b: readonly T[]) => [...new Set([...a, ...b])];
const reportName = (generation: number) => `evalhookmtbench${generation > 1 ? generation : ''}`;
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class DashboardSync {
  private viewerEntity?: Promise<string>;

  constructor(
    private readonly client: WandbClient,
    private readonly store: DashboardStore,
  ) {}

  async sync(req: SyncRequest): Promise<SyncResult> {
    const entity = req.entity ?? (await this.defaultEntity(req.signal));
    const key = `${entity}/${req.project}`;
    return this.store.withLock(
      key,
      async () => {
        const state = await this.load(key);
        state.benchmarks = ORDER.filter((b) => state.benchmarks.includes(b) || req.benchmarks.includes(b));
        state.judgeModels = union(state.judgeModels, req.judgeModels ?? []);
        if (req.latest) state.latest = req.latest;
        const out: SyncResult = { entity, project: req.project, workspaces: {}, warnings: [] };
        const attempt = async (what: string, fn: () => Promise<void>) => {
          try {
            await fn();
          } catch (err) {
            out.warnings.push(`dashboard: ${what} not written: ${errText(err)}`);
            this.client.log.warn({ err: errText(err), entity, project: req.project }, `dashboard: ${what} not written`);
          }
        };
        if (req.views.length) await attempt('radar chart preset', () => this.ensurePreset(entity, req));
        if (req.views.includes('workspace')) {
          for (const b of state.benchmarks) {
            await attempt(`${BENCHMARKS[b].title} workspace view`, async () => {
              out.workspaces[b] = await this.ensureWorkspace(entity, req, b, state);
            });
          }
          out.workspaceUrl = out.workspaces[req.benchmarks[0] ?? state.benchmarks[0]!];
        }
        if (req.views.includes('report')) {
          await attempt('report', async () => {
            out.reportUrl = await this.ensureReport(entity, req, state, out.warnings);
          });
        }
        await this.store.set(key, JSON.stringify(state));
        return out;
      },
      req.signal,
    );
  }

  /** Specs exactly as sync would write them for a new dashboard (dry run, offline mode). */
  static specs(
    entity: string,
    req: Omit<SyncRequest, 'entity' | 'force' | 'signal'>,
  ): { workspaces: Partial<Record<BenchmarkName, JsonObject>>; report: JsonObject } {
    const benchmarks = ORDER.filter((b) => req.benchmarks.includes(b));
    return {
      workspaces: Object.fromEntries(benchmarks.map((b) => [b, workspaceSpec(b, entity)])),
      report: reportSpec({
        entity,
        project: req.project,
        benchmarks,
        judgeModels: req.judgeModels ?? [],
        latest: req.latest,
      }),
    };
  }

  private async load(key: string): Promise<ProjectState> {
    const raw = await this.store.get(key);
    const parsed = raw ? ProjectState.safeParse(parseSpec(raw)) : undefined;
    return parsed?.success ? parsed.data : ProjectState.parse({});
  }

  private defaultEntity(signal?: AbortSignal): Promise<string> {
    this.viewerEntity ??= this.client.graphql(VIEWER, {}, ViewerResponse, { signal }).then((r) => {
      const e = r.viewer?.entity;
      if (!e) throw new WandbError('W&B Viewer has no default entity; set WANDB_ENTITY', false);
      return e;
    });
    this.viewerEntity.catch(() => (this.viewerEntity = undefined));
    return this.viewerEntity;
  }

  /** §8: look up, create when missing (on "exists", update), update when the spec differs. */
  private async ensurePreset(entity: string, req: SyncRequest): Promise<void> {
    const hash = sha(RADAR_VEGA_SPEC);
    const storeKey = `preset:${entity}`;
    if (!req.force && (await this.store.get(storeKey)) === hash) return;
    const { signal } = req;
    const base = {
      entity,
      chartName: RADAR_PRESET.name,
      displayName: RADAR_PRESET.displayName,
      access: RADAR_PRESET.access,
      spec: JSON.stringify(RADAR_VEGA_SPEC),
    };
    const update = () => this.client.graphql(UPDATE_CUSTOM_CHART, base, ChartMutationResponse, { signal });
    const found = await this.client.graphql(CUSTOM_CHART_BY_ID, { id: radarPresetId(entity) }, CustomChartResponse, {
      signal,
    });
    const existing = found.customChart;
    if (!existing) {
      try {
        await this.client.graphql(
          CREATE_CUSTOM_CHART,
          { ...base, chartType: RADAR_PRESET.type },
          ChartMutationResponse,
          { signal, attempts: 1 },
        );
      } catch (err) {
        // A create whose answer was lost, or a name the lookup could not see: it exists, so update.
        if (!(err instanceof WandbError)) throw err;
        await update();
      }
    } else if (sha(parseSpec(existing.spec)) !== hash) {
      await update();
    }
    await this.store.set(storeKey, hash);
  }

  private async ensureWorkspace(
    entity: string,
    req: SyncRequest,
    benchmark: BenchmarkName,
    state: ProjectState,
  ): Promise<string> {
    const ours = workspaceSpec(benchmark, entity);
    const hash = sha(ours);
    const url = workspaceUrl(this.client.appURL, entity, req.project, workspaceSlug(benchmark));
    const known = state.workspaces[benchmark];
    if (!req.force && known?.hash === hash) return url;
    const name = workspaceViewName(benchmark);
    const found = await this.findView(entity, req.project, 'project-view', name, req.signal);
    const fields = { entityName: entity, projectName: req.project, type: 'project-view', name };
    let view: ViewNode;
    if (found) {
      // Only evalhook-* sections change; the rest of what a person arranged is kept.
      const spec = mergeWorkspace(parseSpec(found.spec), ours);
      view = await this.upsert(
        {
          ...fields,
          id: found.id,
          displayName: found.displayName ?? `${BENCHMARKS[benchmark].title} (evalhook)`,
          description: found.description ?? '',
          spec,
        },
        req.signal,
      );
    } else {
      view = await this.create(
        {
          ...fields,
          displayName: `${BENCHMARKS[benchmark].title} (evalhook)`,
          description: 'Kept current by evalhook; sections named evalhook-* are rewritten, everything else is yours.',
          spec: ours,
        },
        'project-view',
        req.signal,
      );
    }
    state.workspaces[benchmark] = { id: view.id, hash };
    return url;
  }

  private async ensureReport(
    entity: string,
    req: SyncRequest,
    state: ProjectState,
    warnings: string[],
  ): Promise<string> {
    const spec = reportSpec({
      entity,
      project: req.project,
      benchmarks: state.benchmarks,
      judgeModels: state.judgeModels,
      latest: state.latest,
    });
    const title = req.title ?? defaultReportTitle(req.project);
    const description = req.description ?? 'MT-Bench scores of every evaluated checkpoint, written by evalhook.';
    const hash = sha({ spec, title, description });
    const known = state.report;
    if (!req.force && known?.hash === hash) return known.url;
    let generation = known?.generation ?? 1;
    let target: ViewNode | undefined;
    if (known) {
      const current = (
        await this.client.graphql(VIEW_BY_ID, { id: known.id }, ViewByIdResponse, { signal: req.signal })
      ).view;
      // Newer than our write *and* different from what we wrote: a server touching updatedAt alone is not an edit.
      const touched = current?.updatedAt && Date.parse(current.updatedAt) > Date.parse(known.writtenAt);
      const changed =
        current &&
        sha({ spec: parseSpec(current.spec), title: current.displayName, description: current.description }) !==
          known.hash;
      if (current && touched && changed) {
        // Someone edited our report since our last write: theirs now. Write a new one beside it.
        generation += 1;
        const msg = `dashboard: report ${known.url} was edited in W&B after evalhook's last write; left as it is, a new report is written`;
        warnings.push(msg);
        this.client.log.warn({ entity, project: req.project, reportId: known.id }, msg);
      } else if (current) {
        target = current;
      }
    }
    const name = reportName(generation);
    // A deleted report, a lost Redis state or a create whose answer was lost: find it by name first.
    target ??= await this.findView(entity, req.project, 'runs', name, req.signal);
    const fields = {
      entityName: entity,
      projectName: req.project,
      type: 'runs',
      name,
      displayName: title,
      description,
      spec,
    };
    const view = target
      ? await this.upsert({ ...fields, id: target.id }, req.signal)
      : await this.create(fields, 'runs', req.signal);
    const url = reportUrl(this.client.appURL, entity, req.project, title, view.id);
    state.report = { id: view.id, name, generation, hash, writtenAt: view.updatedAt ?? new Date().toISOString(), url };
    return url;
  }

  private async findView(
    entity: string,
    project: string,
    viewType: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<ViewNode | undefined> {
    const r = await this.client.graphql(
      FIND_VIEWS,
      { entityName: entity, projectName: project, viewType, viewName: name },
      FindViewsResponse,
      { signal },
    );
    // viewName is a server-side filter; check it (and the type) here too.
    return r.project?.allViews?.edges
      .map((e) => e.node)
      .find((n): n is ViewNode => !!n && n.name === name && (n.type ?? viewType) === viewType);
  }

  /** Updates by id are idempotent: the client's usual retries apply. */
  private async upsert(vars: ViewVars & { id: string }, signal?: AbortSignal): Promise<ViewNode> {
    const r = await this.client.graphql(UPSERT_VIEW, { ...vars, spec: JSON.stringify(vars.spec) }, UpsertViewResponse, {
      signal,
    });
    const view = r.upsertView?.view;
    if (!view) throw new WandbError('W&B UpsertView returned no view', false);
    return view;
  }

  /** A create is sent once; if its outcome is unknown, re-read by name before the one more try. */
  private async create(vars: ViewVars, viewType: string, signal?: AbortSignal): Promise<ViewNode> {
    const send = async () => {
      const r = await this.client.graphql(
        UPSERT_VIEW,
        { ...vars, spec: JSON.stringify(vars.spec) },
        UpsertViewResponse,
        { signal, attempts: 1 },
      );
      if (!r.upsertView?.view) throw new WandbError('W&B UpsertView returned no view', false);
      return r.upsertView.view;
    };
    try {
      return await send();
    } catch (err) {
      if (err instanceof WandbError && !err.retryable) throw err;
      const landed = await this.findView(vars.entityName, vars.projectName, viewType, vars.name, signal);
      return landed ?? send();
    }
  }
}

interface ViewVars {
  entityName: string;
  projectName: string;
  type: string;
  name: string;
  displayName: string;
  description: string;
  spec: JsonObject;
}
