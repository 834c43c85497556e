/**
 * kind=process: start the configured server command for one evaluation on leased GPUs, wait until
 * it answers GET /v1/models, and stop its whole process group when the evaluation ends, is
 * cancelled, times out, or the worker shuts down. A crash becomes a failure whose reason carries the
 * server's last log lines. What is started (artifact checks, command, description) is planned in
 * process-command.ts before a GPU is leased; this file holds the server's lifecycle.
 */
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import type { LaunchRequest, ServedModel } from '../ports.js';
import { placeholdersIn } from './command.js';
import { childEnv } from '../secrets.js';
import { abortReason, errorText, finalError, InferenceError, transientError } from './errors.js';
import type { GpuLease, GpuPool } from './gpu-pool.js';
import { listModels, type FetchFn } from './http.js';
import type { ServerRegistry } from './orphans.js';
import { planLaunch, type ProcessSettings } from './process-command.js';
import { startServerProcess, type ServerExit, type ServerProcess } from './server-process.js';

export interface ProcessLauncherOptions {
  /** Undefined when the worker has no GPU_IDS: only `gpus: 0` profiles can run. */
  pool: GpuPool | undefined;
  /** When set, a downloaded directory must lie inside it. */
  cacheRoot?: string;
  /** Scratch space: converted `.pt` adapters go to `<cacheRoot or workDir>/converted`. */
  workDir: string;
  /** The worker's environment; the server gets only its allow-listed part (the secret policy's childEnv: allow-list, inference.env, the lease's GPUs). */
  env: NodeJS.ProcessEnv;
  fetch: FetchFn;
  killGraceMs: number;
  readyPollMs: number;
  /** Records launched servers so a later launch can kill those of a worker that died. */
  registry?: ServerRegistry;
  logger?: Logger;
}

