/**
 * B3/B5: each table also as a `run_table` artifact (`run-<runId>-<key>` holding `<key>.table.json`),
 * as the Python SDK logs it, so the summary's table-file value can carry `artifact_path` (the legacy
 * UI engine resolves tables through it). Identical content is deduplicated by digest, which also
 * makes a retried finish a no-op here.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseUploadHeaders, WandbError, type WandbClient } from './client.js';
import { COMMIT_ARTIFACT, CREATE_ARTIFACT, CREATE_ARTIFACT_FILES, CREATE_ARTIFACT_MANIFEST } from './documents.js';
import {
  CommitArtifactResponse,
  CreateArtifactFilesResponse,
  CreateArtifactManifestResponse,
  CreateArtifactResponse,
} from './responses.js';
import type { Table } from './results.js';

import type { RunPath } from './run.js';

export interface TableArtifactRef {
  artifact_path: string;
  _latest_artifact_path?: string;
}

/** B3: the artifact copy of a table uses the typed form with column types. */
export function typedTable(t: Table): Record<string, unknown> {
  const typeMap: Record<string, unknown> = {};
  t.columns.forEach((c, i) => {
    const kinds = new Set(t.data.map((row) => wbType(row[i])));
    const types = [...kinds].map((k) => ({ wb_type: k }));
    typeMap[c] =
      types.length === 1
        ? types[0]
        : types.length === 0
          ? { wb_type: 'any' }
          : { wb_type: 'union', params: { allowed_types: types } };
  });
  return {
    _type: 'table',
    columns: t.columns,
    data: t.data,
    ncols: t.columns.length,
    nrows: t.data.length,
    column_types: { wb_type: 'typedDict', params: { type_map: typeMap } },
    log_mode: 'IMMUTABLE',
  };
}

function wbType(v: unknown): string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  return 'any';
}

const md5b64 = (b: Buffer) => createHash('md5').update(b).digest('base64');
/** W&B client ids: 128 random base-36 characters (artifact.py generate_fast_id). */
const clientId = () => [...randomBytes(128)].map((b) => (b % 36).toString(36)).join('');

export async function logTableArtifact(
  client: WandbClient,
  path: RunPath,
  key: string,
  table: Table,
): Promise<TableArtifactRef> {
  const name = `run-${path.run}-${key}`;
  const fileName = `${key}.table.json`;
  const body = Buffer.from(JSON.stringify(typedTable(table)));
  const fileDigest = md5b64(body);
  // B4: hex md5 of the manifest entries, what the server stores as artifact.digest.
  const digest = createHash('md5').update(`wandb-artifact-manifest-v1\n${fileName}:${fileDigest}\n`).digest('hex');
  const sequenceClientID = clientId();
  const created = await client.graphql(
    CREATE_ARTIFACT,
    {
      input: {
        entityName: path.entity,
        projectName: path.project,
        runName: path.run,
        artifactTypeName: 'run_table',
        artifactCollectionName: name,
        digest,
        digestAlgorithm: 'MANIFEST_MD5',
        clientID: clientId(),
        sequenceClientID,
        enableDigestDeduplication: true,
        aliases: [{ alias: 'latest', artifactCollectionName: name }],
      },
    },
    CreateArtifactResponse,
  );
  const artifact = created.createArtifact?.artifact;
  if (!artifact) throw new WandbError('W&B CreateArtifact returned nothing', true);
  const artifactPath = `wandb-artifact://${Buffer.from(artifact.id, 'base64').toString('hex')}/${fileName}`;
  // Deduplicated: our new client ids were never registered, so only the server-id form is safe.
  if (artifact.state === 'COMMITTED') return { artifact_path: artifactPath };
  const ref = {
    artifact_path: artifactPath,
    _latest_artifact_path: `wandb-client-artifact://${sequenceClientID}:latest/${fileName}`,
  };

  const manifestVars = {
    artifactID: artifact.id,
    baseArtifactID: artifact.artifactSequence.latestArtifact?.id,
    name: 'wandb_manifest.json',
    entityName: path.entity,
    projectName: path.project,
    runName: path.run,
    manifestType: 'FULL',
  };
  const record = await client.graphql(
    CREATE_ARTIFACT_MANIFEST,
    { ...manifestVars, digest: '', includeUpload: false },
    CreateArtifactManifestResponse,
  );
  const manifestId = record.createArtifactManifest?.artifactManifest.id;
  if (!manifestId) throw new WandbError('W&B CreateArtifactManifest returned nothing', true);

  const files = await client.graphql(
    CREATE_ARTIFACT_FILES,
    {
      artifactFiles: [{ artifactID: artifact.id, artifactManifestID: manifestId, name: fileName, md5: fileDigest }],
      storageLayout: 'V2',
    },
    CreateArtifactFilesResponse,
  );
  const node = files.createArtifactFiles?.files.edges[0]?.node;
  if (!node) throw new WandbError('W&B CreateArtifactFiles returned no file', true);
  if (node.uploadUrl)
    await client.storage('PUT', node.uploadUrl, { headers: parseUploadHeaders(node.uploadHeaders), body });

  const manifest = Buffer.from(
    JSON.stringify({
      version: 1,
      storagePolicy: 'wandb-storage-policy-v1',
      storagePolicyConfig: { storageLayout: 'V2' },
      contents: {
        [fileName]: { digest: fileDigest, birthArtifactID: node.artifact?.id ?? artifact.id, size: body.length },
      },
    }),
  );
  const upload = await client.graphql(
    CREATE_ARTIFACT_MANIFEST,
    { ...manifestVars, digest: md5b64(manifest), includeUpload: true },
    CreateArtifactManifestResponse,
  );
  const file = upload.createArtifactManifest?.artifactManifest.file;
  if (file?.uploadUrl)
    await client.storage('PUT', file.uploadUrl, {
      headers: parseUploadHeaders(file.uploadHeaders ?? []),
      body: manifest,
    });
  await client.graphql(COMMIT_ARTIFACT, { artifactID: artifact.id }, CommitArtifactResponse);
  return ref;
}
