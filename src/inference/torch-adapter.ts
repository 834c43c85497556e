/**
 * The launchers' side of torchtune `.pt` adapters: gather the facts the file lacks (training run
 * config, artifact metadata, profile `inference.lora`), convert to a PEFT folder once per artifact
 * digest (src/checkpoint), and hand that folder on as an ordinary PEFT layout. Also reads the file's
 * own epoch for the run's checkpoint position.
 */
import { basename, join } from 'node:path';
import {
  CheckpointError,
  conversionKey,
  convertCached,
  resolveLoraFacts,
  torchFileEpoch,
  type ConversionInfo,
  type LoraProfile,
} from '../checkpoint/index.js';
import type { LaunchRequest, ResolvedArtifact } from '../ports.js';
import { isRetryable } from '../errors.js';
import { abortReason, errorText, finalError, transientError } from './errors.js';
import { classifyManifest, detectModelLayout, resolveBaseModel, type ModelLayout } from './layout.js';

export interface ServableLayout {
  layout: Exclude<ModelLayout, { format: 'torch' }>;
  /** For the run config (`inference.converted`): what was converted, how, and the facts' sources. */
  converted?: Record<string, unknown>;
}

/** A PEFT (or full, or unsupported) layout as it is; a torch `.pt` adapter converted into `<root>/<digest>-…/`. */
export async function servableLayout(
  layout: ModelLayout,
  req: LaunchRequest,
  settings: { lora?: LoraProfile; baseModel?: string },
  root: string,
): Promise<ServableLayout> {
  if (layout.kind !== 'lora' || layout.format !== 'torch') return { layout };
  let trainingConfig: Record<string, unknown> | undefined;
  try {
    trainingConfig = req.artifact.sourceRun ? await req.trainingConfig?.() : undefined;
  } catch (err) {
    if (req.signal.aborted) throw abortReason(req.signal);
    const retryable = isRetryable(err);
    const text = `reading the training run's config for ${req.artifact.fullName} failed: ${errorText(err)}`;
    throw retryable ? transientError(text, err) : finalError(text, err);
  }
  const facts = resolveLoraFacts({ trainingConfig, metadata: req.artifact.metadata, profile: settings.lora });
  const base = resolveBaseModel({}, req.artifact.metadata, settings.baseModel);
  const opts = { facts, ...('baseModel' in base ? { baseModel: base.baseModel } : {}) };
  const file = basename(layout.file);
  let result: { dir: string; info: ConversionInfo; cached: boolean };
  try {
    result = await convertCached(layout.file, root, conversionKey(req.artifact.digest, opts), opts);
  } catch (err) {
    if (err instanceof CheckpointError)
      throw finalError(`cannot serve ${req.artifact.fullName}: ${file}: ${err.message}`, err);
    throw transientError(`converting ${file} of ${req.artifact.fullName} failed: ${errorText(err)}`, err);
  }
  const { info } = result;
  req.log(
    `[evalhook] ${result.cached ? 'using the cached conversion of' : 'converted'} ${file} to a PEFT adapter (r=${info.rank}, lora_alpha=${info.alpha} from ${info.sources.lora_alpha}, ` +
      `target_modules=${info.targetModules.join(',')}${info.permuted ? `, q/k lora_B RoPE rows permuted with heads from ${info.sources.heads}` : ''})`,
  );
  // Read back like any PEFT folder, so the adapter checks (rank, modules) see what was written.
  const peft = await detectModelLayout(result.dir);
  if (peft.kind !== 'lora' || peft.format !== 'peft')
    throw finalError(`converting ${file} of ${req.artifact.fullName} produced no PEFT adapter`);
  return {
    layout: { ...peft, ...(opts.baseModel ? { baseModel: opts.baseModel } : {}) },
    converted: {
      from: file,
      r: info.rank,
      lora_alpha: info.alpha,
      target_modules: info.targetModules,
      naming: info.naming,
      rope_permuted: info.permuted,
      sources: info.sources,
      cached: result.cached,
    },
  };
}

/**
 * The one call the launchers make: download (only `files` when given: the adapter alone), detect the
 * layout of the directory and make it servable.
 */
export async function servableDownload(
  req: LaunchRequest,
  settings: { lora?: LoraProfile; baseModel?: string },
  root: string,
  files?: readonly string[],
): Promise<ServableLayout> {
  const layout = await detectModelLayout(await req.download(files));
  if (req.signal.aborted) throw abortReason(req.signal);
  return servableLayout(layout, req, settings, root);
}

/**
 * The epoch a torchtune `.pt` records about itself (`epoch`, or `epochs_run` - 1), for artifacts
 * whose manifest shows one; reads only the pickle, after a (digest-cached) download. Undefined for
 * everything else, and when the file cannot be read (the launcher reports that properly).
 */
export async function checkpointFileEpoch(
  artifact: ResolvedArtifact,
  download: () => Promise<string>,
): Promise<number | undefined> {
  if (classifyManifest(artifact.files.map((f) => f.path)) !== 'torch') return undefined;
  const layout = await detectModelLayout(await download());
  if (layout.kind !== 'lora' || layout.format !== 'torch') return undefined;
  return torchFileEpoch(layout.file).catch(() => undefined);
}

/** Where conversions live: beside the artifact cache when there is one (process kind checks paths against it). */
export const conversionRoot = (workDir: string, cacheRoot?: string) => join(cacheRoot ?? workDir, 'converted');
