/**
 * A fake vLLM OpenAI server with runtime LoRA updating, over real HTTP, answering the way
 * vllm/entrypoints/openai/serving_models.py does:
 * - GET /v1/models: the base model card (`root` = the model path it loaded, no `parent`) then one
 *   card per loaded adapter (`root` = its path, `parent` = the base);
 * - POST /v1/load_lora_adapter: 400 "… has already been loaded", 404 "No adapter found" for a path
 *   without an adapter, the rank/feature refusals of PEFTHelper (500 on current vLLM, 400 on older);
 * - POST /v1/unload_lora_adapter: 404 "… cannot be found." for an unknown adapter;
 * - the routes missing entirely (VLLM_ALLOW_RUNTIME_LORA_UPDATING unset): FastAPI's 404 {"detail":"Not Found"};
 * - chat with an unknown model: 404 "The model `…` does not exist.";
 * - a prompt plus max_tokens over max_model_len: 400, as vLLM's context check does;
 * - restart(): forgets every adapter, as a restarted server does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeOpenAI, type FakeOpenAI, type FakeOpenAIOptions } from './openai-server.js';

export interface FakeVllmOptions extends FakeOpenAIOptions {
  /** --served-model-name (default: the model path). */
  served?: string;
  /** The model path vLLM loaded (`root` of the base card). */
  model?: string;
  /** VLLM_ALLOW_RUNTIME_LORA_UPDATING (default true). */
  runtimeLora?: boolean;
  /** --max-lora-rank (default 16, as vLLM's). */
  maxLoraRank?: number;
  /** Status of PEFTHelper refusals: 500 on current vLLM, 400 on older. */
  refusalStatus?: 400 | 500;
  /** --max-model-len in (rough) tokens; unset: no context check. */
  maxModelLen?: number;
}

export interface FakeVllm {
  url: string;
  openai: FakeOpenAI;
  /** Loaded adapters: name -> path. */
  adapters: Map<string, string>;
  loads: Array<{ name: string; path: string; status: number }>;
  unloads: Array<{ name: string; status: number }>;
  /** Forget every runtime adapter (a restarted server). */
  restart(): void;
  close(): Promise<void>;
}

const error = (message: string, type: string, code: number) => ({ error: { message, type, param: null, code } });
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

export async function startFakeVllm(opts: FakeVllmOptions = {}): Promise<FakeVllm> {
  const model = opts.model ?? 'meta-llama/Llama-3.1-8B-Instruct';
  const served = opts.served ?? model;
  const maxRank = opts.maxLoraRank ?? 16;
  const refusal = opts.refusalStatus ?? 500;
  const openai = await startFakeOpenAI(opts);
  const adapters = new Map<string, string>();
  const loads: FakeVllm['loads'] = [];
  const unloads: FakeVllm['unloads'] = [];
  const notFound = { status: 404, body: { detail: 'Not Found' } };

  openai.route('GET', '/v1/models', () => ({
    status: 200,
    body: {
      object: 'list',
      data: [
        {
          id: served,
          object: 'model',
          created: 0,
          owned_by: 'vllm',
          root: model,
          parent: null,
          max_model_len: opts.maxModelLen ?? 131072,
        },
        ...[...adapters].map(([id, path]) => ({
          id,
          object: 'model',
          created: 0,
          owned_by: 'vllm',
          root: path,
          parent: served,
        })),
      ],
    },
  }));

  openai.route('POST', '/v1/load_lora_adapter', (raw) => {
    if (opts.runtimeLora === false) return notFound;
    const b = (raw ?? {}) as { lora_name?: string; lora_path?: string; load_inplace?: boolean };
    const answer = (status: number, body: unknown) => {
      loads.push({ name: b.lora_name ?? '', path: b.lora_path ?? '', status });
      return { status, body };
    };
    if (!b.lora_name || !b.lora_path)
      return answer(400, error("Both 'lora_name' and 'lora_path' must be provided.", 'InvalidUserInput', 400));
    if (adapters.has(b.lora_name) && !b.load_inplace) {
      return answer(
        400,
        error(
          `The lora adapter '${b.lora_name}' has already been loaded. If you want to load the adapter in place, set 'load_inplace' to True.`,
          'InvalidUserInput',
          400,
        ),
      );
    }
    const cfgPath = join(b.lora_path, 'adapter_config.json');
    if (!existsSync(cfgPath) || !existsSync(join(b.lora_path, 'adapter_model.safetensors'))) {
      return answer(
        404,
        error(`Loading lora ${b.lora_name} failed: No adapter found for ${b.lora_path}`, 'NotFoundError', 404),
      );
    }
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as {
      r?: number;
      modules_to_save?: unknown;
      use_dora?: boolean;
      bias?: string;
    };
    const refuse = (message: string) =>
      answer(refusal, error(message, refusal === 500 ? 'InternalServerError' : 'BadRequestError', refusal));
    if ((cfg.r ?? 0) > maxRank) return refuse(`LoRA rank ${String(cfg.r)} is greater than max_lora_rank ${maxRank}.`);
    if (cfg.modules_to_save) return refuse('vLLM only supports modules_to_save being None.');
    if (cfg.use_dora) return refuse('vLLM does not yet support DoRA.');
    if (cfg.bias && cfg.bias !== 'none') return refuse('Adapter bias cannot be used without bias_enabled.');
    adapters.set(b.lora_name, b.lora_path);
    return answer(200, `Success: LoRA adapter '${b.lora_name}' added successfully.`);
  });

  openai.route('POST', '/v1/unload_lora_adapter', (raw) => {
    if (opts.runtimeLora === false) return notFound;
    const name = ((raw ?? {}) as { lora_name?: string }).lora_name ?? '';
    if (!adapters.delete(name)) {
      unloads.push({ name, status: 404 });
      return { status: 404, body: error(`The lora adapter '${name}' cannot be found.`, 'NotFoundError', 404) };
    }
    unloads.push({ name, status: 200 });
    return { status: 200, body: `Success: LoRA adapter '${name}' removed successfully.` };
  });

  openai.failWhen((body) => {
    if (body.model !== served && !adapters.has(body.model))
      return { status: 404, body: error(`The model \`${body.model}\` does not exist.`, 'NotFoundError', 404) };
    if (opts.maxModelLen !== undefined) {
      const prompt = tokens(body.messages.map((m) => m.content).join('\n'));
      const want = prompt + (body.max_tokens ?? 0);
      if (want > opts.maxModelLen) {
        return {
          status: 400,
          body: error(
            `This model's maximum context length is ${opts.maxModelLen} tokens. However, you requested ${want} tokens (${prompt} in the messages, ${body.max_tokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
            'BadRequestError',
            400,
          ),
        };
      }
    }
    return undefined;
  });

  return {
    url: openai.url,
    openai,
    adapters,
    loads,
    unloads,
    restart: () => adapters.clear(),
    close: () => openai.close(),
  };
}
