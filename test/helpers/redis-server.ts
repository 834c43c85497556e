import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A redis-server child owned by one test (or the whole run): tests that kill or restart Redis use their own. */
export interface OwnedRedis {
  url: string;
  port: number;
  dir: string;
  /** Kill the server (SIGKILL by default, as a crash would). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port and data dir (AOF replays what was acknowledged). */
  restart(): Promise<void>;
  /** Stop for good and remove the data dir. */
  dispose(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function startRedisServer(opts: { appendonly?: boolean } = {}): Promise<OwnedRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'evalhook-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const args = [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      opts.appendonly ? 'yes' : 'no',
      '--appendfsync',
      'always',
    ];
    const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (b: Buffer) => {
        out += b.toString();
        if (out.includes('Ready to accept connections')) {
          c.stdout?.off('data', onData);
          c.stdout?.resume();
          resolve();
        }
      };
      c.stdout?.on('data', onData);
      c.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${out.slice(-500)}`)));
      c.once('error', reject);
    });
  };

  const stop = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill(signal);
    await exited;
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    restart: start,
    dispose: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
