/**
 * What vLLM (PEFTHelper.validate_legal and the LoRA model loader) refuses in an adapter_config.json,
 * checked before anything is copied, loaded or launched: these are properties of the artifact, so
 * no retry can fix them and the evaluation fails once, naming the value and the setting to change.
 */
import type { AdapterConfig } from './layout.js';

/** The highest rank in the adapter: `r`, or a larger one in PEFT's per-module `rank_pattern`. */
export function adapterRank(cfg: AdapterConfig): number | undefined {
  const pattern =
    cfg.rank_pattern && typeof cfg.rank_pattern === 'object'
      ? Object.values(cfg.rank_pattern as Record<string, unknown>)
      : [];
  const ranks = [cfg.r, ...pattern].filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return ranks.length ? Math.max(...ranks) : undefined;
}

/** Why the server cannot load this adapter, or undefined. `rankSetting` names where the limit is set. */
export function adapterProblems(cfg: AdapterConfig, maxLoraRank: number, rankSetting: string): string | undefined {
  const out: string[] = [];
  const rank = adapterRank(cfg);
  if (rank !== undefined && rank > maxLoraRank) {
    out.push(
      `the adapter's LoRA rank is ${rank}, above the server's max LoRA rank ${maxLoraRank}: set ${rankSetting} to at least ${rank} (vLLM --max-lora-rank; it accepts 8, 16, 32, 64, 128, 256, 320, 512)`,
    );
  }
  const modules = cfg.modules_to_save;
  if (modules !== undefined && modules !== null && !(Array.isArray(modules) && modules.length === 0)) {
    out.push(
      `adapter_config.json sets modules_to_save ${JSON.stringify(modules)}: vLLM cannot serve adapters with fully trained extra modules; train without modules_to_save, or merge the adapter and serve the full model`,
    );
  }
  if (cfg.use_dora === true)
    out.push(
      'adapter_config.json sets use_dora: true: vLLM does not serve DoRA adapters; merge the adapter and serve the full model',
    );
  if (typeof cfg.bias === 'string' && cfg.bias !== 'none')
    out.push(`adapter_config.json sets bias "${cfg.bias}": vLLM serves only adapters with bias "none"`);
  return out.length ? out.join('; ') : undefined;
}

/** vLLM's own words for the same refusals (500 on current versions, 400 on older ones): retrying cannot help. */
export function isAdapterRefusal(message: string): boolean {
  return /greater than max_lora_rank|modules_to_save|dora|bias|unsupported lora weight/i.test(message);
}
