/**
 * Registry write-back (B6) per profile.writeBack: score and run URL merged into the evaluated
 * version's metadata, alias/tag when the score clears the threshold (optionally only when it beats
 * the version holding `production`). Returns one human-readable line per decision.
 * Permission problems become lines rather than errors: the evaluation itself succeeded; only
 * retryable failures throw, so the job retries reporting.
 */
import type { RunContext } from '../ports.js';
import type { ArtifactResolver } from './artifacts.js';
import { WandbError, type WandbClient } from './client.js';
import { ADD_ALIASES, UPDATE_ARTIFACT } from './documents.js';
import { AddAliasesResponse, UpdateArtifactResponse } from './responses.js';

export async function writeBack(
  client: WandbClient,
  resolver: ArtifactResolver,
  ctx: RunContext,
  outcome: { score: number | null; runUrl?: string; reportUrl?: string },
  signal?: AbortSignal,
): Promise<string[]> {
  const wb = ctx.profile.writeBack;
  const a = ctx.artifact;
  const lines: string[] = [];
  const { score } = outcome;
  if (score === null) return [`no score for ${a.fullName}: nothing written back`];

  const attempt = async (what: string, fn: () => Promise<string>) => {
    try {
      lines.push(await fn());
    } catch (err) {
      if (err instanceof WandbError && !err.retryable) {
        client.log.warn({ err: err.message, artifact: a.fullName }, `write-back: ${what} failed`);
        lines.push(`${what} FAILED on ${a.fullName}: ${err.message}`);
        return;
      }
      throw err;
    }
  };

  if (wb.metadata) {
    await attempt('metadata', async () => {
      // B6: UpdateArtifact replaces the whole dict: read, merge, write.
      const current = await resolver.metadataOf(a.id, signal);
      const prev = typeof current.mtbench === 'object' && current.mtbench !== null ? current.mtbench : {};
      const mtbench = {
        ...prev,
        score,
        run_url: outcome.runUrl ?? null,
        // The project's dashboard report: where this score sits among the other checkpoints.
        ...(outcome.reportUrl ? { report_url: outcome.reportUrl } : {}),
        benchmark: ctx.profile.benchmark,
        judge_model: ctx.profile.judge.model,
        profile: ctx.profile.name,
        evaluation_id: ctx.evaluationId,
      };
      const metadata = JSON.stringify({ ...current, mtbench });
      await client.graphql(UPDATE_ARTIFACT, { input: { artifactID: a.id, metadata } }, UpdateArtifactResponse, {
        signal,
      });
      return `metadata: mtbench.score=${fmt(score)}${outcome.runUrl ? ` and run URL ${outcome.runUrl}` : ''} written to ${a.fullName}`;
    });
  }

  if (!wb.aliasOnPass && !wb.tagOnPass) return lines;
  if (wb.threshold !== undefined && score < wb.threshold) {
    lines.push(`not promoted: score ${fmt(score)} is below the threshold ${fmt(wb.threshold)}`);
    return lines;
  }
  const passed =
    wb.threshold !== undefined ? `score ${fmt(score)} >= threshold ${fmt(wb.threshold)}` : `score ${fmt(score)}`;

  if (wb.mustBeatProduction) {
    // A version that already holds production competes with itself: that is not a reason to refuse.
    const prod = a.aliases.includes('production') ? undefined : await resolver.scoreOfAlias(a, 'production', signal);
    if (prod !== undefined && score <= prod) {
      lines.push(`not promoted: score ${fmt(score)} does not beat production's ${fmt(prod)}`);
      return lines;
    }
    lines.push(
      prod === undefined ? 'no scored production version to beat' : `beats production (${fmt(score)} > ${fmt(prod)})`,
    );
  }

  if (wb.aliasOnPass) {
    const alias = wb.aliasOnPass;
    await attempt(`alias ${alias}`, async () => {
      const aliases = [{ alias, entityName: a.entity, projectName: a.project, artifactCollectionName: a.collection }];
      await client.graphql(ADD_ALIASES, { input: { artifactID: a.id, aliases } }, AddAliasesResponse, { signal });
      return `alias "${alias}" added to ${a.fullName} (${passed})`;
    });
  }
  if (wb.tagOnPass) {
    const tag = wb.tagOnPass;
    await attempt(`tag ${tag}`, async () => {
      await client.graphql(
        UPDATE_ARTIFACT,
        { input: { artifactID: a.id, tagsToAdd: [{ tagName: tag }] } },
        UpdateArtifactResponse,
        { signal },
      );
      return `tag "${tag}" added to ${a.fullName} (${passed})`;
    });
  }
  return lines;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));
