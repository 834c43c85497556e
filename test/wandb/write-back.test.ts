import { afterEach, describe, expect, it } from 'vitest';
import type { WriteBack } from '../../src/profile.js';
import { outcome, profile, runContext, schemaMissing, setup } from './helpers.js';

type Setup = Awaited<ReturnType<typeof setup>>;
let s: Setup | undefined;
afterEach(async () => {
  await s?.wb.close();
  s = undefined;
});

async function evaluated(writeBack: Partial<WriteBack>, score: number, prodScore?: number) {
  s = await setup();
  if (prodScore !== undefined) {
    const prod = s.wb.seedArtifact({
      entity: 'acme-team',
      project: 'llama-sft',
      collection: 'llama ft',
      files: { w: 'prod' },
      metadata: { mtbench: { score: prodScore } },
    });
    s.wb.linkToRegistry(prod, { collection: 'llama-ft', aliases: ['production'] });
  }
  const artifact = await s.wandb.artifacts.resolve({ name: 'acme-org/wandb-registry-model/llama-ft:v0' });
  const ctx = runContext(artifact, profile({ writeBack: { metadata: true, mustBeatProduction: false, ...writeBack } }));
  const h = await s.wandb.reporter.open(ctx);
  await h.finish(outcome(score));
  const lines = await s.wandb.reporter.writeBack(ctx, { score, runUrl: h.url }, undefined);
  return { s, lines, artifact, url: h.url! };
}

describe.skipIf(schemaMissing)('registry write-back', () => {
  it('merges score and run URL into the version metadata without clobbering it', async () => {
    const { s, lines, artifact, url } = await evaluated({}, 7.5);
    expect(s.wb.artifact(artifact.id).metadata).toEqual({
      epoch: 3,
      lr: 1e-4,
      mtbench: {
        score: 7.5,
        run_url: url,
        benchmark: 'mt-bench',
        judge_model: 'judge-model-1',
        profile: 'default',
        evaluation_id: 'eval-1',
      },
    });
    expect(lines.join('\n')).toMatch(/metadata: mtbench.score=7.50/);
  });

  it('adds the alias and tag when the score clears the threshold', async () => {
    const { s, lines, artifact } = await evaluated(
      { threshold: 7, aliasOnPass: 'mtbench-passed', tagOnPass: 'mtbench-ok' },
      7.5,
    );
    expect(s.wb.aliasesOf('acme-org/wandb-registry-model/llama-ft:v0')).toContain('mtbench-passed');
    expect(s.wb.artifact(artifact.id).tags).toEqual(['mtbench-ok']);
    expect(lines.some((l) => l.includes('alias "mtbench-passed" added'))).toBe(true);
  });

  it('adds nothing below the threshold', async () => {
    const { s, lines, artifact } = await evaluated({ threshold: 8, aliasOnPass: 'staging' }, 7.5);
    expect(s.wb.aliasesOf('acme-org/wandb-registry-model/llama-ft:v0')).not.toContain('staging');
    expect(s.wb.artifact(artifact.id).tags).toEqual([]);
    expect(lines.some((l) => l.startsWith('not promoted: score 7.50 is below the threshold 8'))).toBe(true);
  });

  it('mustBeatProduction: promotes only above the production version score', async () => {
    const lost = await evaluated({ threshold: 5, aliasOnPass: 'staging', mustBeatProduction: true }, 7.5, 8);
    expect(lost.s.wb.aliasesOf('acme-org/wandb-registry-model/llama-ft:v0')).not.toContain('staging');
    expect(lost.lines.some((l) => l.includes("does not beat production's 8"))).toBe(true);
    await lost.s.wb.close();
    s = undefined;
    const won = await evaluated({ threshold: 5, aliasOnPass: 'staging', mustBeatProduction: true }, 8.5, 8);
    expect(won.s.wb.aliasesOf('acme-org/wandb-registry-model/llama-ft:v0')).toContain('staging');
    expect(won.lines.some((l) => l.includes('beats production (8.50 > 8)'))).toBe(true);
  });

  it('scoreOfAlias reads the production score from metadata', async () => {
    const { s, artifact } = await evaluated({}, 7, 6.25);
    expect(await s.wandb.artifacts.scoreOfAlias!(artifact, 'production')).toBe(6.25);
    expect(await s.wandb.artifacts.scoreOfAlias!(artifact, 'no-such-alias')).toBeUndefined();
  });

  it('writes nothing without a score', async () => {
    s = await setup();
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const lines = await s.wandb.reporter.writeBack(runContext(artifact), { score: null });
    expect(lines).toEqual([expect.stringMatching(/no score/)]);
    expect(s.wb.requests.some((r) => r.operationName === 'UpdateArtifact')).toBe(false);
  });

  it('a refused write (permissions) becomes a FAILED line, and the rest still happens', async () => {
    s = await setup();
    s.wb.deny('UpdateArtifact', 'You do not have permission to update this artifact');
    const artifact = await s.wandb.artifacts.resolve({ name: s.linked.fullName });
    const ctx = runContext(
      artifact,
      profile({
        writeBack: { metadata: true, mustBeatProduction: false, threshold: 5, aliasOnPass: 'mtbench-passed' },
      }),
    );
    const lines = await s.wandb.reporter.writeBack(ctx, { score: 7 });
    expect(lines[0]).toMatch(/^metadata FAILED .*permission/);
    expect(s.wb.aliasesOf(s.linked.fullName)).toContain('mtbench-passed');
    expect(s.wb.artifact(artifact.id).metadata).not.toHaveProperty('mtbench');
  });
});
