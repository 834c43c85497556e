/** The profile fields of "Trust the score": inference.fallbackToModel, inference.maxLoraRank, inference.env. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const env = { WEBHOOK_TOKEN: 'x'.repeat(16), ADMIN_TOKEN: 'y'.repeat(16) };
const withFile = (profiles: unknown[], extra: Record<string, string> = {}) =>
  loadConfig({ ...env, ...extra, EVALHOOK_CONFIG: 'rules.json' }, () => JSON.stringify({ profiles, rules: [] }));

describe('inference profile fields', () => {
  it("defaults: no fallback, vLLM's max LoRA rank 16, no extra environment", () => {
    const p = loadConfig(env).profiles.get('default')!;
    expect(p.inference).toMatchObject({ kind: 'endpoint', fallbackToModel: false, maxLoraRank: 16 });
    const proc = withFile([
      { name: 'gpu', inference: { kind: 'process', command: ['vllm', 'serve', '--port', '{port}'] } },
    ]).profiles.get('gpu')!;
    expect(proc.inference).toMatchObject({ kind: 'process', env: [], maxLoraRank: 16 });
  });

  it('reads the exact names, and INFERENCE_MAX_LORA_RANK / INFERENCE_BASE_MODEL for profiles of the same kind', () => {
    const c = withFile(
      [
        { name: 'fb', inference: { kind: 'endpoint', model: 'served', fallbackToModel: true, maxLoraRank: 32 } },
        {
          name: 'gpu',
          inference: { kind: 'process', command: ['vllm', 'serve', '--port', '{port}'], env: ['HF_TOKEN'] },
        },
      ],
      { INFERENCE_MAX_LORA_RANK: '64', INFERENCE_BASE_MODEL: 'meta-llama/Llama-3.1-8B-Instruct' },
    );
    expect(c.profiles.get('fb')!.inference).toMatchObject({
      fallbackToModel: true,
      maxLoraRank: 32,
      baseModel: 'meta-llama/Llama-3.1-8B-Instruct',
    });
    expect(c.profiles.get('default')!.inference).toMatchObject({ maxLoraRank: 64 });
    expect(c.profiles.get('gpu')!.inference).toMatchObject({ env: ['HF_TOKEN'] });
  });

  it('refuses an inference.env entry that is not a variable name, naming the field', () => {
    expect(() =>
      withFile([
        { name: 'gpu', inference: { kind: 'process', command: ['x', '{port}'], env: ['HF_TOKEN; rm -rf /'] } },
      ]),
    ).toThrow(ConfigError);
    expect(() =>
      withFile([{ name: 'gpu', inference: { kind: 'process', command: ['x', '{port}'], env: ['bad name'] } }]),
    ).toThrow(/inference\.env\.0/);
  });
});
