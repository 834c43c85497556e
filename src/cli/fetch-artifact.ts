/**
 * `evalhook fetch-artifact --artifact <node id> --to <dir>`: the init container of a kind=kubernetes
 * inference pod. Downloads the version with the same W&B client and md5-checked download code as
 * the workers into <dir>/artifact, then checks the files are what the Job's args expect (same layout
 * rules; a LoRA adapter's own base model must match --base-model). Exit 78 means no retry can help.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isRetryable } from '../errors.js';
import { EXIT_UNSERVABLE } from '../inference/kubernetes/names.js';
import { adapterFiles } from '../inference/adapter-files.js';
import { sameBaseModel } from '../inference/base-model.js';
import { detectModelLayout } from '../inference/layout.js';
import { isHfId, isSafePath } from '../inference/safe-values.js';
import { createLogger } from '../logger.js';
import { createWandb } from '../wandb/index.js';

const USAGE = `usage: evalhook fetch-artifact --artifact <W&B artifact node id> --to <absolute dir> [--base-model <hf id>]
  Reads WANDB_API_KEY (and WANDB_BASE_URL) from the environment. Files land in <dir>/artifact.`;

const Env = z.object({
  WANDB_API_KEY: z.string().min(1, 'required (the init container reads it from inference.wandbApiKeySecret)'),
  WANDB_BASE_URL: z.url().default('https://api.wandb.ai'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface FetchArtifactIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
  fetch?: typeof fetch;
}

export async function fetchArtifactCommand(
  argv: string[],
  io: FetchArtifactIO = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  const fail = (code: number, message: string) => {
    io.stderr.write(`evalhook fetch-artifact: ${message}\n`);
    return code;
  };
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        artifact: { type: 'string' },
        to: { type: 'string' },
        'base-model': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    return fail(2, `${(err as Error).message}\n${USAGE}`);
  }
  if (v.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!v.artifact || !/^[A-Za-z0-9+/=_-]{1,256}$/.test(v.artifact))
    return fail(2, `--artifact must be a W&B artifact node id\n${USAGE}`);
  if (!v.to || !isSafePath(v.to)) return fail(2, `--to must be an absolute plain path\n${USAGE}`);
  if (v['base-model'] !== undefined && !isHfId(v['base-model']))
    return fail(2, '--base-model must be a Hugging Face model id');
  const env = Env.safeParse(io.env);
  if (!env.success)
    return fail(EXIT_UNSERVABLE, env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));

  const logger = createLogger({ level: env.data.LOG_LEVEL, censorSecrets: [env.data.WANDB_API_KEY] });
  const cacheDir = join(v.to, '.download');
  const target = join(v.to, 'artifact');
  const wandb = createWandb({
    apiKey: env.data.WANDB_API_KEY,
    baseURL: env.data.WANDB_BASE_URL,
    cacheDir,
    fetch: io.fetch,
    logger,
    heartbeatMs: 0,
  });
  try {
    const artifact = await wandb.artifacts.resolve({ id: v.artifact });
    // Only what is served: an adapter's files, never the merged weights torchtune writes beside it.
    const files = adapterFiles(artifact.files.map((f) => f.path));
    const dir = await wandb.artifacts.download(artifact, undefined, files ? { files } : {});
    await rm(target, { recursive: true, force: true });
    await mkdir(v.to, { recursive: true });
    await rename(dir, target);
    await rm(cacheDir, { recursive: true, force: true });
    const layout = await detectModelLayout(target);
    if (layout.kind === 'unsupported')
      return fail(EXIT_UNSERVABLE, `cannot serve ${artifact.fullName}: ${layout.reason}`);
    if (layout.kind === 'lora' && layout.format === 'torch') {
      return fail(
        EXIT_UNSERVABLE,
        `cannot serve ${artifact.fullName} from the init container: a torchtune .pt adapter must be converted to PEFT first (set inference.persistentVolumeClaim so the worker converts it)`,
      );
    }
    const expected = v['base-model'];
    if (
      layout.kind === 'lora' &&
      expected &&
      layout.baseModel &&
      isHfId(layout.baseModel) &&
      !sameBaseModel(layout.baseModel, expected)
    ) {
      return fail(
        EXIT_UNSERVABLE,
        `${artifact.fullName} is a LoRA adapter of ${layout.baseModel} (adapter_config.json), but the server is started with ${expected}: set the artifact metadata base_model or inference.baseModel to match`,
      );
    }
    io.stdout.write(`${JSON.stringify({ artifact: artifact.fullName, kind: layout.kind, dir: layout.dir })}\n`);
    return 0;
  } catch (err) {
    const retryable = isRetryable(err);
    return fail(retryable ? 1 : EXIT_UNSERVABLE, err instanceof Error ? err.message : String(err));
  }
}
