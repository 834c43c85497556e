/**
 * The judge's cost through the whole pipeline: profiles price the judge (the dated table, or
 * judge.prices), the summary carries a real costUsd, and judge.maxCostUsd fails the evaluation
 * once, with a reason, before the cap is crossed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { JUDGE_PRICES } from '../../src/judge-prices.js';
import { redisUrl } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const TOKENS = { WEBHOOK_TOKEN: 'webhook-token-0123456789', ADMIN_TOKEN: 'admin-token-0123456789ab' };

function withRules(profiles: unknown[]) {
  return () => loadConfig({ ...TOKENS, EVALHOOK_CONFIG: 'rules.json' }, () => JSON.stringify({ profiles }));
}

describe('judge prices in profiles', () => {
  it('the default judge and the README judges are priced; judge.prices overrides; a cap needs a price', () => {
    for (const model of ['gpt-4.1-2025-04-14', 'gpt-4o-2024-08-06', 'gpt-4'])
      expect(JUDGE_PRICES[model], model).toBeDefined();
    const config = withRules([
      { name: 'own', judge: { model: 'my-judge', prices: { input: 3, output: 12 }, maxCostUsd: 5 } },
    ])();
    expect(config.profiles.get('own')?.judge).toMatchObject({ prices: { input: 3, output: 12 }, maxCostUsd: 5 });
    expect(() => withRules([{ name: 'capped', judge: { model: 'my-judge', maxCostUsd: 5 } }])()).toThrow(
      /profile capped: judge\.maxCostUsd: a cost cap needs a price/,
    );
    expect(() => withRules([{ name: 'capped', judge: { model: 'gpt-4o-2024-08-06', maxCostUsd: 5 } }])()).not.toThrow();
    expect(() => withRules([{ name: 'bad', judge: { prices: { input: -1, output: 2 } } }])()).toThrow(ConfigError);
    expect(() => withRules([{ name: 'bad', judge: { prices: { inputPerMTok: 1, output: 2 } } }])()).toThrow(
      /judge\.prices/,
    );
  });
});

describe('judge cost in the pipeline (real Redis, fake endpoints, offline reporter)', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('costUsd in the summary is the judge tokens at the profile price; a cap fails the evaluation once, before it is crossed', async () => {
    const dir = tempDir('judge-cost');
    const rules = join(dir, 'rules.json');
    writeFileSync(
      rules,
      JSON.stringify({
        profiles: [
          { name: 'table', judge: { model: 'gpt-4.1-2025-04-14' } },
          // The whole evaluation would cost ~$0.07 here (short synthetic prompts); a call's worst case (2048
          // output tokens) is ~$0.02, so with two in flight the cap stops it part-way.
          { name: 'capped', judge: { prices: { input: 10, output: 10 }, maxCostUsd: 0.05, concurrency: 2 } },
        ],
      }),
    );
    stack = await startStack({ redisUrl: redisUrl(), env: { EVALHOOK_CONFIG: rules } });
    await stack.startWorker();

    const id = await stack.enqueue('acme/proj/model:v1', 'table');
    expect(await stack.finished(id)).toBe('completed');
    const view = await stack.service.get(id);
    const summary = JSON.parse(readFileSync(join(view!.localDir!, 'summary.json'), 'utf8')) as {
      costUsd: number | null;
      tokens: { judge: { promptTokens: number; completionTokens: number } };
    };
    const t = summary.tokens.judge;
    expect(t.promptTokens).toBeGreaterThan(0);
    expect(summary.costUsd).toBeCloseTo((t.promptTokens * 2 + t.completionTokens * 8) / 1e6, 9);
    const runConfig = JSON.parse(readFileSync(join(view!.localDir!, 'config.json'), 'utf8')) as { judge: unknown };
    expect(runConfig.judge).toMatchObject({
      model: 'gpt-4.1-2025-04-14',
      prices_usd_per_mtok: { input: 2, output: 8 },
      max_cost_usd: null,
    });

    const before = stack.judge.requests.length;
    const capped = await stack.enqueue('acme/proj/model:v2', 'capped');
    expect(await stack.finished(capped)).toBe('failed');
    const failed = await stack.service.get(capped);
    expect(failed?.error?.reason).toMatch(/judge\.maxCostUsd \$0\.0500 would be exceeded/);
    expect(failed?.attempts).toBe(1);
    const sent = stack.judge.requests.length - before;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(160);
  });
});
