/**
 * kind=process, before anything is leased: the artifact fetched and checked, the served name, the
 * run's description, and the server command with its placeholders filled (for any port).
 */
import { realpath } from 'node:fs/promises';
import { basename } from 'node:path';
import type { LaunchRequest } from '../ports.js';
import type { InferenceSettings } from '../profile.js';
import { fillCommand, type Placeholder, type PlaceholderValues } from './command.js';
import { errorText, finalError, transientError } from './errors.js';
import { adapterFiles } from './adapter-files.js';
import { adapterProblems } from './adapter-limits.js';
import { classifyManifest, resolveBaseModel } from './layout.js';
import { isInside, isSafePath, servedNameFor } from './safe-values.js';
import { conversionRoot, servableDownload } from './torch-adapter.js';

export type ProcessSettings = Extract<InferenceSettings, { kind: 'process' }>;

/** The command's --max-lora-rank (vLLM's default 16 when absent), else the profile's. */
export function maxLoraRankOf(command: readonly string[], fallback: number): { rank: number; from: string } {
  for (let i = 0; i < command.length; i++) {
    const m = /^--max[-_]lora[-_]rank(?:=(\d+))?$/.exec(command[i] ?? '');
    if (!m) continue;
    const v = Number(m[1] ?? command[i + 1]);
    if (Number.isInteger(v) && v > 0) return { rank: v, from: '--max-lora-rank in inference.command' };
  }
  return {
    rank: fallback,
    from: 'inference.maxLoraRank (add --max-lora-rank to inference.command, vLLM defaults to 16)',
  };
}

/** Checks a directory we are about to hand to the server: real path, plain characters, inside the cache. */
async function validatedDir(dir: string, cacheRoot: string | undefined): Promise<string> {
  const real = await realpath(dir).catch((err: unknown) => {
    throw transientError(`the downloaded artifact directory is missing: ${errorText(err)}`);
  });
  if (!isSafePath(real))
    throw finalError(
      `the artifact directory ${JSON.stringify(real)} has characters that cannot go on a command line; use a cache directory with a plain path`,
    );
  // A cache root that does not exist holds nothing: the directory cannot be inside it.
  const root = cacheRoot === undefined ? undefined : await realpath(cacheRoot).catch(() => undefined);
  if (cacheRoot !== undefined && !(root && isInside(root, real)))
    throw finalError(`the artifact directory ${real} is outside the artifact cache ${cacheRoot}`);
  return real;
}

export interface LaunchPlan {
  /** The served model name ({name}). */
  name: string;
  /** What the run records about the server (W&B config); the launch adds GPUs and model. */
  describe: Record<string, unknown>;
  /** The command's argv for the port the server will listen on. */
  fill: (port: string) => string[];
}

/** `used`: the command's placeholders, already checked for {port}. */
export async function planLaunch(
  req: LaunchRequest,
  settings: ProcessSettings,
  used: ReadonlySet<Placeholder>,
  opts: { workDir: string; cacheRoot?: string | undefined },
): Promise<LaunchPlan> {
  // Everything that can be wrong with the artifact is found before a GPU is leased. A server
  // that only gets {adapterDir} reads the adapter: the full weights next to it are not downloaded.
  const paths = req.artifact.files.map((f) => f.path);
  const manifestKind = classifyManifest(paths);
  const adapterOnly =
    used.has('adapterDir') && !used.has('modelDir') && (manifestKind === 'lora' || manifestKind === 'torch');
  const { layout, converted } = await servableDownload(
    req,
    settings,
    conversionRoot(opts.workDir, opts.cacheRoot),
    adapterOnly ? adapterFiles(paths) : undefined,
  );
  if (layout.kind === 'unsupported') throw finalError(`cannot serve ${req.artifact.fullName}: ${layout.reason}`);
  const dir = await validatedDir(layout.dir, opts.cacheRoot);
  const name = servedNameFor(req.evaluationId);
  const values: PlaceholderValues = { name, modelDir: dir };
  const describe: Record<string, unknown> = {
    kind: 'process',
    artifactKind: layout.kind,
    program: basename(settings.command[0] ?? ''),
    gpus: settings.gpus,
    ...(converted ? { converted } : {}),
  };
  if (layout.kind === 'lora') {
    const limit = maxLoraRankOf(settings.command, settings.maxLoraRank);
    const refused = adapterProblems(layout.config, limit.rank, limit.from);
    if (refused) throw finalError(`cannot serve ${req.artifact.fullName}: ${refused}`);
    const base = resolveBaseModel(layout, req.artifact.metadata, settings.baseModel);
    if ('error' in base) throw finalError(`cannot serve ${req.artifact.fullName}: ${base.error}`);
    for (const note of base.skipped) req.log(`[evalhook] ${note}; using ${base.baseModel} from ${base.source}`);
    Object.assign(values, { baseModel: base.baseModel, adapterDir: dir });
    Object.assign(describe, { baseModel: base.baseModel, baseModelSource: base.source });
    if (!used.has('adapterDir') && !used.has('modelDir'))
      throw finalError(
        'inference.command never receives the adapter: use {adapterDir} (e.g. --lora-modules {name}={adapterDir})',
      );
  } else if (!used.has('modelDir')) {
    throw finalError(
      `inference.command never receives the model: use {modelDir} (${req.artifact.fullName} is a full model)`,
    );
  }
  const fill = (port: string) =>
    fillCommand(settings.command, { ...values, port }, (p) =>
      p === 'baseModel' || p === 'adapterDir'
        ? `${req.artifact.fullName} is a full model, not a LoRA adapter`
        : 'it has no value',
    );
  fill('0'); // placeholder mistakes surface now, before a GPU is leased
  return { name, describe, fill };
}
