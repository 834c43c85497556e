/**
 * Every GraphQL document evalhook sends to W&B, in one place so a test can validate all of them
 * against the schema dump (+ extensions) exactly as the server would. Each names the section of
 * ../shared/reference/wandb-protocol.md it follows. Keep README-calls.md in step with this file.
 */

/** B0: feature flags; old servers answer `Cannot query field "features"` (= no features). */
export const SERVER_FEATURES = /* GraphQL */ `
  query ServerFeaturesQuery {
    serverInfo {
      features {
        name
        isEnabled
      }
    }
  }
`;

/** B0: the caller's default entity (only needed to find the org of a registry path without prefix). */
export const VIEWER = /* GraphQL */ `
  query Viewer {
    viewer {
      id
      entity
      username
    }
  }
`;

/** B4/B7: registry paths live under the organisation's entity; find it from a team or user entity. */
export const FETCH_ORG_INFO_FROM_ENTITY = /* GraphQL */ `
  query FetchOrgInfoFromEntity($entity: String!) {
    entity(name: $entity) {
      organization {
        name
        orgEntity {
          name
        }
      }
      user {
        organizations {
          name
          orgEntity {
            name
          }
        }
      }
    }
  }
`;

/** B4: a path prefix may be the org's display name; map it to the org entity. */
export const FETCH_ORGANIZATION = /* GraphQL */ `
  query FetchOrganization($org: String!) {
    organization(name: $org) {
      id
      name
      orgEntity {
        id
        name
      }
    }
  }
`;

/** Fields of an artifact version we keep (B4), plus createdBy for the source training run (lineage). */
const ARTIFACT_FIELDS = /* GraphQL */ `
  fragment EvalhookArtifact on Artifact {
    id
    digest
    state
    size
    fileCount
    versionIndex
    description
    metadata
    createdAt
    artifactType {
      name
    }
    artifactSequence {
      name
      project {
        name
        entity {
          name
        }
      }
    }
    aliases {
      alias
      artifactCollectionName
    }
    currentManifest {
      file {
        directUrl
      }
    }
    createdBy {
      __typename
      ... on Run {
        name
        displayName
        project {
          name
          entity {
            name
          }
        }
      }
    }
  }
`;

/** B4: resolve `collection:vN|alias` in a project or registry (server >= v0.70, feature PROJECT_ARTIFACT_COLLECTION_MEMBERSHIP). */
export const ARTIFACT_MEMBERSHIP_BY_NAME = /* GraphQL */ `
  query ArtifactMembershipByName($entity: String!, $project: String!, $name: String!) {
    project(name: $project, entityName: $entity) {
      artifactCollectionMembership(name: $name) {
        id
        versionIndex
        aliases {
          id
          alias
        }
        artifactCollection {
          __typename
          name
          project {
            name
            entity {
              name
            }
          }
        }
        artifact {
          ...EvalhookArtifact
        }
      }
    }
  }
  ${ARTIFACT_FIELDS}
`;

/** B4 / E3: the legacy lookup for servers without artifactCollectionMembership. */
export const ARTIFACT_BY_NAME_LEGACY = /* GraphQL */ `
  query ArtifactByName($entity: String!, $project: String!, $name: String!) {
    project(name: $project, entityName: $entity) {
      artifact(name: $name) {
        ...EvalhookArtifact
      }
    }
  }
  ${ARTIFACT_FIELDS}
`;

/** B4 (ArtifactByID): the webhook's `wandb-artifact://_id/<id>`; names come back as the source collection's. */
export const ARTIFACT_BY_ID = /* GraphQL */ `
  query ArtifactByID($id: ID!) {
    artifact(id: $id) {
      ...EvalhookArtifact
    }
  }
  ${ARTIFACT_FIELDS}
`;

/** B4: the manifest's presigned URL (fetched without auth). */
export const ARTIFACT_MANIFEST = /* GraphQL */ `
  query ArtifactManifest($artifact_id: ID!) {
    artifact(id: $artifact_id) {
      currentManifest {
        file {
          directUrl
        }
      }
    }
  }
`;

