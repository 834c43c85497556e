/**
 * The W&B adapter: artifacts (resolve, download, production score) and the run reporter, built on
 * one client so feature detection happens once. Offline reporter for when there is no API key.
 */
import type { ArtifactSource, RunReporter } from '../ports.js';
import { ArtifactResolver } from './artifacts.js';
import { WandbClient, type RetryPolicy, type Sleep, type WandbLogger } from './client.js';
import type { StreamOptions } from './filestream.js';
import { downloadArtifact } from './download.js';
import { WandbReporter } from './run.js';

export { createOfflineReporter } from './offline.js';
export { WandbClient, WandbError, type WandbLogger, type RetryPolicy, type Sleep } from './client.js';
export { runIdFor, parseArtifactPath, parseNodeId, checkpointOf } from './names.js';

export interface WandbOptions {
  apiKey: string;
  /** https://api.wandb.ai by default; dedicated and self-managed hosts too. */
  baseURL?: string;
  /** WANDB_APP_URL: UI host for run links; derived from baseURL as the SDK does when unset. */
  appURL?: string;
  /** Downloads go to `<cacheDir>/artifacts/<digest>/`. */
  cacheDir: string;
  fetch?: typeof fetch;
  logger?: WandbLogger;
  /** Default entity (skips the Viewer query) and organisation for registry paths without a prefix. */
  entity?: string;
  organization?: string;
  /** GraphQL and storage retries (default wandb-core's: 20 at 2–60 s, Retry-After honoured). */
  retry?: Partial<RetryPolicy>;
  /** file_stream retries (default wandb-core's ~week) and the budget of the request carrying `complete`. */
  fileStreamRetry?: StreamOptions['retry'];
  finalRetry?: StreamOptions['finalRetry'];
  sleep?: Sleep;
  /** Clock (ms epoch) for run timing and Retry-After dates; tests inject a virtual one. */
  now?: () => number;
  timeoutMs?: number;
  /** file_stream heartbeat interval while a run is open; 0 disables (tests). */
  heartbeatMs?: number;
  /** Presigned file URLs per page when downloading. */
  filesPerPage?: number;
  /** Size cap of one artifact and of the whole artifact cache, in bytes (ARTIFACT_MAX_GB, ARTIFACT_CACHE_MAX_GB). */
  artifactMaxBytes?: number;
  artifactCacheMaxBytes?: number;
}

export interface Wandb {
  artifacts: ArtifactSource;
  reporter: RunReporter;
  client: WandbClient;
}

export function createWandb(opts: WandbOptions): Wandb {
  const client = new WandbClient({
    apiKey: opts.apiKey,
    baseURL: opts.baseURL,
    appURL: opts.appURL,
    now: opts.now,
    fetch: opts.fetch,
    logger: opts.logger,
    retry: opts.retry,
    sleep: opts.sleep,
    timeoutMs: opts.timeoutMs,
  });
  const resolver = new ArtifactResolver(client, { entity: opts.entity, organization: opts.organization });
  const artifacts: ArtifactSource = {
    resolve: (ref, signal) => resolver.resolve(ref, signal),
    download: (artifact, signal, sel) =>
      downloadArtifact(
        client,
        resolver,
        artifact,
        {
          cacheDir: opts.cacheDir,
          perPage: opts.filesPerPage,
          files: sel?.files,
          onBytes: sel?.onBytes,
          maxBytes: opts.artifactMaxBytes,
          cacheMaxBytes: opts.artifactCacheMaxBytes,
        },
        signal,
      ),
    scoreOfAlias: (artifact, alias, signal) => resolver.scoreOfAlias(artifact, alias, signal),
    trainingConfig: (artifact, signal) => resolver.trainingConfig(artifact, signal),
  };
  const reporter = new WandbReporter(client, resolver, {
    heartbeatMs: opts.heartbeatMs,
    fileStreamRetry: opts.fileStreamRetry,
    finalRetry: opts.finalRetry,
  });
  return { artifacts, reporter, client };
}