export interface ProcessLauncher {
  launch(req: LaunchRequest, settings: ProcessSettings): Promise<ServedModel>;
  shutdownAll(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function describeExit(e: ServerExit): string {
  if (e.spawnError) return `could not be started (${e.spawnError})`;
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${String(e.code)}`;
}

function withLastLines(message: string, server: ServerProcess): string {
  const lines = server.lastLines();
  return lines.length
    ? `${message}. Last server output:\n${lines.join('\n')}`
    : `${message} (the server printed nothing)`;
}

export function createProcessLauncher(opts: ProcessLauncherOptions): ProcessLauncher {
  /** Servers of this worker that are starting or running, for shutdownAll. */
  const running = new Set<(reason: string) => Promise<void>>();

  /** Polls /v1/models until it answers (listing `expect`, when given: another server on our port is not ours). */
  async function waitReady(
    baseURL: string,
    server: ServerProcess,
    timeoutMs: number,
    signal: AbortSignal,
    expect?: string,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    // One wake-up promise each (not one listener per poll, which would pile up over a long load).
    const aborted = new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      if (server.hasExited()) {
        const e = await server.exit;
        if (e.spawnError) throw finalError(`the inference command ${describeExit(e)}: check inference.command`);
        throw transientError(withLastLines(`the inference server ${describeExit(e)} before it was ready`, server));
      }
      if (Date.now() >= deadline)
        throw transientError(
          withLastLines(
            `the inference server was not ready within ${timeoutMs / 1000} s (inference.readyTimeoutSec)`,
            server,
          ),
        );
      try {
        const models = (
          await listModels(baseURL, {
            fetch: opts.fetch,
            signal,
            timeoutMs: Math.min(5_000, Math.max(500, deadline - Date.now())),
          })
        ).map((m) => m.id);
        if (expect === undefined || models.includes(expect)) return models;
        throw new Error(`serves ${models.join(', ')}, not ${expect}`);
      } catch {
        // Not listening yet, or still loading: poll again, waking early if it exits or we are cancelled.
        const wait = Math.max(0, Math.min(opts.readyPollMs, deadline - Date.now()));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([server.exit, aborted, new Promise((r) => (timer = setTimeout(r, wait)))]);
        clearTimeout(timer);
      }
    }
  }

  async function launch(req: LaunchRequest, settings: ProcessSettings): Promise<ServedModel> {
    const used = placeholdersIn(settings.command);
    if (!used.has('port'))
      throw finalError(
        'inference.command must pass {port} to the server (e.g. --port {port}): evalhook picks a free port and polls it',
      );
    if (settings.gpus > 0 && !opts.pool)
      throw finalError(`the profile asks for ${settings.gpus} GPU(s) but this worker has no GPU_IDS configured`);

    const { name, describe, fill } = await planLaunch(req, settings, used, opts);

    for (const line of (await opts.registry?.reapOrphans().catch(() => [])) ?? []) {
      req.log(`[evalhook] ${line}`);
      opts.logger?.warn({ evaluationId: req.evaluationId }, line);
    }
    const lease: GpuLease | undefined =
      settings.gpus > 0 && opts.pool
        ? await opts.pool.acquire(settings.gpus, {
            holder: req.evaluationId,
            signal: req.signal,
            onWait: (m) => req.log(`[evalhook] ${m}`),
            onLost: (m) => {
              req.log(`[evalhook] ${m}`);
              opts.logger?.warn({ evaluationId: req.evaluationId }, m);
            },
          })
        : undefined;
    // The port is picked last: the longer it sits unused, the likelier someone else takes it.
    const port = String(await freePort());
    const argv = fill(port);
    const gpuIds = lease?.ids ?? [];
    describe.gpuIds = gpuIds;
    req.log(`[evalhook] starting (CUDA_VISIBLE_DEVICES=${gpuIds.join(',')}): ${JSON.stringify(argv)}`);
    let server: ServerProcess;
    try {
      server = startServerProcess({
        argv,
        env: childEnv(opts.env, settings.env, { CUDA_VISIBLE_DEVICES: gpuIds.join(',') }),
        log: req.log,
        graceMs: opts.killGraceMs,
      });
    } catch (err) {
      await lease?.release();
      throw finalError(`cannot start ${argv[0] ?? ''}: ${errorText(err)}`, err);
    }

    const pid = server.pid;
    if (pid !== undefined)
      await opts.registry
        ?.record(pid, req.evaluationId)
        .catch((err: unknown) => opts.logger?.warn({ err }, 'could not record the server pid'));

    let stopped: Promise<void> | undefined;
    let stopReason: string | undefined;
    const onAbort = () => void stop('the evaluation was cancelled or the worker is shutting down');
    const stop = (reason: string): Promise<void> => {
      stopReason ??= reason;
      stopped ??= (async () => {
        req.signal.removeEventListener('abort', onAbort);
        try {
          await server.stop(reason);
        } finally {
          running.delete(stop);
          if (pid !== undefined) await opts.registry?.forget(pid).catch(() => undefined);
          await lease
            ?.release()
            .catch((err: unknown) =>
              opts.logger?.warn({ err }, 'releasing the GPU lease failed; it expires on its own'),
            );
        }
      })();
      return stopped;
    };
    running.add(stop);
    req.signal.addEventListener('abort', onAbort, { once: true });

    const baseURL = `http://127.0.0.1:${port}/v1`;
    let models: string[];
    try {
      models = await waitReady(
        baseURL,
        server,
        settings.readyTimeoutSec * 1000,
        req.signal,
        used.has('name') ? name : undefined,
      );
    } catch (err) {
      await stop(err instanceof InferenceError ? 'it failed to become ready' : 'the launch was aborted');
      // shutdownAll stopped it while starting: hand the job back rather than blame the server.
      if (stopReason?.startsWith('worker') && !req.signal.aborted)
        throw transientError(`the inference server was stopped while starting: ${stopReason}`);
      throw err;
    }
    const model = used.has('name') ? name : models[0];
    if (!model) {
      await stop('it serves no model');
      throw finalError('the inference server lists no models at /v1/models');
    }
    describe.model = model;

    // A crash mid-run: clean up at once and tell the pipeline, with the last lines as the reason.
    const exited = server.exit.then(async (e) => {
      if (stopped) return new Promise<string>(() => {}); // our own stop, not a crash: never settles
      const reason = withLastLines(`the inference server ${describeExit(e)} during the evaluation`, server);
      req.log(`[evalhook] ${reason.split('\n')[0] ?? reason}`);
      await stop('it exited on its own').catch(() => undefined);
      return reason;
    });
    return {
      baseURL,
      model,
      describe,
      exited,
      release: () => stop('the evaluation finished'),
    };
  }

  return {
    launch,
    async shutdownAll() {
      await Promise.all([...running].map((stop) => stop('worker shutting down')));
    },
  };
}
