/**
 * Which files of an artifact to download when a LoRA adapter is what gets served: the adapter (PEFT,
 * or torchtune's .pt) and its tokenizer files, never the merged full weights torchtune writes next
 * to it (~16 GB for 8B).
 */
import { manifestModelDir, namesByDir, torchAdapterIn } from './layout.js';

const ADAPTER_FILES = new Set(['adapter_config.json', 'adapter_model.safetensors']);
const TOKENIZER_FILES = new Set([
  'tokenizer.json',
  'tokenizer_config.json',
  'tokenizer.model',
  'special_tokens_map.json',
  'added_tokens.json',
  'chat_template.jinja',
]);

/**
 * Manifest paths of the adapter (in the directory manifestModelDir picks), or undefined when that
 * is no adapter (download everything and let the layout check explain).
 */
export function adapterFiles(paths: readonly string[]): string[] | undefined {
  const found = manifestModelDir(paths);
  if (found?.kind !== 'lora' && found?.kind !== 'torch') return undefined;
  const { dir } = found;
  const names = namesByDir(paths).get(dir) ?? [];
  // A torchtune .pt adapter is downloaded alone (recipe_state.pt and merged weights are not).
  const torch = torchAdapterIn(names);
  const keep = names.filter((n) => ADAPTER_FILES.has(n) || TOKENIZER_FILES.has(n) || n === torch);
  return keep.map((n) => (dir ? `${dir}/${n}` : n)).sort();
}
