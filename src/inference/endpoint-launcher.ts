/**
 * kind=endpoint: an OpenAI-compatible server that is already running. A LoRA artifact is loaded
 * into vLLM at runtime under a name unique to the evaluation (no cold start per checkpoint) and
 * unloaded afterwards; anything else is evaluated as the server's configured model.
 */
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LaunchRequest, ServedModel } from '../ports.js';
import type { InferenceSettings } from '../profile.js';
import { abortReason, errorText, finalError, transientError } from './errors.js';
import { callJson, errorMessage, joinUrl, listModels, type FetchFn, type HttpResult } from './http.js';
import { classifyManifest, detectModelLayout, PICKLE, resolveBaseModel, unsupportedReason } from './layout.js';
import { servedNameFor } from './safe-values.js';

export type EndpointSettings = Extract<InferenceSettings, { kind: 'endpoint' }>;

export interface EndpointLauncherOptions {
  secrets: Readonly<Record<string, string | undefined>>;
  fetch: FetchFn;
  /** Default adapter directory when the profile names no loraDir (the server must read the same path). */
  workDir: string;
  callTimeoutMs: number;
  logger?: Logger;
}

const ENABLE_HINT = 'start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True';

/** Copies the adapter's regular files (never symlinks, never pickles) into the directory the server reads. */
export async function copyAdapter(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true, mode: 0o755 });
  for (const e of await readdir(from, { withFileTypes: true })) {
    if (e.isFile() && !PICKLE.test(e.name)) await copyFile(join(from, e.name), join(to, e.name));
  }
}

export function createEndpointLauncher(opts: EndpointLauncherOptions) {
  async function servedModel(req: LaunchRequest, settings: EndpointSettings, headers: Record<string, string>): Promise<string> {
    if (settings.model) return settings.model;
    const models = await listModels(settings.baseURL, { fetch: opts.fetch, signal: req.signal, timeoutMs: opts.callTimeoutMs, headers }).catch((err: unknown) => {
      if (req.signal.aborted) throw abortReason(req.signal);
      throw transientError(`the inference endpoint ${settings.baseURL} is not answering: ${errorText(err)}`, err);
    });
    const first = models[0]?.id;
    if (!first) throw finalError(`the inference endpoint ${settings.baseURL} lists no models; set inference.model`);
    return first;
  }

  /** An artifact that cannot be loaded: evaluate the configured model if the profile names one, else fail. Returns the note. */
  function fallback(req: LaunchRequest, settings: EndpointSettings, why: string): string {
    if (!settings.model) throw finalError(`cannot evaluate ${req.artifact.fullName} on ${settings.baseURL}: ${why}`);
    req.log(`[evalhook] ${why}; evaluating the configured model ${settings.model} instead`);
    return why;
  }

  async function post(url: string, body: unknown, req: LaunchRequest, headers: Record<string, string>, signal = req.signal): Promise<HttpResult> {
    try {
      return await callJson('POST', url, body, { fetch: opts.fetch, signal, timeoutMs: opts.callTimeoutMs, headers });
    } catch (err) {
      if (signal.aborted) throw abortReason(signal);
      throw transientError(`${url} is not answering: ${errorText(err)}`, err);
    }
  }

  async function launch(req: LaunchRequest, settings: EndpointSettings): Promise<ServedModel> {
    const apiKey = opts.secrets[settings.apiKeyEnv];
    const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
    const describe: Record<string, unknown> = { kind: 'endpoint', baseURL: settings.baseURL };
    // `fallbackNote`: the artifact itself is not what gets evaluated; W&B config must say so.
    const plain = async (fallbackNote?: string): Promise<ServedModel> => {
      const model = await servedModel(req, settings, headers);
      return { baseURL: settings.baseURL, model, apiKey, describe: { ...describe, model, ...(fallbackNote ? { artifactNotLoaded: fallbackNote } : {}) }, release: async () => {} };
    };
    const manifest = classifyManifest(req.artifact.files.map((f) => f.path));
    // Without a manifest (offline mode) or with lora: never, the endpoint's own model is the target.
    if (settings.lora === 'never' || manifest === 'unknown') return plain();
    if (manifest === 'full') {
      return plain(fallback(req, settings, `${req.artifact.fullName} is a full model; a running endpoint can only load LoRA adapters (use inference kind "process" to serve it)`));
    }
    if (manifest === 'unsupported') {
      return plain(fallback(req, settings, unsupportedReason(req.artifact.files.map((f) => f.path))));
    }

    const layout = await detectModelLayout(await req.download());
    if (req.signal.aborted) throw abortReason(req.signal);
    if (layout.kind !== 'lora') {
      return plain(fallback(req, settings, layout.kind === 'full' ? `${req.artifact.fullName} is a full model; a running endpoint can only load LoRA adapters` : layout.reason));
    }
    const base = resolveBaseModel(layout, req.artifact.metadata, settings.baseModel);
    const name = servedNameFor(req.evaluationId);
    const target = join(resolve(settings.loraDir ?? join(opts.workDir, 'lora')), name);
    await copyAdapter(layout.dir, target);
    const removeCopy = () => rm(target, { recursive: true, force: true });

    let res: HttpResult;
    try {
      res = await post(joinUrl(settings.baseURL, 'load_lora_adapter'), { lora_name: name, lora_path: target }, req, headers);
    } catch (err) {
      await removeCopy();
      throw err;
    }
    const message = errorMessage(res.body);
    const loaded = res.status === 200 || (res.status === 400 && /already (been )?loaded/i.test(message)); // a retry of this evaluation
    if (!loaded) {
      await removeCopy();
      // A 404 that does not mention our adapter is the route itself missing: no runtime LoRA here.
      if (res.status === 404 && !message.includes(name)) {
        return plain(fallback(req, settings, `the server has no runtime LoRA loading (POST /v1/load_lora_adapter answered 404); ${ENABLE_HINT}, or set inference.model`));
      }
      const text = `vLLM refused to load the adapter (${res.status}): ${message}. The adapter was copied to ${target}; the server must be able to read that path (inference.loraDir on a shared volume, same path on both sides)`;
      throw res.status >= 500 || res.status === 429 ? transientError(text) : finalError(text);
    }
    req.log(`[evalhook] loaded LoRA adapter ${name} from ${target}`);

    let released: Promise<void> | undefined;
    const release = () =>
      (released ??= (async () => {
        // The job's signal may be aborted by now (cancel): unloading must still happen.
        const res2 = await post(joinUrl(settings.baseURL, 'unload_lora_adapter'), { lora_name: name }, req, headers, AbortSignal.timeout(opts.callTimeoutMs)).catch(
          (err: unknown) => err as Error,
        );
        await removeCopy();
        if (res2 instanceof Error) throw transientError(`unloading LoRA adapter ${name} failed: ${res2.message}`);
        const gone = res2.status === 200 || res2.status === 404 || /not found|cannot be found/i.test(errorMessage(res2.body));
        if (!gone) throw transientError(`unloading LoRA adapter ${name} failed (${res2.status}): ${errorMessage(res2.body)}`);
        req.log(`[evalhook] unloaded LoRA adapter ${name}`);
      })());
    return {
      baseURL: settings.baseURL,
      model: name,
      apiKey,
      describe: {
        ...describe,
        model: name,
        lora: 'runtime',
        ...('baseModel' in base ? { baseModel: base.baseModel, baseModelSource: base.source } : {}),
      },
      release,
    };
  }

  return { launch };
}