/** B4: presigned file URLs of a collection membership, paged (feature ARTIFACT_COLLECTION_MEMBERSHIP_FILES). */
export const ARTIFACT_MEMBERSHIP_FILE_URLS = /* GraphQL */ `
  query GetArtifactMembershipFileUrls(
    $entity: String!
    $project: String!
    $collection: String!
    $alias: String!
    $cursor: String
    $perPage: Int
  ) {
    project(name: $project, entityName: $entity) {
      artifactCollection(name: $collection) {
        artifactMembership(aliasName: $alias) {
          files(after: $cursor, first: $perPage) {
            pageInfo {
              endCursor
              hasNextPage
            }
            edges {
              node {
                name
                directUrl
              }
            }
          }
        }
      }
    }
  }
`;

/** B4 (wandb-core ArtifactFileURLs): presigned file URLs by artifact id, paged; works on every server. */
export const ARTIFACT_FILE_URLS = /* GraphQL */ `
  query ArtifactFileURLs($id: ID!, $cursor: String, $perPage: Int) {
    artifact(id: $id) {
      files(after: $cursor, first: $perPage) {
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            name
            directUrl
          }
        }
      }
    }
  }
`;

/**
 * Read-back (wandb-protocol.md, "Read-back"): the config of the run that created an artifact. torchtune's
 * WandBLogger logs the recipe YAML there (`model.lora_alpha`, `model._component_` …), which a `.pt`
 * adapter needs to become a PEFT adapter.
 */
export const RUN_CONFIG = /* GraphQL */ `
  query RunConfig($entity: String!, $project: String!, $run: String!) {
    project(name: $project, entityName: $entity) {
      run(name: $run) {
        id
        name
        config
      }
    }
  }
`;

/**
 * B1 read-back before (re)opening a run: wandb-core's core/api/graphql/query_run_resume_status.graphql
 * (offsets, summary, config, tags, notes, display name), plus `state` so a finished run is never
 * written to again.
 */
export const RUN_RESUME_STATUS = /* GraphQL */ `
  query RunResumeStatus($project: String, $entity: String, $name: String!) {
    model(name: $project, entityName: $entity) {
      id
      name
      entity {
        id
        name
      }
      bucket(name: $name, missingOk: true) {
        id
        name
        summaryMetrics
        displayName
        logLineCount
        historyLineCount
        eventsLineCount
        historyTail
        eventsTail
        config
        tags
        notes
        state
        wandbConfig(keys: ["t"])
      }
    }
  }
`;

/** B1: create or update the evaluation run (also used with only `id` + fields for later updates). */
export const UPSERT_BUCKET = /* GraphQL */ `
  mutation UpsertBucket(
    $id: String
    $name: String
    $project: String
    $entity: String
    $groupName: String
    $description: String
    $displayName: String
    $notes: String
    $commit: String
    $config: JSONString
    $host: String
    $debug: Boolean
    $program: String
    $repo: String
    $jobType: String
    $state: String
    $sweep: String
    $tags: [String!]
    $summaryMetrics: JSONString
  ) {
    upsertBucket(
      input: {
        id: $id
        name: $name
        groupName: $groupName
        modelName: $project
        entityName: $entity
        description: $description
        displayName: $displayName
        notes: $notes
        config: $config
        commit: $commit
        host: $host
        debug: $debug
        jobProgram: $program
        jobRepo: $repo
        jobType: $jobType
        state: $state
        sweep: $sweep
        tags: $tags
        summaryMetrics: $summaryMetrics
      }
    ) {
      bucket {
        id
        name
        displayName
        description
        config
        sweepName
        summaryMetrics
        project {
          id
          name
          entity {
            id
            name
          }
        }
        historyLineCount
      }
      inserted
    }
  }
`;

/** B5: the model artifact as the run's input (lineage edge), on servers without the entity/project fields. */
export const USE_ARTIFACT = /* GraphQL */ `
  mutation UseArtifact($entityName: String!, $projectName: String!, $runName: String!, $artifactID: ID!) {
    useArtifact(
      input: { entityName: $entityName, projectName: $projectName, runName: $runName, artifactID: $artifactID }
    ) {
      artifact {
        id
        digest
      }
    }
  }
`;

/** B5: same, naming where the artifact was resolved (feature USE_ARTIFACT_WITH_ENTITY_AND_PROJECT_INFORMATION). */
export const USE_ARTIFACT_WITH_SOURCE = /* GraphQL */ `
  mutation UseArtifact(
    $entityName: String!
    $projectName: String!
    $runName: String!
    $artifactID: ID!
    $artifactEntityName: String
    $artifactProjectName: String
  ) {
    useArtifact(
      input: {
        entityName: $entityName
        projectName: $projectName
        runName: $runName
        artifactID: $artifactID
        artifactEntityName: $artifactEntityName
        artifactProjectName: $artifactProjectName
      }
    ) {
      artifact {
        id
        digest
      }
    }
  }
`;

