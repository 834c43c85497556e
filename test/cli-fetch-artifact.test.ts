/**
 * `evalhook fetch-artifact`, the init container of kind=kubernetes pods, against the fake W&B: the
 * checkpoint lands in <to>/artifact through the workers' download code, exit 78 for what no retry
 * can serve (pickles, an adapter of another base model, no key), 2 for bad arguments; the API key
 * never reaches the output.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchArtifactCommand } from '../src/cli/fetch-artifact.js';
import { startFakeWandb, type FakeWandb } from './fakes/wandb-server.js';
import { tempDir } from './helpers/tmp.js';
import { schemaMissing } from './wandb/helpers.js';

let wb: FakeWandb | undefined;
afterEach(async () => {
  await wb?.close();
  wb = undefined;
});

async function run(argv: string[], env: NodeJS.ProcessEnv) {
  let out = '';
  let err = '';
  const code = await fetchArtifactCommand(argv, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { LOG_LEVEL: 'silent', ...env },
  });
  return { code, out, err };
}

const LORA = {
  'adapter_config.json': JSON.stringify({
    peft_type: 'LORA',
    r: 8,
    base_model_name_or_path: 'meta-llama/Llama-3.1-8B-Instruct',
  }),
  'adapter_model.safetensors': Buffer.alloc(32, 7),
};

describe.skipIf(schemaMissing)('evalhook fetch-artifact', () => {
  it('downloads the version into <to>/artifact and reports what it holds', async () => {
    wb = await startFakeWandb();
    const a = wb.seedArtifact({ entity: 'acme', project: 'ft', collection: 'lora', files: LORA });
    const to = tempDir('fetch');
    const r = await run(['--artifact', a.id, '--to', to, '--base-model', 'meta-llama/Llama-3.1-8B-Instruct'], {
      WANDB_API_KEY: wb.apiKey,
      WANDB_BASE_URL: wb.url,
    });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ artifact: 'acme/ft/lora:v0', kind: 'lora', dir: join(to, 'artifact') });
    expect(readdirSync(to)).toEqual(['artifact']);
    expect(readFileSync(join(to, 'artifact/adapter_model.safetensors'))).toEqual(Buffer.alloc(32, 7));
    expect(r.out + r.err).not.toContain(wb.apiKey);
  });

  it('an adapter of another base model than the Job serves is refused with 78', async () => {
    wb = await startFakeWandb();
    const a = wb.seedArtifact({ entity: 'acme', project: 'ft', collection: 'lora', files: LORA });
    const r = await run(['--artifact', a.id, '--to', tempDir('fetch'), '--base-model', 'Qwen/Qwen2.5-7B-Instruct'], {
      WANDB_API_KEY: wb.apiKey,
      WANDB_BASE_URL: wb.url,
    });
    expect(r.code).toBe(78);
    expect(r.err).toContain(
      'is a LoRA adapter of meta-llama/Llama-3.1-8B-Instruct (adapter_config.json), but the server is started with Qwen/Qwen2.5-7B-Instruct',
    );
  });

  it('a torchtune .pt is refused with 78: the init container does not convert', async () => {
    wb = await startFakeWandb();
    const a = wb.seedArtifact({
      entity: 'acme',
      project: 'ft',
      collection: 'lora',
      files: { 'adapter_checkpoint_0.pt': 'x' },
    });
    const r = await run(['--artifact', a.id, '--to', tempDir('fetch')], {
      WANDB_API_KEY: wb.apiKey,
      WANDB_BASE_URL: wb.url,
    });
    expect(r.code).toBe(78);
    expect(r.err).toContain('a torchtune .pt adapter must be converted to PEFT first');
  });

  it('no API key is 78; bad arguments are 2 and nothing is fetched', async () => {
    expect((await run(['--artifact', 'QQ==', '--to', '/models'], {})).code).toBe(78);
    for (const argv of [
      ['--artifact', 'a;b', '--to', '/models'],
      ['--artifact', 'QQ==', '--to', 'relative'],
      ['--artifact', 'QQ==', '--to', '/m/../etc'],
      ['--artifact', 'QQ==', '--to', '/models', '--base-model', '--x'],
      ['--nope'],
    ]) {
      const r = await run(argv, { WANDB_API_KEY: 'k' });
      expect(r.code, argv.join(' ')).toBe(2);
    }
    expect(existsSync('/m')).toBe(false);
  });
});
