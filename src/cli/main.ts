#!/usr/bin/env node
/**
 * evalhook serve | worker | all | eval — the only place that reads process.env, listens, and
 * installs signal handlers. Every command imports only what it uses, when it runs: loading the
 * server, queue and W&B modules costs about a second, which `evalhook eval` and `--help` never need.
 */
import type { Started } from '../runtime.js';

const USAGE = `usage: evalhook <command>
  serve    HTTP API (webhook, admin API, metrics, docs)
  worker   evaluation worker (scale by running more of these)
  all      both in one process (npm start)
  eval     one MT-Bench run from the command line, no Redis (evalhook eval --help)
  dashboard  rebuild a project's W&B dashboard, or print its specs (evalhook dashboard --help)
  fetch-artifact
           download a checkpoint into a directory (init container of kind=kubernetes pods)`;

async function main(argv: string[]): Promise<number> {
  const [command = 'all', ...rest] = argv;
  if (command === 'eval') return (await import('./eval.js')).evalCommand(rest);
  if (command === 'dashboard')
    return (await import('./dashboard.js')).dashboardCommand(rest, {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    });
  if (command === 'fetch-artifact') return (await import('./fetch-artifact.js')).fetchArtifactCommand(rest);
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!['serve', 'worker', 'all'].includes(command)) {
    process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }

  const [{ ConfigError, loadConfig }, { loggerFor }, { startServer, startWorker }, { withDevTokens }] =
    await Promise.all([
      import('../config.js'),
      import('../logger.js'),
      import('../runtime.js'),
      import('./dev-tokens.js'),
    ]);
  const { env, file } = withDevTokens(process.env);
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 78; // EX_CONFIG
    }
    throw err;
  }
  const logger = loggerFor(config);
  if (file) logger.warn({ file }, 'development tokens in use (WEBHOOK_TOKEN/ADMIN_TOKEN not set); see this file');

  // Signal handlers go in before anything starts: a SIGTERM that arrives while the server or worker
  // is starting (or right after its "started" line) waits for the start, then closes it.
  const parts: Started[] = [];
  let startup: Promise<void> = Promise.resolve();
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // The last word: whatever Redis or a step does, the process is gone by SHUTDOWN_GRACE_MS + 5 s.
    const hardMs = config.env.SHUTDOWN_GRACE_MS + 5_000;
    setTimeout(() => {
      logger.error({ ms: hardMs }, 'shutdown did not finish in time: exiting anyway');
      process.exit(1);
    }, hardMs).unref();
    // Server and workers close side by side (each bounded): the server stops accepting and drains
    // while workers finish or hand back running evaluations.
    void (async () => {
      await startup.catch(() => undefined);
      await Promise.all(parts.map((p) => p.close().catch((err: unknown) => logger.error({ err }, 'close failed'))));
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  startup = (async () => {
    if (command !== 'worker') parts.push(await startServer(config, logger));
    if (command !== 'serve') parts.push(await startWorker(config, logger));
  })();
  await startup;
  return -1; // keep running
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`evalhook: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
