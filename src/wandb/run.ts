/**
 * The evaluation run (B1, B2, B3, B5): one W&B run per evaluation, its id derived from the evaluation
 * id so every open of a retried job lands on the same run, kept as wandb-core keeps a run's life:
 * - open reads the run back first (RunResumeStatus, core/internal/runbranch/resume.go) and writes only
 *   what evalhook owns, so tags, display name and notes edited in the UI survive a reopen;
 * - runtime counts from the evaluation's first start (`_runtime` in history and summary, and
 *   `_wandb.runtime`, core/internal/stream/handler.go updateRunTiming);
 * - every file_stream post of the run goes through its one ordered sender (filestream.ts);
 * - exactly one exit: finish (exit 0, or 1 with a decided failure) or fail (exit 1); a finished run
 *   is never posted to again.
 */
import { createHash } from 'node:crypto';
import type { RunContext, RunHandle, RunReporter } from '../ports.js';
import { withoutSecretKeys } from '../secrets.js';
import type { ArtifactResolver } from './artifacts.js';
import { parseUploadHeaders, WandbError, type WandbClient } from './client.js';
import { consoleLines } from './console-log.js';
import {
  CREATE_RUN_FILES,
  MARK_RUN_FILES_UPLOADED,
  RUN_RESUME_STATUS,
  UPSERT_BUCKET,
  USE_ARTIFACT,
  USE_ARTIFACT_WITH_SOURCE,
} from './documents.js';
import { RunStream, type RunPath, type StreamOptions } from './filestream.js';
import { runIdFor } from './names.js';
import {
  CreateRunFilesResponse,
  jsonObject,
  MarkUploadedResponse,
  RunResumeStatusResponse,
  UpsertBucketResponse,
  UseArtifactResponse,
  type RunStatus,
} from './responses.js';
import { outputTable, radarTable, summaryMetrics, type EvalOutcome, type Table } from './results.js';
import { logTableArtifact, type TableArtifactRef } from './table-artifact.js';
import { writeBack } from './write-back.js';

export type { RunPath } from './filestream.js';

export const JOB_TYPE = 'mtbench-eval';

export interface ReporterOptions {
  /** file_stream heartbeat while an attempt holds the run (B2: at least every 30 s); 0 disables. */
  heartbeatMs?: number;
  /** file_stream budgets (tests shrink them); defaults are wandb-core's. */
  fileStreamRetry?: StreamOptions['retry'];
  finalRetry?: StreamOptions['finalRetry'];
}

/** A run W&B reports as finished is never written to again (a file_stream post would resurrect it). */
const DONE_STATES = new Set(['finished']);

export class WandbReporter implements RunReporter {
  /** The one sender of each run open in this process, so handles of one run share order and offsets. */
  private readonly streams = new Map<string, RunStream>();

  constructor(
    private readonly client: WandbClient,
    private readonly resolver: ArtifactResolver,
    private readonly opts: ReporterOptions = {},
  ) {}

