import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { redisUrl, uniquePrefix } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

describe('evalhook CLI', () => {
  it('fails fast in production with one message listing every invalid or missing variable', async () => {
    const cli = runCli(['all'], { NODE_ENV: 'production', PORT: 'eighty', REDIS_URL: 'http://nope' });
    const [code] = await once(cli.proc, 'exit');
    expect(code).toBe(78);
    for (const name of ['WEBHOOK_TOKEN', 'ADMIN_TOKEN', 'PORT', 'REDIS_URL']) expect(cli.err()).toContain(name);
  });

  it('serves, answers /healthz, and exits 0 on SIGTERM; dev tokens are generated but never logged', async () => {
    const dataDir = tempDir('cli');
    const cli = runCli(['all'], {
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: uniquePrefix('cli'),
      PORT: '0',
      HOST: '127.0.0.1',
      EVALHOOK_DATA_DIR: dataDir,
    });
    const url = await new Promise<string>((resolve, reject) => {
      cli.proc.stdout.on('data', () => {
        const m = /"url":"(http:[^"]+)"[^\n]*evalhook API listening/.exec(cli.out());
        if (m && cli.out().includes('evalhook worker started')) resolve(m[1]!);
      });
      cli.proc.once('exit', (code) => reject(new Error(`exited ${code}: ${cli.err()}${cli.out()}`)));
    });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    const { readFileSync } = await import('node:fs');
    const tokens = JSON.parse(readFileSync(join(dataDir, 'dev-tokens.json'), 'utf8')) as {
      WEBHOOK_TOKEN: string;
      ADMIN_TOKEN: string;
    };
    const admin = await fetch(`${url}/api/v1/evaluations`, {
      headers: { authorization: `Bearer ${tokens.ADMIN_TOKEN}` },
    });
    expect(admin.status).toBe(200);
    const exited = once(cli.proc, 'exit');
    cli.proc.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(cli.out()).toContain('dev-tokens.json');
    expect(cli.out() + cli.err()).not.toContain(tokens.WEBHOOK_TOKEN);
    expect(cli.out() + cli.err()).not.toContain(tokens.ADMIN_TOKEN);
  });
});
