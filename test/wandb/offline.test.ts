import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ResolvedArtifact } from '../../src/ports.js';
import { createOfflineReporter, runIdFor } from '../../src/wandb/index.js';
import { outcome, runContext } from './helpers.js';
import { tempDir } from '../helpers/tmp.js';

const artifact: ResolvedArtifact = {
  id: 'QXJ0aWZhY3Q6MQ==',
  entity: 'acme-org',
  project: 'wandb-registry-model',
  collection: 'llama-ft',
  version: 'v2',
  fullName: 'acme-org/wandb-registry-model/llama-ft:v2',
  type: 'model',
  digest: 'abc',
  aliases: [],
  metadata: {},
  files: [],
  checkpoint: { epoch: 2 },
};

describe('offline reporter', () => {
  it('writes summary, both tables and FastChat files under <dir>/<evaluationId>/', async () => {
    const dir = tempDir('offline');
    const reporter = createOfflineReporter({ dir });
    const ctx = runContext(artifact, undefined, 'eval-42');
    const h = await reporter.open(ctx);
    expect(h.runId).toBe(runIdFor('eval-42'));
    expect(h.localDir).toBe(join(dir, 'eval-42'));
    await h.logProgress({ 'progress/answers': 1 });
    await h.finish(outcome(7));
    await h.finish(outcome(7)); // a retried report rewrites the same files

    const read = (p: string) => readFileSync(join(h.localDir!, p), 'utf8');
    expect(JSON.parse(read('wandb-summary.json'))).toMatchObject({ 'mtbench/score': 7, 'mtbench/turn1': 7, epoch: 2 });
    expect(JSON.parse(read('summary.json'))).toMatchObject({ benchmark: 'mt-bench' });
    expect(JSON.parse(read('mtbench_output_table.json')).data).toHaveLength(4);
    expect(JSON.parse(read('mtbench_radar_table.json'))).toEqual({
      columns: ['category', 'score'],
      data: [
        ['math', 7],
        ['writing', 7],
      ],
    });
    const answers = read('model_answer/cand.jsonl').trim().split('\n');
    expect(answers).toHaveLength(2);
    expect(JSON.parse(answers[0]!).choices[0].turns).toEqual(['answer 81.1', 'answer 81.2']);
    expect(readdirSync(join(h.localDir!, 'model_judgment'))).toEqual(['judge-model-1_single.jsonl']);
    expect(JSON.parse(read('status.json')).state).toBe('finished');
    expect(read('config.json')).not.toContain('sk-should-never-appear');

    await h.finish(outcome(2), { failure: 'too many invalid judgments' });
    expect(JSON.parse(read('status.json'))).toMatchObject({ state: 'failed', reason: 'too many invalid judgments' });
    await h.fail('judge down');
    expect(JSON.parse(read('status.json'))).toMatchObject({ state: 'failed', reason: 'judge down' });
    expect((await reporter.writeBack(ctx, { score: 7 }))[0]).toMatch(/offline/);
  });

  it('keeps an unsafe evaluation id inside the results directory', async () => {
    const dir = tempDir('offline');
    const h = await createOfflineReporter({ dir }).open(runContext(artifact, undefined, '../../etc'));
    expect(h.localDir!.startsWith(dir + '/')).toBe(true);
  });
});