/** B3: presigned upload URLs for run files (the tables' .table.json). */
export const CREATE_RUN_FILES = /* GraphQL */ `
  mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
    createRunFiles(input: { entityName: $entity, projectName: $project, runName: $run, files: $files }) {
      runID
      uploadHeaders
      files {
        name
        uploadUrl
      }
    }
  }
`;

/** B3: tell the server uploads finished (feature MARK_RUN_FILES_UPLOADED; else file_stream `uploaded`). */
export const MARK_RUN_FILES_UPLOADED = /* GraphQL */ `
  mutation MarkRunFilesUploaded($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
    markRunFilesUploaded(input: { entityName: $entity, projectName: $project, runName: $run, files: $files }) {
      success
    }
  }
`;

/** B6: alias on the evaluated version in its (registry) collection. */
export const ADD_ALIASES = /* GraphQL */ `
  mutation AddAliases($input: AddAliasesInput!) {
    result: addAliases(input: $input) {
      success
    }
  }
`;

/** B6: metadata (read-modify-write, full dict) and tags of the evaluated version. */
export const UPDATE_ARTIFACT = /* GraphQL */ `
  mutation UpdateArtifact($input: UpdateArtifactInput!) {
    result: updateArtifact(input: $input) {
      artifact {
        id
        metadata
      }
    }
  }
`;

/** B5 step 1: a `run_table` artifact created by the run (output edge); COMMITTED back means identical content exists. */
export const CREATE_ARTIFACT = /* GraphQL */ `
  mutation CreateArtifact($input: CreateArtifactInput!) {
    createArtifact(input: $input) {
      artifact {
        id
        state
        digest
        artifactSequence {
          latestArtifact {
            id
          }
        }
      }
    }
  }
`;

/** B5 steps 2 and 6: the manifest record, then its digest and upload URL. */
export const CREATE_ARTIFACT_MANIFEST = /* GraphQL */ `
  mutation CreateArtifactManifest(
    $artifactID: ID!
    $baseArtifactID: ID
    $name: String!
    $digest: String!
    $entityName: String!
    $projectName: String!
    $runName: String!
    $manifestType: ArtifactManifestType!
    $includeUpload: Boolean!
  ) {
    createArtifactManifest(
      input: {
        artifactID: $artifactID
        baseArtifactID: $baseArtifactID
        name: $name
        digest: $digest
        entityName: $entityName
        projectName: $projectName
        runName: $runName
        type: $manifestType
      }
    ) {
      artifactManifest {
        id
        file {
          id
          uploadUrl @include(if: $includeUpload)
          uploadHeaders @include(if: $includeUpload)
        }
      }
    }
  }
`;

/** B5 step 3: upload URLs for the artifact's files (storage layout V2); node.artifact.id is the birth artifact. */
export const CREATE_ARTIFACT_FILES = /* GraphQL */ `
  mutation CreateArtifactFiles(
    $artifactFiles: [CreateArtifactFileSpecInput!]!
    $storageLayout: ArtifactStorageLayout!
  ) {
    createArtifactFiles(input: { artifactFiles: $artifactFiles, storageLayout: $storageLayout }) {
      files {
        edges {
          node {
            id
            name
            storagePath
            uploadUrl
            uploadHeaders
            artifact {
              id
            }
          }
        }
      }
    }
  }
`;

/** B5 step 7. */
export const COMMIT_ARTIFACT = /* GraphQL */ `
  mutation CommitArtifact($artifactID: ID!) {
    commitArtifact(input: { artifactID: $artifactID }) {
      artifact {
        id
        digest
      }
    }
  }
`;

/** Dashboard (wandb-dashboard.md §3.1): create (no id) or update (id) a report or saved workspace view; spec is a JSON string. */
export const UPSERT_VIEW = /* GraphQL */ `
  mutation UpsertView(
    $id: ID
    $entityName: String
    $projectName: String
    $type: String
    $name: String
    $displayName: String
    $description: String
    $spec: String!
  ) {
    upsertView(
      input: {
        id: $id
        entityName: $entityName
        projectName: $projectName
        name: $name
        displayName: $displayName
        description: $description
        type: $type
        createdUsing: WANDB_SDK
        spec: $spec
      }
    ) {
      view {
        id
        type
        name
        displayName
        description
        project {
          id
          name
          entityName
        }
        spec
        updatedAt
      }
      inserted
    }
  }
`;

