/**
 * Contracts between the job pipeline (src/jobs) and its adapters (src/wandb, src/inference).
 * The pipeline depends on these; adapters implement them; tests swap in fakes.
 */
import type { Profile } from './profile.js';
import type { BenchmarkQuestion, EvalRecord, EvalSummary } from './eval/types.js';

/** How a trigger names an artifact version: the webhook's node id, a full name, or both. */
export interface ArtifactRef {
  /** GraphQL node id, the base64 part of `wandb-artifact://_id/<id>`. */
  id?: string;
  /** `[org/]entity/project/collection:vN` or `:alias`. */
  name?: string;
}

export interface ArtifactFile {
  /** Path inside the artifact (validated: relative, no `..`). */
  path: string;
  size: number;
  /** base64 md5 from the manifest. */
  md5?: string;
}

export interface ResolvedArtifact {
  id: string;
  entity: string;
  project: string;
  collection: string;
  /** `vN` */
  version: string;
  /** entity/project/collection:vN */
  fullName: string;
  type: string;
  digest: string;
  aliases: string[];
  metadata: Record<string, unknown>;
  /** The run that logged the artifact (lineage); evaluations of its checkpoints share a W&B group. */
  sourceRun?: { entity: string; project: string; name: string; displayName?: string };
  /**
   * Set when the trigger's name resolved to another version than its id (the id was used): the
   * worker re-checks the version against the rule that queued it.
   */
  nameDisagreement?: string;
  /** Checkpoint position from metadata (epoch/step) or the version number. */
  checkpoint?: { epoch?: number; step?: number };
  /** What `checkpoint` was derived from, to re-derive it once the checkpoint file's own epoch is read. */
  checkpointNames?: string[];
  files: ArtifactFile[];
}

export interface DownloadSelection {
  /** Only these manifest paths (e.g. the adapter's files); all when absent. */
  files?: readonly string[];
  /** Called with the size of every chunk actually fetched (0 calls on a cache hit). */
  onBytes?(n: number): void;
}

export interface ArtifactSource {
  resolve(ref: ArtifactRef, signal?: AbortSignal): Promise<ResolvedArtifact>;
  /** Download into a cache keyed by digest (md5-checked); returns the local directory. */
  download(artifact: ResolvedArtifact, signal?: AbortSignal, opts?: DownloadSelection): Promise<string>;
  /** The score of the version holding `alias` in the same collection, from its metadata (for mustBeatProduction). */
  scoreOfAlias?(artifact: ResolvedArtifact, alias: string, signal?: AbortSignal): Promise<number | undefined>;
  /**
   * The config of the run that logged the artifact (`sourceRun`), values unwrapped: for torchtune the
   * recipe YAML its WandBLogger logged. Undefined when there is no such run or it logged no config.
   */
  trainingConfig?(artifact: ResolvedArtifact, signal?: AbortSignal): Promise<Record<string, unknown> | undefined>;
}

/** What the pipeline knows about one evaluation when it opens its W&B run. */
export interface RunContext {
  evaluationId: string;
  profile: Profile;
  artifact: ResolvedArtifact;
  /** Non-secret config: benchmark, data checksums, judge, prompts, generation, inference target. */
  config: Record<string, unknown>;
  /** ms epoch of the evaluation's first start (kept across retries and workers): the run's runtime counts from it. */
  startedAt?: number;
}

export interface RunHandle {
  runId: string;
  url?: string;
  /** A local directory instead of a URL when running offline. */
  localDir?: string;
  /** One history step (progress curves); best effort, never fails the evaluation. */
  logProgress(metrics: Record<string, number>): Promise<void>;
  /**
   * Summary, both tables, FastChat files, then the run's one exit: exit code 0, or 1 with `failure`
   * (an outcome decided before finishing, e.g. too many invalid judgments). A finished run is left alone.
   */
  finish(
    result: { summary: EvalSummary; records: EvalRecord[]; questions: BenchmarkQuestion[] },
    outcome?: { failure?: string },
  ): Promise<void>;
  /** Finish the run as failed with a reason a person can act on. */
  fail(reason: string): Promise<void>;
  /** This attempt is done with the run without finishing it (heartbeats stop; a later attempt reopens it). */
  release?(): void;
}

/** Links to the project's dashboard in W&B (or its specs' directory offline), and why a part was not written. */
export interface DashboardOutcome {
  workspaceUrl?: string;
  reportUrl?: string;
  localDir?: string;
  warnings: string[];
}

export interface DashboardUpdater {
  /** Brings the dashboard of the evaluation's project up to date; never throws (trouble becomes warnings). */
  afterEvaluation(
    ctx: RunContext,
    outcome: { score: number | null; runUrl?: string },
    signal?: AbortSignal,
  ): Promise<DashboardOutcome>;
}

export interface RunReporter {
  /** Create or reopen the run for this evaluation (run id derived from the evaluation id). */
  open(ctx: RunContext, signal?: AbortSignal): Promise<RunHandle>;
  /** Registry write-back per profile.writeBack; returns what it did. */
  writeBack(
    ctx: RunContext,
    outcome: { score: number | null; runUrl?: string; reportUrl?: string },
    signal?: AbortSignal,
  ): Promise<string[]>;
}

/** A ready OpenAI-compatible endpoint for the candidate model. */
export interface ServedModel {
  baseURL: string;
  model: string;
  apiKey?: string;
  headers?: Record<string, string>;
  /** Human-readable target, recorded in W&B config (no secrets). */
  describe: Record<string, unknown>;
  /**
   * Launched servers only (kind=process): resolves with a reason (incl. the server's last log
   * lines) if the server dies on its own during the evaluation; never settles after release().
   */
  exited?: Promise<string>;
  /**
   * Set when what is served is not the artifact (profile inference.fallbackToModel): its score
   * belongs to `evaluatedModel`, so nothing is written back to the registry.
   */
  fallback?: { evaluatedModel: string; reason: string };
  /** Runtime adapters only: load the adapter again (the server restarted and forgot it). */
  reload?(): Promise<void>;
  /** Unload/kill/release leases; idempotent. */
  release(): Promise<void>;
}

export interface LaunchRequest {
  evaluationId: string;
  profile: Profile;
  artifact: ResolvedArtifact;
  /**
   * Lazily downloads the artifact (launchers that need files call it; wandb-inference does not),
   * or only `files` of it when a LoRA adapter is what gets served.
   */
  download(files?: readonly string[]): Promise<string>;
  /** The creating training run's config (ArtifactSource.trainingConfig), fetched only when a conversion needs it. */
  trainingConfig?(): Promise<Record<string, unknown> | undefined>;
  signal: AbortSignal;
  log(line: string): void;
}

export interface InferenceLauncher {
  launch(req: LaunchRequest): Promise<ServedModel>;
}
