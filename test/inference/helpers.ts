/** Fixtures shared by the inference tests: artifacts, profiles, checkpoint directories, the fake server command. */
import { readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { tempDir as makeTempDir } from '../helpers/tmp.js';
import { join, resolve } from 'node:path';
import type { ResolvedArtifact } from '../../src/ports.js';
import { Profile, type ProfileInput } from '../../src/profile.js';
import { groupAlive } from '../../src/inference/server-process.js';

export const FAKE_SERVER = resolve('test/fakes/model-server-process.ts');

export function artifact(over: Partial<ResolvedArtifact> = {}): ResolvedArtifact {
  const a = { entity: 'acme', project: 'llm', collection: 'my-lora', version: 'v3', ...over };
  return {
    id: 'QXJ0aWZhY3Q6MQ==',
    type: 'model',
    digest: 'abc123',
    aliases: [],
    metadata: {},
    files: [
      { path: 'adapter_config.json', size: 10 },
      { path: 'adapter_model.safetensors', size: 100 },
    ],
    fullName: `${a.entity}/${a.project}/${a.collection}:${a.version}`,
    ...a,
  };
}

export function profile(inference: ProfileInput['inference']): Profile {
  return Profile.parse({ name: 'test', judge: { baseURL: 'http://127.0.0.1:1/v1', model: 'judge' }, inference });
}

/** Removed after the test file (see test/helpers/tmp.ts). */
export async function tempDir(name = 'inf'): Promise<string> {
  return makeTempDir(name);
}

/** A PEFT adapter; `base` undefined writes torchtune's config (no base_model_name_or_path). */
export async function writeLora(
  dir: string,
  base?: string | null,
  extra: Record<string, string> = {},
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const cfg: Record<string, unknown> = {
    peft_type: 'LORA',
    r: 8,
    lora_alpha: 16,
    target_modules: ['q_proj', 'v_proj'],
  };
  if (base !== undefined) cfg.base_model_name_or_path = base;
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(cfg));
  await writeFile(join(dir, 'adapter_model.safetensors'), 'weights');
  for (const [f, c] of Object.entries(extra)) await writeFile(join(dir, f), c);
  return dir;
}

export async function writeFull(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), '{"architectures":["LlamaForCausalLM"]}');
  await writeFile(join(dir, 'model-00001-of-00002.safetensors'), 'a');
  await writeFile(join(dir, 'model-00002-of-00002.safetensors'), 'b');
  await writeFile(join(dir, 'tokenizer.json'), '{}');
  return dir;
}

/** The fake server as a launch command (argv array with placeholders), without a model dir. */
export function fakeAdapterCommand(...flags: string[]): string[] {
  return [process.execPath, '--import', 'tsx', FAKE_SERVER, '--port', '{port}', '--name', '{name}', ...flags];
}

/** The fake server as a launch command (argv array with placeholders). */
export function fakeCommand(...flags: string[]): string[] {
  return fakeAdapterCommand('--model-dir', '{modelDir}', ...flags);
}

/** Polls `cond` until true or the deadline passes (then throws with `what`). */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A process is alive when it exists and is not a zombie (a dead child its parent has not reaped). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export { groupAlive };

/** Every path under `root` (relative), for asserting what a launcher created. */
export async function treeOf(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(p);
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk('');
  return out;
}

export function collectLog(): { lines: string[]; log: (l: string) => void } {
  const lines: string[] = [];
  return { lines, log: (l) => lines.push(l) };
}
