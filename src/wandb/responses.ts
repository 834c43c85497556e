/**
 * zod shapes of the W&B responses we read. Only the fields we select (documents.ts); loose objects so
 * a server adding fields never breaks us, nullable where the schema says so.
 */
import { z } from 'zod';

const NamedProject = z.object({ name: z.string(), entity: z.object({ name: z.string() }) });

export const ArtifactNode = z.object({
  id: z.string(),
  digest: z.string(),
  state: z.string(),
  size: z.union([z.number(), z.string()]).nullish(),
  fileCount: z.union([z.number(), z.string()]).nullish(),
  versionIndex: z.number().int().nullable(),
  description: z.string().nullable(),
  metadata: z.string().nullable(),
  createdAt: z.string(),
  artifactType: z.object({ name: z.string() }),
  artifactSequence: z.object({ name: z.string(), project: NamedProject.nullable() }),
  aliases: z.array(z.object({ alias: z.string(), artifactCollectionName: z.string() })),
  currentManifest: z.object({ file: z.object({ directUrl: z.string() }) }).nullable(),
  createdBy: z
    .object({
      __typename: z.string(),
      name: z.string().optional(),
      displayName: z.string().nullish(),
      project: NamedProject.nullish(),
    })
    .nullable(),
});
export type ArtifactNode = z.infer<typeof ArtifactNode>;

export const MembershipResponse = z.object({
  project: z
    .object({
      artifactCollectionMembership: z
        .object({
          id: z.string(),
          versionIndex: z.number().int().nullable(),
          aliases: z.array(z.object({ alias: z.string() })),
          artifactCollection: z
            .object({ __typename: z.string(), name: z.string(), project: NamedProject.nullable() })
            .nullable(),
          artifact: ArtifactNode.nullable(),
        })
        .nullable(),
    })
    .nullable(),
});

export const LegacyArtifactResponse = z.object({ project: z.object({ artifact: ArtifactNode.nullable() }).nullable() });
export const ArtifactByIdResponse = z.object({ artifact: ArtifactNode.nullable() });

export const ManifestUrlResponse = z.object({
  artifact: z
    .object({ currentManifest: z.object({ file: z.object({ directUrl: z.string() }) }).nullable() })
    .nullable(),
});

const FilePage = z.object({
  pageInfo: z.object({ endCursor: z.string().nullable(), hasNextPage: z.boolean() }),
  edges: z.array(z.object({ node: z.object({ name: z.string(), directUrl: z.string() }).nullable() })),
});
export type FilePage = z.infer<typeof FilePage>;

export const MembershipFilesResponse = z.object({
  project: z
    .object({
      artifactCollection: z
        .object({ artifactMembership: z.object({ files: FilePage.nullable() }).nullable() })
        .nullable(),
    })
    .nullable(),
});
export const ArtifactFilesResponse = z.object({ artifact: z.object({ files: FilePage }).nullable() });

export const RunConfigResponse = z.object({
  project: z
    .object({ run: z.object({ id: z.string(), name: z.string(), config: z.string().nullable() }).nullable() })
    .nullable(),
});

export const ViewerResponse = z.object({
  viewer: z.object({ id: z.string(), entity: z.string().nullable(), username: z.string().nullable() }).nullable(),
});

const OrgInfo = z.object({ name: z.string(), orgEntity: z.object({ name: z.string() }).nullable() });
export const OrgInfoResponse = z.object({
  entity: z
    .object({ organization: OrgInfo.nullable(), user: z.object({ organizations: z.array(OrgInfo) }).nullable() })
    .nullable(),
});
export const OrganizationResponse = z.object({
  organization: z
    .object({ id: z.string(), name: z.string(), orgEntity: z.object({ id: z.string(), name: z.string() }).nullable() })
    .nullable(),
});

export const UpsertBucketResponse = z.object({
  upsertBucket: z
    .object({
      bucket: z
        .object({
          id: z.string(),
          name: z.string(),
          displayName: z.string().nullable(),
          config: z.string().nullable(),
          summaryMetrics: z.string().nullable(),
          historyLineCount: z.number().int().nullable(),
          project: NamedProject.nullable(),
        })
        .nullable(),
      inserted: z.boolean().nullable(),
    })
    .nullable(),
});

