/** Servers of a worker that died without stopping them are killed by the next launch on the host. */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInferenceLauncher } from '../../src/inference/index.js';
import { readFileSync } from 'node:fs';
import { createServerRegistry } from '../../src/inference/orphans.js';
import { redisUrl, uniquePrefix } from '../helpers/redis.js';
import { artifact, collectLog, fakeCommand, groupAlive, profile, tempDir, waitFor, writeFull } from './helpers.js';

/**
 * The test's own oracle for a process's start time: proc(5) says field 22 of /proc/<pid>/stat is
 * "starttime" (clock ticks since boot); the command name (field 2) may hold spaces, so count from the
 * closing parenthesis. Undefined when the process is gone or a zombie.
 */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const after = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // field 3 (state) onwards
    return after[0] === 'Z' ? undefined : after[22 - 3];
  } catch {
    return undefined;
  }
}

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl());
});
afterAll(async () => {
  await redis.quit();
});

/** A detached sleeper standing in for a server; returns its pid (= its process group). */
function sleeper(): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { detached: true, stdio: 'ignore' });
  child.unref();
  if (child.pid === undefined) throw new Error('spawn failed');
  return child.pid;
}

async function writeRecord(dir: string, server: number, owner: { pid: number; start: string }): Promise<void> {
  await mkdir(dir, { recursive: true });
  const host = hostname();
  const rec = { host, owner, server: { pid: server, start: processStart(server) }, evaluationId: `ev-${server}` };
  await writeFile(join(dir, `${host.replace(/[^A-Za-z0-9_.-]/g, '_')}-${server}.json`), JSON.stringify(rec));
}

describe('orphaned servers', () => {
  it('kills the servers of a dead worker and leaves those of a live one', async () => {
    const dir = join(await tempDir('srv'), 'servers');
    const orphan = sleeper();
    const owned = sleeper();
    await waitFor(() => processStart(orphan) !== undefined && processStart(owned) !== undefined, 'sleepers to start');
    await writeRecord(dir, orphan, { pid: 999_999, start: '1' }); // its worker is gone
    await writeRecord(dir, owned, { pid: process.pid, start: processStart(process.pid) ?? '' }); // this worker is alive
    try {
      const killed = await createServerRegistry(dir).reapOrphans();
      expect(killed).toEqual([expect.stringContaining(`process group ${orphan}`)]);
      await waitFor(() => !groupAlive(orphan), 'the orphan to be gone');
      expect(groupAlive(owned)).toBe(true);
      expect(readdirSync(dir)).toHaveLength(1);
    } finally {
      for (const pid of [orphan, owned]) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });

  it('records a launched server while it runs and forgets it on release', async () => {
    const cache = await tempDir('cache');
    const work = await tempDir('work');
    const modelDir = await writeFull(join(cache, 'd'));
    const launcher = createInferenceLauncher({
      redis,
      prefix: uniquePrefix('orph'),
      secrets: {},
      gpuIds: ['0'],
      workDir: work,
      killGraceMs: 500,
      pollMs: 100,
    });
    const orphan = sleeper();
    await waitFor(() => processStart(orphan) !== undefined, 'the sleeper to start');
    await writeRecord(join(work, 'servers'), orphan, { pid: 999_999, start: '1' });
    const { lines, log } = collectLog();
    const served = await launcher.launch({
      evaluationId: 'ev-orphans',
      profile: profile({ kind: 'process', command: fakeCommand() }),
      artifact: artifact(),
      download: async () => modelDir,
      signal: new AbortController().signal,
      log,
    });
    expect(lines.some((l) => l.includes('killed the orphaned inference server'))).toBe(true);
    await waitFor(() => !groupAlive(orphan), 'the orphan to be gone');
    expect(readdirSync(join(work, 'servers'))).toHaveLength(1); // the running server's own record
    await served.release();
    expect(readdirSync(join(work, 'servers'))).toEqual([]);
    expect(existsSync(join(work, 'servers'))).toBe(true);
  });
});
