/**
 * Which files of an artifact to download when a LoRA adapter is what gets served: the adapter (PEFT,
 * or torchtune's .pt) and
 * its tokenizer files, never the merged full weights torchtune writes next to it (~16 GB for 8B).
 */
import { classifyNames, torchAdapterIn } from './layout.js';

const ADAPTER_FILES = new Set(['adapter_config.json', 'adapter_model.safetensors']);
const TOKENIZER_FILES = new Set(['tokenizer.json', 'tokenizer_config.json', 'tokenizer.model', 'special_tokens_map.json', 'added_tokens.json', 'chat_template.jinja']);

/**
 * Manifest paths of the adapter (the top-level directory's if it holds one, else the one
 * subdirectory that does), or undefined when no single adapter is found (download everything and
 * let the layout check explain).
 */
export function adapterFiles(paths: readonly string[]): string[] | undefined {
  const byDir = new Map<string, string[]>();
  for (const p of paths) {
    const slash = p.lastIndexOf('/');
    const dir = slash < 0 ? '' : p.slice(0, slash);
    byDir.set(dir, [...(byDir.get(dir) ?? []), p.slice(slash + 1)]);
  }
  const dirs = [...byDir.entries()].filter(([, names]) => ['lora', 'torch'].includes(classifyNames(names) ?? '')).map(([d]) => d);
  const dir = dirs.includes('') ? '' : dirs.length === 1 ? dirs[0] : undefined;
  if (dir === undefined) return undefined;
  const names = byDir.get(dir) ?? [];
  // A torchtune .pt adapter is downloaded alone (recipe_state.pt and merged weights are not).
  const torch = torchAdapterIn(names);
  const keep = names.filter((n) => ADAPTER_FILES.has(n) || TOKENIZER_FILES.has(n) || n === torch);
  return keep.map((n) => (dir ? `${dir}/${n}` : n)).sort();
}