export const RunResumeStatusResponse = z.object({
  model: z
    .object({
      name: z.string(),
      entity: z.object({ name: z.string() }),
      bucket: z
        .object({
          id: z.string(),
          name: z.string(),
          displayName: z.string().nullish(),
          summaryMetrics: z.string().nullish(),
          config: z.string().nullish(),
          historyLineCount: z.number().int().nullish(),
          logLineCount: z.number().int().nullish(),
          tags: z.array(z.string()).nullish(),
          notes: z.string().nullish(),
          state: z.string().nullish(),
        })
        .nullable(),
    })
    .nullable(),
});
export type RunStatus = NonNullable<NonNullable<z.infer<typeof RunResumeStatusResponse>['model']>['bucket']>;

export const UseArtifactResponse = z.object({
  useArtifact: z.object({ artifact: z.object({ id: z.string() }) }).nullable(),
});

export const CreateRunFilesResponse = z.object({
  createRunFiles: z
    .object({
      runID: z.string(),
      uploadHeaders: z.array(z.string()),
      files: z.array(z.object({ name: z.string(), uploadUrl: z.string().nullable() })),
    })
    .nullable(),
});

export const MarkUploadedResponse = z.object({ markRunFilesUploaded: z.object({ success: z.boolean() }).nullable() });
export const AddAliasesResponse = z.object({ result: z.object({ success: z.boolean() }).nullable() });
export const UpdateArtifactResponse = z.object({
  result: z.object({ artifact: z.object({ id: z.string(), metadata: z.string().nullable() }) }).nullable(),
});

export const CreateArtifactResponse = z.object({
  createArtifact: z
    .object({
      artifact: z.object({
        id: z.string(),
        state: z.string(),
        digest: z.string(),
        artifactSequence: z.object({ latestArtifact: z.object({ id: z.string() }).nullable() }),
      }),
    })
    .nullable(),
});
export const CreateArtifactManifestResponse = z.object({
  createArtifactManifest: z
    .object({
      artifactManifest: z.object({
        id: z.string(),
        file: z.object({
          id: z.string(),
          uploadUrl: z.string().nullish(),
          uploadHeaders: z.array(z.string()).optional(),
        }),
      }),
    })
    .nullable(),
});
export const CreateArtifactFilesResponse = z.object({
  createArtifactFiles: z
    .object({
      files: z.object({
        edges: z.array(
          z.object({
            node: z
              .object({
                id: z.string(),
                name: z.string(),
                storagePath: z.string().nullable(),
                uploadUrl: z.string().nullable(),
                uploadHeaders: z.array(z.string()),
                artifact: z.object({ id: z.string() }).nullable(),
              })
              .nullable(),
          }),
        ),
      }),
    })
    .nullable(),
});
export const CommitArtifactResponse = z.object({
  commitArtifact: z.object({ artifact: z.object({ id: z.string(), digest: z.string() }) }).nullable(),
});

/** B4 manifest file (v1). Entries with `ref` point outside W&B storage. */
export const Manifest = z.object({
  version: z.number(),
  storagePolicy: z.string().optional(),
  contents: z.record(
    z.string(),
    z
      .object({
        digest: z.string(),
        size: z.number().int().nonnegative().optional(),
        ref: z.string().optional(),
        birthArtifactID: z.string().optional(),
      })
      .loose(),
  ),
});
export type Manifest = z.infer<typeof Manifest>;

/**
 * A run's config as W&B stores it (`{"<key>": {"value": v}}`, B1) with the values unwrapped and W&B's
 * own `_wandb` entry dropped. Keys stored without the wrapper are kept as they are.
 */
export function runConfigValues(s: string | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(jsonObject(s))) {
    if (k === '_wandb') continue;
    out[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) && 'value' in v ? (v as { value: unknown }).value : v;
  }
  return out;
}

/** JSONString values (metadata, summaryMetrics) as objects; anything unparsable reads as empty. */
export function jsonObject(s: string | null | undefined): Record<string, unknown> {
  if (!s) return {};
  try {
    const v: unknown = JSON.parse(s);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
