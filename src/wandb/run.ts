/**
 * The evaluation run (B1, B2, B3, B5): one W&B run per evaluation, its id derived from the evaluation
 * id so every open/finish/fail of a retried job lands on the same run. History via file_stream,
 * tables as run files referenced from the summary, the model artifact as the run's input.
 */
import { createHash } from 'node:crypto';
import type { RunContext, RunHandle, RunReporter } from '../ports.js';
import { withoutSecretKeys } from '../secrets.js';
import type { ArtifactResolver } from './artifacts.js';
import { parseUploadHeaders, WandbError, type WandbClient } from './client.js';
import { CREATE_RUN_FILES, MARK_RUN_FILES_UPLOADED, UPSERT_BUCKET, USE_ARTIFACT, USE_ARTIFACT_WITH_SOURCE } from './documents.js';
import { runIdFor } from './names.js';
import { CreateRunFilesResponse, jsonObject, MarkUploadedResponse, UpsertBucketResponse, UseArtifactResponse } from './responses.js';
import { outputTable, radarTable, summaryMetrics, type EvalOutcome, type Table } from './results.js';
import { logTableArtifact, type TableArtifactRef } from './table-artifact.js';
import { writeBack } from './write-back.js';

export const JOB_TYPE = 'mtbench-eval';

export interface ReporterOptions {
  /** file_stream heartbeat while a run is open (B2: at least every 30 s); 0 disables. */
  heartbeatMs?: number;
  /** Heartbeats stop after this long without activity, so an abandoned handle cannot beat forever. */
  heartbeatIdleMs?: number;
}

export interface RunPath {
  entity: string;
  project: string;
  run: string;
}

export class WandbReporter implements RunReporter {
  private readonly beats = new Map<string, { timer: NodeJS.Timeout; lastActive: number; busy: boolean }>();

  constructor(
    private readonly client: WandbClient,
    private readonly resolver: ArtifactResolver,
    private readonly opts: ReporterOptions = {},
  ) {}

  async open(ctx: RunContext, signal?: AbortSignal): Promise<RunHandle> {
    const runId = runIdFor(ctx.evaluationId);
    const a = ctx.artifact;
    const r = await this.client.graphql(
      UPSERT_BUCKET,
      {
        name: runId,
        project: ctx.profile.wandb.project,
        entity: ctx.profile.wandb.entity,
        displayName: `mtbench ${a.collection}:${a.version}`,
        jobType: JOB_TYPE,
        // Checkpoints of one fine-tuning run share a group: one line plot of score vs epoch.
        groupName: a.sourceRun?.name,
        // `fallback`: the score is the configured model's, not the artifact's (issue 10).
        tags: ['evalhook', ctx.profile.benchmark, ctx.profile.name, ...(ctx.config.evaluated_model ? ['fallback'] : [])],
      },
      UpsertBucketResponse,
      { signal, retryConflict: true },
    );
    const bucket = r.upsertBucket?.bucket;
    if (!bucket?.project) throw new WandbError('W&B UpsertBucket returned no run', true);
    // UpsertBucket replaces the whole config; a reopen (e.g. a retried report that no longer knows the
    // inference target) must keep what an earlier open recorded, so read, merge, write.
    const config = { ...unwrapConfig(bucket.config), ...runConfig(ctx) };
    await this.client.graphql(UPSERT_BUCKET, { id: bucket.id, config: JSON.stringify(wrapConfig(config)) }, UpsertBucketResponse, { signal, retryConflict: true });
    const path: RunPath = { entity: bucket.project.entity.name, project: bucket.project.name, run: bucket.name };
    await this.useArtifact(path, ctx, signal);
    const url = `${this.client.appURL}/${encodeURIComponent(path.entity)}/${encodeURIComponent(path.project)}/runs/${encodeURIComponent(path.run)}`;
    this.client.log.info({ runId, url, inserted: r.upsertBucket?.inserted }, 'W&B run opened');
    this.startHeartbeat(path);
    return new Handle(this, this.client, path, bucket.id, url, bucket.historyLineCount ?? 0, jsonObject(bucket.summaryMetrics), ctx);
  }

  writeBack(ctx: RunContext, outcome: { score: number | null; runUrl?: string }, signal?: AbortSignal): Promise<string[]> {
    return writeBack(this.client, this.resolver, ctx, outcome, signal);
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

  touch(run: string): void {
    const b = this.beats.get(run);
    if (b) b.lastActive = Date.now();
  }

  startHeartbeat(path: RunPath): void {
    const every = this.opts.heartbeatMs ?? 25_000;
    if (every <= 0) return;
    const existing = this.beats.get(path.run);
    if (existing) return void (existing.lastActive = Date.now());
    const idle = this.opts.heartbeatIdleMs ?? 30 * 60_000;
    const tick = () => {
      if (Date.now() - beat.lastActive > idle) return this.stopHeartbeat(path.run);
      if (beat.busy) return;
      beat.busy = true;
      this.client
        .fileStream(path, {})
        .catch((err: unknown) => this.client.log.debug({ err, run: path.run }, 'W&B heartbeat failed'))
        .finally(() => (beat.busy = false));
    };
    // unref: a forgotten handle must never keep the process alive.
    const beat = { lastActive: Date.now(), busy: false, timer: setInterval(tick, every).unref() };
    this.beats.set(path.run, beat);
  }

  stopHeartbeat(run: string): void {
    const b = this.beats.get(run);
    if (b) clearInterval(b.timer);
    this.beats.delete(run);
  }
}

class Handle implements RunHandle {
  private chain: Promise<unknown> = Promise.resolve();
  private readonly started = Date.now();