  async open(ctx: RunContext, signal?: AbortSignal): Promise<RunHandle> {
    const runId = runIdFor(ctx.evaluationId);
    const a = ctx.artifact;
    const found = await this.client.graphql(
      RUN_RESUME_STATUS,
      { entity: ctx.profile.wandb.entity, project: ctx.profile.wandb.project, name: runId },
      RunResumeStatusResponse,
      { signal },
    );
    const status = found.model?.bucket ?? null;
    if (
      status &&
      found.model &&
      DONE_STATES.has(status.state ?? '') &&
      !this.streams.has(`${found.model.entity.name}/${found.model.name}/${status.name}`)
    ) {
      // Not even UpsertBucket: a finished run is left exactly as it is.
      const url = this.runUrl({ entity: found.model.entity.name, project: found.model.name, run: status.name });
      this.client.log.info({ runId, url }, 'W&B run already finished: left as it is');
      return new FinishedHandle(runId, url, this.client);
    }
    const ours = ownedTags(ctx);
    const vars: Record<string, unknown> = {
      name: runId,
      project: ctx.profile.wandb.project,
      entity: ctx.profile.wandb.entity,
      jobType: JOB_TYPE,
      // Checkpoints of one fine-tuning run share a group: one line plot of score vs epoch.
      groupName: a.sourceRun?.name,
      // UpsertBucket replaces the whole config: keep every key already there (an earlier open's
      // inference target, the SDK's `_wandb`), replace only ours.
      config: JSON.stringify({ ...jsonObject(status?.config ?? null), ...wrapConfig(runConfig(ctx)) }),
    };
    if (!status) {
      vars.displayName = `mtbench ${a.collection}:${a.version}`;
      vars.tags = ours;
    } else {
      // Reopening: the UI may have renamed it, edited notes or tags; add only our missing tags.
      const tags = status.tags ?? [];
      const missing = ours.filter((t) => !tags.includes(t));
      if (missing.length) vars.tags = [...tags, ...missing];
      // A failed (or crashed) run evaluated again, e.g. an admin retry: resumed on purpose, as the SDK's resume does.
      if (status.state && status.state !== 'running' && !DONE_STATES.has(status.state)) vars.state = 'running';
    }
    const r = await this.client.graphql(UPSERT_BUCKET, vars, UpsertBucketResponse, { signal, retryConflict: true });
    const bucket = r.upsertBucket?.bucket;
    if (!bucket?.project) throw new WandbError('W&B UpsertBucket returned no run', true);
    const path: RunPath = { entity: bucket.project.entity.name, project: bucket.project.name, run: bucket.name };
    const url = this.runUrl(path);
    const key = `${path.entity}/${path.project}/${path.run}`;
    let stream = this.streams.get(key);
    await this.useArtifact(path, ctx, signal);
    if (!stream) {
      const summary = jsonObject(status?.summaryMetrics ?? null);
      stream = new RunStream(
        this.client,
        path,
        { history: status?.historyLineCount ?? 0, log: status?.logLineCount ?? 0 },
        {
          heartbeatMs: this.opts.heartbeatMs ?? 25_000,
          retry: this.opts.fileStreamRetry,
          finalRetry: this.opts.finalRetry,
        },
        () => this.streams.delete(key),
      );
      stream.summary = summary;
      this.streams.set(key, stream);
    } else {
      stream.sync({ history: status?.historyLineCount ?? 0, log: status?.logLineCount ?? 0 });
    }
    this.client.log.info({ runId, url, inserted: r.upsertBucket?.inserted }, 'W&B run opened');
    stream.hold();
    return new Handle(this, this.client, stream, bucket.id, url, ctx, startOf(ctx, stream.summary, this.client.now()));
  }

  writeBack(
    ctx: RunContext,
    outcome: { score: number | null; runUrl?: string; reportUrl?: string },
    signal?: AbortSignal,
  ): Promise<string[]> {
    return writeBack(this.client, this.resolver, ctx, outcome, signal);
  }

  private runUrl(p: RunPath): string {
    return `${this.client.appURL}/${encodeURIComponent(p.entity)}/${encodeURIComponent(p.project)}/runs/${encodeURIComponent(p.run)}`;
  }

