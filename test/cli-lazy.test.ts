/**
 * `evalhook` loads per command (src/cli/main.ts): every command still works, and `eval --help`
 * loads none of the server, queue, W&B or SDK modules (which is what made it slow to start).
 */
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as runCliWith } from './helpers/cli.js';
import { redisUrl, uniquePrefix } from './helpers/redis.js';
import { REPO } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

/** The CLI with test/helpers/module-log.mjs preloaded: it records every module the process loads. */
const runCli = (args: string[], env: Record<string, string> = {}) =>
  runCliWith(args, env, [join(REPO, 'test/helpers/module-log.mjs')]);

const HEAVY = [
  '/node_modules/fastify/',
  '/node_modules/bullmq/',
  '/node_modules/ioredis/',
  '/node_modules/openai/',
  '/node_modules/pino/',
  '/src/runtime.ts',
  '/src/wandb/',
  '/src/server/',
  '/src/jobs/',
];

describe('evalhook CLI loads each command lazily', () => {
  it('eval --help prints the usage without loading server, queue, W&B or SDK modules', async () => {
    const log = join(tempDir('lazy'), 'modules.txt');
    writeFileSync(log, '');
    const cli = runCli(['eval', '--help'], { MODULE_LOG: log });
    const [code] = await once(cli.proc, 'exit');
    expect(code).toBe(0);
    expect(cli.out()).toContain('usage: evalhook eval');
    const loaded = readFileSync(log, 'utf8');
    expect(loaded).toContain('/src/cli/eval.ts'); // the log works: the command module itself is there
    for (const heavy of HEAVY) expect(loaded, heavy).not.toContain(heavy);
  });

  it('help, a usage error and an unknown command still answer', async () => {
    const help = runCli(['help']);
    expect((await once(help.proc, 'exit'))[0]).toBe(0);
    expect(help.out()).toContain('usage: evalhook <command>');
    const usage = runCli(['eval', '--model', 'x']);
    expect((await once(usage.proc, 'exit'))[0]).toBe(2);
    expect(usage.err()).toContain('--model-base-url is required');
    const unknown = runCli(['frobnicate']);
    expect((await once(unknown.proc, 'exit'))[0]).toBe(2);
    expect(unknown.err()).toContain('unknown command "frobnicate"');
  });

  it.each([
    ['serve', 'evalhook API listening'],
    ['worker', 'evalhook worker started'],
  ])('%s starts (its modules load on demand) and exits 0 on SIGTERM', async (command, ready) => {
    const cli = runCli([command], {
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: uniquePrefix('lazy'),
      PORT: '0',
      HOST: '127.0.0.1',
      EVALHOOK_DATA_DIR: tempDir('lazy'),
    });
    await new Promise<void>((resolve, reject) => {
      cli.proc.stdout.on('data', () => cli.out().includes(ready) && resolve());
      cli.proc.once('exit', (code) => reject(new Error(`exited ${code}: ${cli.err()}${cli.out()}`)));
    });
    const exited = once(cli.proc, 'exit');
    cli.proc.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });
});