/** Dashboard (§3.3): a project's views of one type and name (`allViews`); also the re-read before any create. */
export const FIND_VIEWS = /* GraphQL */ `
  query FindViews(
    $entityName: String!
    $projectName: String!
    $viewType: String!
    $viewName: String
    $first: Int = 100
    $after: String
  ) {
    project(name: $projectName, entityName: $entityName) {
      id
      allViews(viewType: $viewType, viewName: $viewName, first: $first, after: $after) {
        edges {
          node {
            id
            name
            type
            displayName
            description
            spec
            createdAt
            updatedAt
          }
        }
        pageInfo {
          endCursor
          hasNextPage
        }
      }
    }
  }
`;

/** Dashboard (§3.3): the report by stored id; `updatedAt` newer than our last write means a person edited it. */
export const VIEW_BY_ID = /* GraphQL */ `
  query ViewById($id: ID!) {
    view(id: $id) {
      id
      name
      type
      displayName
      description
      createdAt
      updatedAt
      spec
    }
  }
`;

/** Dashboard (§3.5): register the radar preset once per entity; the chart id is `<entity>/<name>`. */
export const CREATE_CUSTOM_CHART = /* GraphQL */ `
  mutation CreateCustomChart(
    $entity: String!
    $chartName: String!
    $displayName: String!
    $chartType: String!
    $access: String!
    $spec: JSONString!
  ) {
    createCustomChart(
      input: {
        entity: $entity
        name: $chartName
        displayName: $displayName
        type: $chartType
        access: $access
        spec: $spec
      }
    ) {
      chart {
        id
      }
    }
  }
`;

/** Dashboard (§3.5, §8): does the preset exist, and with which spec. */
export const CUSTOM_CHART_BY_ID = /* GraphQL */ `
  query CustomChartById($id: ID!) {
    customChart(id: $id) {
      id
      name
      displayName
      type
      access
      spec
      updatedAt
    }
  }
`;

/** Dashboard (§3.5): a preset whose Vega spec changed. */
export const UPDATE_CUSTOM_CHART = /* GraphQL */ `
  mutation UpdateCustomChart(
    $entity: String!
    $chartName: String!
    $displayName: String
    $access: String
    $spec: JSONString
  ) {
    updateCustomChart(
      input: { entity: $entity, name: $chartName, displayName: $displayName, access: $access, spec: $spec }
    ) {
      chart {
        id
      }
    }
  }
`;

/** Every document, by constant name: the schema test and README-calls.md walk this. */
export const DOCUMENTS = {
  SERVER_FEATURES,
  VIEWER,
  FETCH_ORG_INFO_FROM_ENTITY,
  FETCH_ORGANIZATION,
  ARTIFACT_MEMBERSHIP_BY_NAME,
  ARTIFACT_BY_NAME_LEGACY,
  ARTIFACT_BY_ID,
  ARTIFACT_MANIFEST,
  ARTIFACT_MEMBERSHIP_FILE_URLS,
  ARTIFACT_FILE_URLS,
  RUN_CONFIG,
  RUN_RESUME_STATUS,
  UPSERT_BUCKET,
  USE_ARTIFACT,
  USE_ARTIFACT_WITH_SOURCE,
  CREATE_RUN_FILES,
  MARK_RUN_FILES_UPLOADED,
  CREATE_ARTIFACT,
  CREATE_ARTIFACT_MANIFEST,
  CREATE_ARTIFACT_FILES,
  COMMIT_ARTIFACT,
  ADD_ALIASES,
  UPDATE_ARTIFACT,
  UPSERT_VIEW,
  FIND_VIEWS,
  VIEW_BY_ID,
  CREATE_CUSTOM_CHART,
  CUSTOM_CHART_BY_ID,
  UPDATE_CUSTOM_CHART,
} as const;

/** Documents that older servers (the schema dump without extensions) cannot validate; sent only behind a feature flag. */
export const FEATURE_GATED: ReadonlyArray<keyof typeof DOCUMENTS> = [
  'SERVER_FEATURES',
  'ARTIFACT_MEMBERSHIP_BY_NAME',
  'ARTIFACT_MEMBERSHIP_FILE_URLS',
  'USE_ARTIFACT_WITH_SOURCE',
  'MARK_RUN_FILES_UPLOADED',
];