  /** B1 read-back: null when the run does not exist yet. */
  async status(
    entity: string | undefined,
    project: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<RunStatus | null> {
    const r = await this.client.graphql(RUN_RESUME_STATUS, { entity, project, name }, RunResumeStatusResponse, {
      signal,
    });
    return r.model?.bucket ?? null;
  }

  /** B5: the evaluated version as the run's input, so the registry shows the evaluation in its lineage. */
  private async useArtifact(path: RunPath, ctx: RunContext, signal?: AbortSignal): Promise<void> {
    const base = { entityName: path.entity, projectName: path.project, runName: path.run, artifactID: ctx.artifact.id };
    if (await this.client.hasFeature('USE_ARTIFACT_WITH_ENTITY_AND_PROJECT_INFORMATION', signal)) {
      const vars = { ...base, artifactEntityName: ctx.artifact.entity, artifactProjectName: ctx.artifact.project };
      await this.client.graphql(USE_ARTIFACT_WITH_SOURCE, vars, UseArtifactResponse, { signal });
    } else {
      await this.client.graphql(USE_ARTIFACT, base, UseArtifactResponse, { signal });
    }
  }
}

/** Tags evalhook owns on its runs; anything else on the run belongs to people. */
function ownedTags(ctx: RunContext): string[] {
  // `fallback`: the score is the configured model's, not the artifact's.
  return [
    ...new Set([
      'evalhook',
      ctx.profile.benchmark,
      ctx.profile.name,
      ...(ctx.config.evaluated_model ? ['fallback'] : []),
    ]),
  ];
}

/**
 * The run's start: the evaluation's first start; without one, as the SDK resumes, the runtime W&B
 * already has (`_wandb.runtime` first, then `_runtime`) continues from now.
 */
function startOf(ctx: RunContext, summary: Record<string, unknown>, now: number): number {
  if (ctx.startedAt !== undefined) return ctx.startedAt;
  const w = summary._wandb;
  const prior =
    typeof w === 'object' && w !== null && typeof (w as { runtime?: unknown }).runtime === 'number'
      ? (w as { runtime: number }).runtime
      : summary._runtime;
  return now - (typeof prior === 'number' && prior > 0 ? prior * 1000 : 0);
}

/** The handle of a run W&B already shows as finished: nothing is sent, ever. */
class FinishedHandle implements RunHandle {
  constructor(
    readonly runId: string,
    readonly url: string,
    private readonly client: WandbClient,
  ) {}
  async logProgress(): Promise<void> {}
  async finish(): Promise<void> {
    this.client.log.info({ run: this.runId }, 'W&B run was already finished; not finishing it again');
  }
  async fail(reason: string): Promise<void> {
    this.client.log.warn({ run: this.runId, reason }, 'W&B run was already finished; not reopening it to fail');
  }
  release(): void {}
}

class Handle implements RunHandle {
  private released = false;

  constructor(
    private readonly reporter: WandbReporter,
    private readonly client: WandbClient,
    private readonly stream: RunStream,
    private readonly bucketId: string,
    readonly url: string,
    private readonly ctx: RunContext,
    private readonly startedAt: number,
  ) {}

  get runId(): string {
    return this.stream.path.run;
  }

  private get path(): RunPath {
    return this.stream.path;
  }

  /** Seconds since the evaluation's first start, as history `_runtime` (float). */
  private runtime(): number {
    return Math.max(0, (this.client.now() - this.startedAt) / 1000);
  }

  /** Epoch and step of the evaluated checkpoint, on every row, so a line plot can use epoch as x. */
  private position(): Record<string, number> {
    const c = this.ctx.artifact.checkpoint ?? {};
    return { ...(c.epoch !== undefined ? { epoch: c.epoch } : {}), ...(c.step !== undefined ? { step: c.step } : {}) };
  }

  /** A history row and the summary after it: wandb-core's summary is the last row plus `_wandb`/`_runtime`. */
  private row(values: Record<string, unknown>): { row: Record<string, unknown>; summary: Record<string, unknown> } {
    const runtime = this.runtime();
    const row = {
      ...values,
      ...this.position(),
      _step: this.stream.nextStep,
      _runtime: runtime,
      _timestamp: this.client.now() / 1000,
    };
    const prev = this.stream.summary._wandb;
    const wandb = typeof prev === 'object' && prev !== null ? prev : {};
    // Summary runtime in whole seconds, as updateRunTiming writes it.
    const seconds = Math.floor(runtime);
    const summary = { ...this.stream.summary, ...row, _runtime: seconds, _wandb: { ...wandb, runtime: seconds } };
    this.stream.summary = summary;
    return { row, summary };
  }

