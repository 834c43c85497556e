/**
 * DashboardSync against the fake W&B with real Redis: one update per project at a time across
 * workers, no duplicate from a create whose answer was lost, no write when nothing changed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisDashboardStore } from '../../src/jobs/dashboard-store.js';
import { DashboardSync, type SyncRequest } from '../../src/wandb/dashboard/index.js';
import { WandbClient } from '../../src/wandb/index.js';
import { startFakeWandb, type FakeWandb } from '../fakes/wandb-server.js';
import { redisClients } from '../helpers/redis-clients.js';
import { uniquePrefix } from '../helpers/redis.js';
import { schemaMissing } from './helpers.js';

const request: SyncRequest = {
  entity: 'acme-team',
  project: 'evals',
  views: ['workspace', 'report'],
  benchmarks: ['mt-bench'],
  judgeModels: ['judge-1'],
};

describe.skipIf(schemaMissing)('DashboardSync', () => {
  const redis = redisClients();
  let wb: FakeWandb | undefined;
  afterEach(async () => {
    await wb?.close();
    wb = undefined;
  });

  /** One "worker": its own Redis connection and W&B client, the shared prefix. */
  const worker = (prefix: string, fetchImpl?: typeof fetch) =>
    new DashboardSync(
      new WandbClient({ apiKey: wb!.apiKey, baseURL: wb!.url, fetch: fetchImpl, sleep: async () => {} }),
      createRedisDashboardStore(redis.connect(), prefix, { pollMs: 10 }),
    );
  const ops = (name: string) => wb!.requests.filter((r) => r.operationName === name);

  it('workers syncing one project at the same time leave one workspace view, one report, one preset', async () => {
    wb = await startFakeWandb();
    const prefix = uniquePrefix('dash');
    const results = await Promise.all([worker(prefix), worker(prefix), worker(prefix)].map((w) => w.sync(request)));
    expect(wb.state.views.ofType('project-view')).toHaveLength(1);
    expect(wb.state.views.ofType('runs')).toHaveLength(1);
    expect(wb.state.views.charts.size).toBe(1);
    expect(new Set(results.map((r) => r.reportUrl)).size).toBe(1);
    expect(results.flatMap((r) => r.warnings)).toEqual([]);
  });

  it('the per-project lock: a second worker waits until the first is done; other projects do not wait', async () => {
    const prefix = uniquePrefix('lock');
    const rB = redis.connect();
    let attempts = 0;
    let onAttempt = () => {};
    const set = rB.set.bind(rB);
    // Each SET NX is one try for the lock: the observable event the test waits on.
    rB.set = ((...args: Parameters<typeof set>) => {
      attempts += 1;
      onAttempt();
      return set(...args);
    }) as typeof rB.set;
    const a = createRedisDashboardStore(redis.connect(), prefix);
    const b = createRedisDashboardStore(rB, prefix, { pollMs: 5 });
    const events: string[] = [];
    let bDone: Promise<void> | undefined;
    await a.withLock('acme-team/evals', async () => {
      events.push('A start');
      bDone = b.withLock('acme-team/evals', async () => void events.push('B'));
      await new Promise<void>((resolve) => {
        onAttempt = () => attempts >= 2 && resolve(); // B tried, was refused, and tried again
      });
      await b.withLock('acme-team/other', async () => void events.push('B other project'));
      events.push('A end');
    });
    await bDone;
    expect(events).toEqual(['A start', 'B other project', 'A end', 'B']);
  });

  it('a create whose answer was lost is found by name, not sent again', async () => {
    wb = await startFakeWandb();
    let dropped = 0;
    // The request reaches W&B and is executed; the answer never comes back (a timeout after dispatch).
    const lossy: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const body =
        typeof init?.body === 'string'
          ? (JSON.parse(init.body) as { operationName?: string; variables?: { id?: string } })
          : {};
      if (body.operationName === 'UpsertView' && !body.variables?.id && dropped === 0) {
        dropped += 1;
        await res.arrayBuffer();
        throw new TypeError('fetch failed: socket hang up');
      }
      return res;
    };
    const r = await worker(uniquePrefix('dash'), lossy).sync({ ...request, views: ['workspace'] });
    expect(dropped).toBe(1);
    expect(r.warnings).toEqual([]);
    expect(r.workspaceUrl).toContain('?nw=evalhookmtbench');
    expect(wb.state.views.ofType('project-view')).toHaveLength(1);
    expect(ops('UpsertView')).toHaveLength(1);
    expect(ops('FindViews')).toHaveLength(2); // before the create, and the re-read after the lost answer
  });

  it('writes nothing when nothing changed, and everything again on a forced rebuild', async () => {
    wb = await startFakeWandb();
    const prefix = uniquePrefix('dash');
    await worker(prefix).sync(request);
    const writes = () => ops('UpsertView').length + ops('CreateCustomChart').length + ops('UpdateCustomChart').length;
    const before = writes();
    expect(before).toBe(3);
    const again = await worker(prefix).sync(request);
    expect(writes()).toBe(before);
    expect(again.reportUrl).toBeDefined();
    await worker(prefix).sync({ ...request, force: true });
    expect(ops('UpsertView').length).toBe(4); // workspace and report rewritten in place; preset unchanged so not updated
    expect(wb.state.views.views).toHaveLength(2);
  });

  it('a report saved unchanged (updatedAt newer, same content) is still ours: updated in place, no second report', async () => {
    wb = await startFakeWandb();
    const prefix = uniquePrefix('dash');
    const first = await worker(prefix).sync(request);
    const report = wb.state.views.ofType('runs')[0]!;
    wb.state.views.userEdit(report.id); // opened and saved, nothing changed
    const second = await worker(prefix).sync({ ...request, force: true });
    expect(wb.state.views.ofType('runs').map((v) => v.id)).toEqual([report.id]);
    expect(second.reportUrl).toBe(first.reportUrl);
    expect(second.warnings).toEqual([]);
  });

  it('a deleted report is written again (found missing by id, then by name)', async () => {
    wb = await startFakeWandb();
    const prefix = uniquePrefix('dash');
    const first = await worker(prefix).sync(request);
    wb.state.views.views = wb.state.views.views.filter((v) => v.type !== 'runs');
    const second = await worker(prefix).sync({ ...request, force: true });
    expect(wb.state.views.ofType('runs')).toHaveLength(1);
    expect(second.reportUrl).not.toBe(first.reportUrl);
    expect(second.warnings).toEqual([]);
  });
});
