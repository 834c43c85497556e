/**
 * How the checkpoint reaches the pod and which directory the server args point at. With the init
 * container the worker never downloads: the manifest decides adapter vs full model (the same rule as
 * the other launchers) and the init container re-checks the files it fetched. With a shared claim the
 * worker downloads, inspects the files themselves and copies the served directory into the claim.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LaunchRequest } from '../../ports.js';
import { copyAdapter } from '../endpoint-launcher.js';
import { abortReason, finalError } from '../errors.js';
import { manifestModelDir, resolveBaseModel, unsupportedReason } from '../layout.js';
import { servableDownload } from '../torch-adapter.js';
import { isSafePath } from '../safe-values.js';
import { MODELS_DIR, type CheckpointSource, type KubernetesSettings } from './manifest.js';

/** Where fetch-artifact puts the files inside MODELS_DIR. */
export const FETCHED_DIR = `${MODELS_DIR}/artifact`;

export interface Checkpoint {
  kind: 'lora' | 'full';
  /** The directory the server reads, as the pod sees it. */
  podDir: string;
  base?: ReturnType<typeof resolveBaseModel>;
  source: CheckpointSource;
  /** Removes what the worker put on the shared claim. */
  cleanup(): Promise<void>;
}

/** W&B node ids are base64: nothing else reaches the init container's argv. */
const NODE_ID = /^[A-Za-z0-9+/=_-]{1,256}$/;

export async function prepareCheckpoint(
  req: LaunchRequest,
  settings: KubernetesSettings,
  name: string,
  init: { evalhookImage?: string; wandbBaseURL: string },
): Promise<Checkpoint> {
  const { artifact } = req;
  const claim = settings.persistentVolumeClaim;
  if (claim) {
    // The worker downloads, so a torchtune .pt is converted here (cached on the claim by digest).
    const { layout } = await servableDownload(
      req,
      { baseModel: settings.baseModel },
      join(claim.workerPath, '.converted'),
    );
    if (req.signal.aborted) throw abortReason(req.signal);
    if (layout.kind === 'unsupported') throw finalError(`cannot serve ${artifact.fullName}: ${layout.reason}`);
    const target = join(claim.workerPath, name);
    await copyAdapter(layout.dir, target);
    return {
      kind: layout.kind,
      podDir: `${MODELS_DIR}/${name}`,
      base: layout.kind === 'lora' ? resolveBaseModel(layout, artifact.metadata, settings.baseModel) : undefined,
      source: { kind: 'pvc', claimName: claim.claimName },
      cleanup: () => rm(target, { recursive: true, force: true }),
    };
  }

  if (!init.evalhookImage)
    throw finalError(
      "EVALHOOK_IMAGE is not set: the kubernetes launcher fetches checkpoints with an init container running evalhook's own image (or set inference.persistentVolumeClaim)",
    );
  const secret = settings.wandbApiKeySecret;
  if (!secret)
    throw finalError(
      'inference.wandbApiKeySecret is required: the init container reads WANDB_API_KEY from that Secret',
    );
  const paths = artifact.files.map((f) => f.path);
  if (paths.length === 0)
    throw finalError(
      `the manifest of ${artifact.fullName} is unknown (no WANDB_API_KEY on the worker?): the kubernetes launcher decides what to serve from it`,
    );
  const found = manifestModelDir(paths);
  if (!found) throw finalError(`cannot serve ${artifact.fullName}: ${unsupportedReason(paths)}`);
  if (found.kind === 'torch') {
    throw finalError(
      `cannot serve ${artifact.fullName} through the init container: a torchtune .pt adapter must be converted to PEFT first; set inference.persistentVolumeClaim so the worker converts it, or log the adapter in PEFT format`,
    );
  }
  const podDir = found.dir ? `${FETCHED_DIR}/${found.dir}` : FETCHED_DIR;
  if (!isSafePath(podDir))
    throw finalError(
      `the model directory ${JSON.stringify(found.dir)} of ${artifact.fullName} has characters that cannot go on a command line`,
    );
  if (!NODE_ID.test(artifact.id))
    throw finalError(`artifact id ${JSON.stringify(artifact.id.slice(0, 80))} is not a W&B node id`);
  // adapter_config.json is read by the init container, which refuses a base model that disagrees.
  const base = found.kind === 'lora' ? resolveBaseModel({}, artifact.metadata, settings.baseModel) : undefined;
  return {
    kind: found.kind,
    podDir,
    base,
    source: {
      kind: 'init',
      evalhookImage: init.evalhookImage,
      artifactId: artifact.id,
      wandbBaseURL: init.wandbBaseURL,
      secret,
      ...(base && 'baseModel' in base ? { baseModel: base.baseModel } : {}),
    },
    cleanup: async () => {},
  };
}