  logProgress(metrics: Record<string, number>): Promise<void> {
    if (this.stream.finished) return Promise.resolve();
    const { row, summary } = this.row(metrics);
    return this.stream
      .send({ history: [row], summary })
      .catch((err: unknown) => this.client.log.warn({ err, run: this.path.run }, 'W&B progress step not logged'));
  }

  async finish(result: EvalOutcome, outcome: { failure?: string } = {}): Promise<void> {
    try {
      if (this.stream.finished)
        return this.client.log.info({ run: this.path.run }, 'W&B run already finished; not finishing it again');
      const step = this.stream.nextStep;
      const files = [
        tableFile('mtbench_output_table', outputTable(result), step),
        tableFile('mtbench_radar_table', radarTable(result.summary), step),
      ];
      const uploaded = await this.uploadRunFiles(files.map((f) => ({ path: f.path, body: f.body })));
      for (const f of files) Object.assign(f.ref, await this.tableArtifact(f.key, f.table));
      const metrics = summaryMetrics(result.summary, this.ctx.artifact.checkpoint);
      const tables = Object.fromEntries(files.map((f) => [f.key, f.ref]));
      // run.log({...scores, tables}): the final history row holds the scores and both tables.
      const scores = Object.fromEntries(Object.entries(metrics).filter(([k]) => k.startsWith('mtbench/')));
      const { row, summary } = this.row({ ...scores, ...tables });
      const { 'evalhook/failed': _f, 'evalhook/failure_reason': _r, ...rest } = summary;
      const final = {
        ...rest,
        ...metrics,
        ...tables,
        ...(outcome.failure ? { 'evalhook/failed': true, 'evalhook/failure_reason': outcome.failure } : {}),
      };
      this.stream.summary = final;
      const at = this.client.now();
      const logs = outcome.failure
        ? consoleLines(`evaluation failed: ${outcome.failure}`, 'stderr', at)
        : consoleLines(
            `MT-Bench score ${fmt(result.summary.scores.average)} (${result.summary.counts.judgments} judgments, ${result.summary.counts.invalid} invalid)`,
            'stdout',
            at,
          );
      if (outcome.failure) await this.noteFailure(outcome.failure);
      // B2: complete with exit code 0 makes the run "finished", 1 "failed"; nothing is sent after it.
      await this.stream.send({ history: [row], summary: final, logs, uploaded, exitcode: outcome.failure ? 1 : 0 });
      this.client.log.info(
        { run: this.path.run, url: this.url, failure: outcome.failure },
        outcome.failure ? 'W&B run finished as failed' : 'W&B run finished',
      );
    } finally {
      this.release();
    }
  }

