/**
 * kind=endpoint: an OpenAI-compatible server that is already running. A LoRA artifact is loaded
 * into vLLM at runtime under a name unique to the evaluation (no cold start per checkpoint) and
 * unloaded afterwards. An artifact that cannot be served here fails the evaluation, unless the
 * profile opts in to evaluating its configured model instead (inference.fallbackToModel), which
 * the pipeline then never writes back to the registry.
 */
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LaunchRequest, ServedModel } from '../ports.js';
import type { InferenceSettings } from '../profile.js';
import { abortReason, errorText, finalError, transientError } from './errors.js';
import { adapterFiles } from './adapter-files.js';
import { adapterProblems, isAdapterRefusal } from './adapter-limits.js';
import { sameBaseModel } from './base-model.js';
import { callJson, errorMessage, joinUrl, listModels, type FetchFn, type HttpResult, type ModelList } from './http.js';
import { classifyManifest, PICKLE, resolveBaseModel, unsupportedReason } from './layout.js';
import type { LoraProfile } from '../checkpoint/index.js';
import { servedNameFor } from './safe-values.js';
import { conversionRoot, servableDownload } from './torch-adapter.js';

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
  async function models(
    req: LaunchRequest,
    settings: EndpointSettings,
    headers: Record<string, string>,
  ): Promise<ModelList['data']> {
    return listModels(settings.baseURL, {
      fetch: opts.fetch,
      signal: req.signal,
      timeoutMs: opts.callTimeoutMs,
      headers,
    }).catch((err: unknown) => {
      if (req.signal.aborted) throw abortReason(req.signal);
      throw transientError(`the inference endpoint ${settings.baseURL} is not answering: ${errorText(err)}`, err);
    });
  }

  async function servedModel(
    req: LaunchRequest,
    settings: EndpointSettings,
    headers: Record<string, string>,
  ): Promise<string> {
    if (settings.model) return settings.model;
    const first = (await models(req, settings, headers))[0]?.id;
    if (!first) throw finalError(`the inference endpoint ${settings.baseURL} lists no models; set inference.model`);
    return first;
  }

  /**
   * The base model the server runs, from /v1/models: vLLM lists it with `root` = the model path it
   * loaded and no `parent` (LoRA cards carry a parent). inference.model picks it when several are served.
   */
  async function servedBase(
    req: LaunchRequest,
    settings: EndpointSettings,
    headers: Record<string, string>,
  ): Promise<{ id: string; root: string } | undefined> {
    const list = await models(req, settings, headers);
    const card = settings.model
      ? list.find((m) => m.id === settings.model)
      : (list.find((m) => m.parent === undefined || m.parent === null) ?? list[0]);
    return card ? { id: card.id, root: card.root ?? card.id } : undefined;
  }

  /**
   * An artifact that cannot be served here. Only with inference.fallbackToModel (and a model) is
   * the configured model evaluated instead; by default the evaluation fails at once with the fix.
   */
  function fallback(req: LaunchRequest, settings: EndpointSettings, why: string): string {
    if (settings.fallbackToModel && settings.model) {
      req.log(
        `[evalhook] ${why}; inference.fallbackToModel: evaluating the configured model ${settings.model} instead (nothing is written back to ${req.artifact.fullName})`,
      );
      return why;
    }
    const fix = settings.fallbackToModel
      ? 'inference.fallbackToModel is set but inference.model is not: name the model to evaluate instead'
      : 'fix the artifact or the server as described, or set inference.fallbackToModel: true (with inference.model) to evaluate the configured model instead; its score is then not written back';
    throw finalError(`cannot evaluate ${req.artifact.fullName} on ${settings.baseURL}: ${why}. Fix: ${fix}`);
  }

  async function post(
    url: string,
    body: unknown,
    req: LaunchRequest,
    headers: Record<string, string>,
    signal = req.signal,
  ): Promise<HttpResult> {
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
    const plain = async (fallbackNote?: string): Promise<ServedModel> => {
      const model = await servedModel(req, settings, headers);
      return {
        baseURL: settings.baseURL,
        model,
        apiKey,
        describe: { ...describe, model, ...(fallbackNote ? { artifactNotLoaded: fallbackNote } : {}) },
        ...(fallbackNote ? { fallback: { evaluatedModel: model, reason: fallbackNote } } : {}),
        release: async () => {},
      };
    };
    const paths = req.artifact.files.map((f) => f.path);
    const manifest = classifyManifest(paths);
    // Without a manifest (offline mode) or with lora: never, the operator says the endpoint serves the checkpoint.
    if (settings.lora.mode === 'never' || manifest === 'unknown') return plain();
    if (manifest === 'full') {
      return plain(
        fallback(
          req,
          settings,
          `${req.artifact.fullName} is a full model; a running endpoint can only load LoRA adapters (use inference kind "process" to serve it)`,
        ),
      );
    }
    if (manifest === 'unsupported') return plain(fallback(req, settings, unsupportedReason(paths)));

    // Only the adapter is served: merged full weights next to it are never downloaded. A torchtune
    // .pt adapter is converted to PEFT here (cached by digest); vLLM then loads that.
    const { layout, converted } = await servableDownload(
      req,
      { lora: settings.lora as LoraProfile, baseModel: settings.baseModel },
      conversionRoot(opts.workDir),
      adapterFiles(paths),
    );
    if (req.signal.aborted) throw abortReason(req.signal);
    if (layout.kind !== 'lora') {
      return plain(
        fallback(
          req,
          settings,
          layout.kind === 'full'
            ? `${req.artifact.fullName} is a full model; a running endpoint can only load LoRA adapters`
            : layout.reason,
        ),
      );
    }
    const refused = adapterProblems(
      layout.config,
      settings.maxLoraRank,
      "inference.maxLoraRank in the profile and the server's --max-lora-rank",
    );
    if (refused) throw finalError(`cannot serve ${req.artifact.fullName}: ${refused}`);
    const base = resolveBaseModel(layout, req.artifact.metadata, settings.baseModel);
    if ('mismatch' in base) throw finalError(`cannot evaluate ${req.artifact.fullName}: ${base.error}`);
    const served = await servedBase(req, settings, headers);
    if (
      'baseModel' in base &&
      served &&
      !sameBaseModel(base.baseModel, served.root) &&
      !sameBaseModel(base.baseModel, served.id)
    ) {
      throw finalError(
        `cannot evaluate ${req.artifact.fullName} on ${settings.baseURL}: the adapter was trained on ${base.baseModel} (${base.source}) but the server runs ${served.root}; ` +
          `point the profile at a server running ${base.baseModel}`,
      );
    }
    if (!('baseModel' in base))
      req.log(
        `[evalhook] the adapter names no base model; it is loaded on the server's ${served?.root ?? 'model'} unchecked`,
      );
    const name = servedNameFor(req.evaluationId);
    const target = join(resolve(settings.loraDir ?? join(opts.workDir, 'lora')), name);
    try {
      await copyAdapter(layout.dir, target);
    } catch (err) {
      throw finalError(
        `cannot copy the adapter to ${target} (${errorText(err)}): inference.loraDir / LORA_DIR must be writable by the worker and readable by the server at the same path`,
        err,
      );
    }
    const removeCopy = () => rm(target, { recursive: true, force: true });

    /** POST /v1/load_lora_adapter; "already loaded" (a retry of this evaluation, or a reload) counts as loaded. */
    const load = async (): Promise<{ ok: true } | { ok: false; res: HttpResult; message: string }> => {
      const res = await post(
        joinUrl(settings.baseURL, 'load_lora_adapter'),
        { lora_name: name, lora_path: target },
        req,
        headers,
      );
      const message = errorMessage(res.body);
      return res.status === 200 || (res.status === 400 && /already (been )?loaded/i.test(message))
        ? { ok: true }
        : { ok: false, res, message };
    };

    let first: Awaited<ReturnType<typeof load>>;
    try {
      first = await load();
    } catch (err) {
      await removeCopy();
      throw err;
    }
    if (!first.ok) {
      await removeCopy();
      const { res, message } = first;
      // A 404 that does not mention our adapter is the route itself missing: no runtime LoRA here.
      if (res.status === 404 && !message.includes(name)) {
        return plain(
          fallback(
            req,
            settings,
            `the server has no runtime LoRA loading (POST /v1/load_lora_adapter answered 404); ${ENABLE_HINT}`,
          ),
        );
      }
      // vLLM answers 500 (400 on older versions) for an adapter it can never load: final, with the fix.
      if (isAdapterRefusal(message)) {
        throw finalError(
          `vLLM refused the adapter (${res.status}): ${message}. Check the adapter against the server (raise --max-lora-rank and inference.maxLoraRank for a rank error)`,
        );
      }
      const text = `vLLM refused to load the adapter (${res.status}): ${message}. The adapter was copied to ${target}; the server must be able to read that path (inference.loraDir on a shared volume, same path on both sides)`;
      throw res.status >= 500 || res.status === 429 ? transientError(text) : finalError(text);
    }
    req.log(`[evalhook] loaded LoRA adapter ${name} from ${target}`);

    let released: Promise<void> | undefined;
    const reload = async () => {
      if (released) throw finalError(`LoRA adapter ${name} was already released`);
      const again = await load();
      if (!again.ok)
        throw transientError(`reloading LoRA adapter ${name} failed (${again.res.status}): ${again.message}`);
      req.log(`[evalhook] reloaded LoRA adapter ${name} (the server had forgotten it)`);
    };
    const release = () =>
      (released ??= (async () => {
        // The job's signal may be aborted by now (cancel): unloading must still happen.
        const res2 = await post(
          joinUrl(settings.baseURL, 'unload_lora_adapter'),
          { lora_name: name },
          req,
          headers,
          AbortSignal.timeout(opts.callTimeoutMs),
        ).catch((err: unknown) => err as Error);
        await removeCopy();
        if (res2 instanceof Error) throw transientError(`unloading LoRA adapter ${name} failed: ${res2.message}`);
        const gone =
          res2.status === 200 || res2.status === 404 || /not found|cannot be found/i.test(errorMessage(res2.body));
        if (!gone)
          throw transientError(`unloading LoRA adapter ${name} failed (${res2.status}): ${errorMessage(res2.body)}`);
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
        ...(served ? { servedBaseModel: served.root } : {}),
        ...('baseModel' in base ? { baseModel: base.baseModel, baseModelSource: base.source } : {}),
        ...(converted ? { converted } : {}),
      },
      reload,
      release,
    };
  }

  return { launch };
}
