import { describe, expect, it } from 'vitest';
import { keys, STAT_FIELDS } from '../../../src/jobs/keys.js';
import { createStats } from '../../../src/jobs/stats.js';
import { redisClients } from '../../helpers/redis-clients.js';
import { uniquePrefix } from '../../helpers/redis.js';

describe('createStats', () => {
  const { connect } = redisClients();

  it('sums counters from several workers and reads every field (missing = 0)', async () => {
    const prefix = uniquePrefix('stats');
    const s1 = createStats(connect(), prefix, { flushMs: 60_000 });
    const s2 = createStats(connect(), prefix, { flushMs: 60_000 });
    for (let i = 0; i < 50; i++) s1.add('judge_calls');
    s1.add('judge_prompt_tokens', 1200);
    s2.add('judge_calls', 5);
    s2.add('candidate_completion_tokens', 77);
    s2.addUsage('candidate', { promptTokens: 11, completionTokens: 3 });
    await s2.flush();
    const totals = await s1.read();
    expect(Object.keys(totals).sort()).toEqual([...STAT_FIELDS].sort());
    expect(totals).toMatchObject({
      judge_calls: 55,
      judge_prompt_tokens: 1200,
      candidate_calls: 1,
      candidate_prompt_tokens: 11,
      candidate_completion_tokens: 80,
      judge_cache_hits: 0,
    });
    await s1.close();
    await s2.close();
  });

  it('batches: nothing reaches Redis until a flush, then one HINCRBY per field', async () => {
    const prefix = uniquePrefix('stats');
    const r = connect();
    const s = createStats(r, prefix, { flushMs: 60_000 });
    s.add('candidate_calls');
    s.add('candidate_calls');
    expect(await r.exists(keys(prefix).stats)).toBe(0);
    await s.flush();
    expect(await r.hget(keys(prefix).stats, 'candidate_calls')).toBe('2');
    // a garbage value written by something else reads as 0 rather than NaN
    await r.hset(keys(prefix).stats, 'judge_calls', 'oops');
    expect((await s.read()).judge_calls).toBe(0);
    await s.close();
  });
});