  async fail(reason: string): Promise<void> {
    try {
      if (this.stream.finished)
        return this.client.log.warn(
          { run: this.path.run, reason },
          'W&B run already finished; not reopening it to fail',
        );
      const summary = { ...this.stream.summary, 'evalhook/failed': true, 'evalhook/failure_reason': reason };
      this.stream.summary = summary;
      await this.noteFailure(reason);
      await this.stream.send({
        summary,
        logs: consoleLines(`evaluation failed: ${reason}`, 'stderr', this.client.now()),
        exitcode: 1,
      });
      this.client.log.warn({ run: this.path.run, reason }, 'W&B run marked failed');
    } finally {
      this.release();
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.stream.release();
  }

  /** Notes show on the run's overview page, where a person looks first; theirs are kept, ours appended. */
  private async noteFailure(reason: string): Promise<void> {
    const line = `Evaluation failed: ${reason}`;
    const current = (await this.reporter.status(this.path.entity, this.path.project, this.path.run))?.notes ?? '';
    if (current.includes(line)) return;
    const notes = current.trim() ? `${current.trimEnd()}\n\n${line}` : line;
    await this.client.graphql(UPSERT_BUCKET, { id: this.bucketId, notes }, UpsertBucketResponse, {
      retryConflict: true,
    });
  }

  /** The table's run_table artifact; a refusal (permissions, old server) costs only `artifact_path`, transient errors retry the report. */
  private async tableArtifact(key: string, table: Table): Promise<TableArtifactRef | Record<string, never>> {
    try {
      return await logTableArtifact(this.client, this.path, key, table);
    } catch (err) {
      if (err instanceof WandbError && !err.retryable) {
        this.client.log.warn(
          { err: err.message, run: this.path.run, key },
          'run_table artifact not logged; the table stays a run file',
        );
        return {};
      }
      throw err;
    }
  }

  /** B3: presigned PUTs (no auth, with uploadHeaders), then tell the server they are done. Returns paths for file_stream `uploaded`. */
  private async uploadRunFiles(files: Array<{ path: string; body: Buffer }>): Promise<string[]> {
    const vars = {
      entity: this.path.entity,
      project: this.path.project,
      run: this.path.run,
      files: files.map((f) => f.path),
    };
    const r = await this.client.graphql(CREATE_RUN_FILES, vars, CreateRunFilesResponse);
    if (!r.createRunFiles) throw new WandbError('W&B CreateRunFiles returned nothing', true);
    const headers = parseUploadHeaders(r.createRunFiles.uploadHeaders);
    for (const f of files) {
      const url = r.createRunFiles.files.find((x) => x.name === f.path)?.uploadUrl;
      if (url) await this.client.storage('PUT', url, { headers, body: f.body });
    }
    if (await this.client.hasFeature('MARK_RUN_FILES_UPLOADED')) {
      await this.client.graphql(MARK_RUN_FILES_UPLOADED, vars, MarkUploadedResponse);
      return [];
    }
    return vars.files;
  }
}

/** B3: the run-file form of a table and the `table-file` summary value that points at it. */
function tableFile(key: string, table: Table, step: number) {
  const body = Buffer.from(JSON.stringify(table));
  const sha256 = createHash('sha256').update(body).digest('hex');
  // `<key>_<step>_<sha256[:20]>` as the SDK names it (media.py _wb_filename).
  const path = `media/table/${key}_${step}_${sha256.slice(0, 20)}.table.json`;
  const ref: Record<string, unknown> = {
    _type: 'table-file',
    path,
    sha256,
    size: body.length,
    ncols: table.columns.length,
    nrows: table.data.length,
    log_mode: 'IMMUTABLE',
  };
  return { key, path, body, ref, table };
}

/** Run config: the pipeline's non-secret config plus artifact, checkpoint and lineage; secrets dropped defensively. */
export function runConfig(ctx: RunContext): Record<string, unknown> {
  const a = ctx.artifact;
  const given = typeof ctx.config.artifact === 'object' && ctx.config.artifact !== null ? ctx.config.artifact : {};
  const cfg: Record<string, unknown> = {
    ...ctx.config,
    evaluation_id: ctx.evaluationId,
    profile: ctx.profile.name,
    artifact: {
      ...given,
      id: a.id,
      name: a.fullName,
      entity: a.entity,
      project: a.project,
      collection: a.collection,
      version: a.version,
      digest: a.digest,
      type: a.type,
      aliases: a.aliases,
    },
    checkpoint: a.checkpoint ?? {},
    source_run: a.sourceRun ?? null,
    // Top level too, so W&B plots can use them as the x-axis directly.
    epoch: a.checkpoint?.epoch ?? null,
    step: a.checkpoint?.step ?? null,
  };
  return withoutSecretKeys(cfg) as Record<string, unknown>;
}

/** B1: config as {"key": {"value": v}} (wandb-core runconfig.Serialize). */
function wrapConfig(cfg: Record<string, unknown>): Record<string, { value: unknown }> {
  return Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, { value: v }]));
}

const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
