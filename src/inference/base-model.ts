/**
 * Comparing base-model names. Hugging Face renamed Meta's repos (`Meta-Llama-3.1-8B-Instruct` became
 * `Llama-3.1-8B-Instruct`) and torchtune records the name the weights were downloaded under, so a
 * plain string compare would refuse correct adapters; a real mismatch (another size, the base vs
 * the -Instruct variant, another family) must still be caught.
 */

/** Lower-case, no `meta-` before `llama`; for a local path (vLLM's `root`) only its last segment counts. */
export function normalizeModelName(name: string): { org?: string; repo: string } {
  const parts = name.trim().replace(/\/+$/, '').split('/');
  const repo = (parts.at(-1) ?? '').toLowerCase().replace(/^meta-(?=llama)/, '');
  const org =
    parts.length === 2 && !name.trim().startsWith('/') && !name.trim().startsWith('.')
      ? parts[0]!.toLowerCase()
      : undefined;
  return org ? { org, repo } : { repo };
}

/** Same model under either name; organisations are compared only when both names carry one. */
export function sameBaseModel(a: string, b: string): boolean {
  const x = normalizeModelName(a);
  const y = normalizeModelName(b);
  if (x.repo !== y.repo) return false;
  return x.org === undefined || y.org === undefined || x.org === y.org;
}