  constructor(
    private readonly reporter: WandbReporter,
    private readonly client: WandbClient,
    private readonly path: RunPath,
    private readonly bucketId: string,
    readonly url: string,
    private offset: number,
    private summary: Record<string, unknown>,
    private readonly ctx: RunContext,
  ) {}

  get runId(): string {
    return this.path.run;
  }

  /** Serialised so history offsets stay contiguous even when calls overlap. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private stamp(): { _runtime: number; _timestamp: number } {
    return { _runtime: (Date.now() - this.started) / 1000, _timestamp: Date.now() / 1000 };
  }

  logProgress(metrics: Record<string, number>): Promise<void> {
    this.reporter.touch(this.path.run);
    return this.serial(async () => {
      const row = { ...metrics, _step: this.offset, ...this.stamp() };
      await this.client.fileStream(this.path, { files: { 'wandb-history.jsonl': { offset: this.offset, content: [JSON.stringify(row)] } } });
      this.offset += 1;
    }).catch((err: unknown) => this.client.log.warn({ err, run: this.path.run }, 'W&B progress step not logged'));
  }

  finish(result: EvalOutcome): Promise<void> {
    return this.serial(async () => {
      const files = [tableFile('mtbench_output_table', outputTable(result)), tableFile('mtbench_radar_table', radarTable(result.summary))];
      const uploaded = await this.uploadRunFiles(files.map((f) => ({ path: f.path, body: f.body })));
      for (const f of files) Object.assign(f.ref, await this.tableArtifact(f.key, f.table));
      const { 'evalhook/failed': _f, 'evalhook/failure_reason': _r, ...previous } = this.summary;
      this.summary = {
        ...previous,
        ...summaryMetrics(result.summary, this.ctx.artifact.checkpoint),
        ...Object.fromEntries(files.map((f) => [f.key, f.ref])),
        _step: this.offset,
        ...this.stamp(),
      };
      await this.client.fileStream(this.path, {
        files: { 'wandb-summary.json': { offset: 0, content: [JSON.stringify(this.summary)] } },
        ...(uploaded.length ? { uploaded } : {}),
      });
      // B2: complete with exit code 0 is what makes the run "finished".
      await this.client.fileStream(this.path, { complete: true, exitcode: 0 });
      this.reporter.stopHeartbeat(this.path.run);
      this.client.log.info({ run: this.path.run, url: this.url }, 'W&B run finished');
    });
  }

  fail(reason: string): Promise<void> {
    return this.serial(async () => {
      this.summary = { ...this.summary, 'evalhook/failed': true, 'evalhook/failure_reason': reason };
      await this.client.fileStream(this.path, {
        files: {
          'wandb-summary.json': { offset: 0, content: [JSON.stringify(this.summary)] },
          'output.log': { offset: 0, content: [`ERROR evaluation failed: ${reason}`] },
        },
      });
      // Notes show on the run's overview page, where a person looks first.
      await this.client.graphql(UPSERT_BUCKET, { id: this.bucketId, notes: `Evaluation failed: ${reason}` }, UpsertBucketResponse, { retryConflict: true });
      await this.client.fileStream(this.path, { complete: true, exitcode: 1 });
      this.reporter.stopHeartbeat(this.path.run);
      this.client.log.warn({ run: this.path.run, reason }, 'W&B run marked failed');
    });
  }

  /** The table's run_table artifact; a refusal (permissions, old server) costs only `artifact_path`, transient errors retry the report. */
  private async tableArtifact(key: string, table: Table): Promise<TableArtifactRef | Record<string, never>> {
    try {
      return await logTableArtifact(this.client, this.path, key, table);
    } catch (err) {
      if (err instanceof WandbError && !err.retryable) {
        this.client.log.warn({ err: err.message, run: this.path.run, key }, 'run_table artifact not logged; the table stays a run file');
        return {};
      }
      throw err;
    }
  }

  /** B3: presigned PUTs (no auth, with uploadHeaders), then tell the server they are done. Returns paths for file_stream `uploaded`. */
  private async uploadRunFiles(files: Array<{ path: string; body: Buffer }>): Promise<string[]> {
    const vars = { entity: this.path.entity, project: this.path.project, run: this.path.run, files: files.map((f) => f.path) };
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
function tableFile(key: string, table: Table) {
  const body = Buffer.from(JSON.stringify(table));
  const sha256 = createHash('sha256').update(body).digest('hex');
  // Content-addressed path: a retried finish overwrites the same file instead of adding one.
  const path = `media/table/${key}_0_${sha256.slice(0, 20)}.table.json`;
  const ref: Record<string, unknown> = { _type: 'table-file', path, sha256, size: body.length, ncols: table.columns.length, nrows: table.data.length, log_mode: 'IMMUTABLE' };
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
    artifact: { ...given, id: a.id, name: a.fullName, entity: a.entity, project: a.project, collection: a.collection, version: a.version, digest: a.digest, type: a.type, aliases: a.aliases },
    checkpoint: a.checkpoint ?? {},
    source_run: a.sourceRun ?? null,
    // Top level too, so W&B plots can use them as the x-axis directly.
    epoch: a.checkpoint?.epoch ?? null,
    step: a.checkpoint?.step ?? null,
  };
  return withoutSecretKeys(cfg) as Record<string, unknown>;
}

function unwrapConfig(raw: string | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(jsonObject(raw))) {
    // `_wandb` is the SDK's telemetry, not ours.
    if (k !== '_wandb' && typeof v === 'object' && v !== null && 'value' in v) out[k] = (v as { value: unknown }).value;
  }
  return out;
}

/** B1: config as {"key": {"value": v}} (wandb-core runconfig.Serialize). */
function wrapConfig(cfg: Record<string, unknown>): Record<string, { value: unknown }> {
  return Object.fromEntries(Object.entries(cfg).map(([k, v]) => [k, { value: v }]));
}
