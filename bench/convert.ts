/**
 * npm run bench:convert — converting a Llama 3.1 8B rank-16 torchtune adapter (.pt, bfloat16,
 * LoRA on q/k/v/o and the MLP: lora_llama3_1_8b with apply_lora_to_mlp) to PEFT: wall time and peak
 * RSS of this process, printed as JSON. The synthetic .pt is written once into the OS temp dir by
 * real PyTorch (BENCH_PYTHON, default /usr/bin/python3 with python3-torch), then reused.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCached, convertTorchAdapter, LLAMA_BUILDERS, type LoraFacts } from '../src/checkpoint/index.js';

const RANK = 16;
const file = join(tmpdir(), `evalhook-bench-llama3_1_8b-r${RANK}.pt`);

const GENERATE = `
import sys, torch
from collections import OrderedDict
r, dim, kv, hidden, layers = ${RANK}, 4096, 1024, 14336, 32
shapes = {"attn.q_proj": (dim, dim), "attn.k_proj": (dim, kv), "attn.v_proj": (dim, kv), "attn.output_proj": (dim, dim),
          "mlp.w1": (dim, hidden), "mlp.w2": (hidden, dim), "mlp.w3": (dim, hidden)}
g = torch.Generator().manual_seed(0)
sd = OrderedDict()
for i in range(layers):
    for m, (fin, fout) in shapes.items():
        sd[f"layers.{i}.{m}.lora_a.weight"] = torch.randn(r, fin, generator=g).to(torch.bfloat16)
        sd[f"layers.{i}.{m}.lora_b.weight"] = torch.randn(fout, r, generator=g).to(torch.bfloat16)
torch.save(sd, sys.argv[1])
`;

if (!existsSync(file)) {
  execFileSync(process.env.BENCH_PYTHON ?? '/usr/bin/python3', ['-c', GENERATE, file], { stdio: 'inherit' });
}

const facts: LoraFacts = {
  alpha: { value: 32, source: 'training run config' },
  rank: { value: RANK, source: 'training run config' },
  heads: { value: LLAMA_BUILDERS.llama3_1_8b!, source: 'model builder torchtune.models.llama3_1.lora_llama3_1_8b' },
};
const out = mkdtempSync(join(tmpdir(), 'evalhook-bench-convert-'));
try {
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const info = await convertTorchAdapter(file, out, { facts });
  const convertMs = performance.now() - t0;
  const peakRss = process.resourceUsage().maxRSS * 1024;
  // The cached path (a retry, another profile): one stat and one small JSON read.
  const cacheRoot = join(out, 'cache');
  await convertCached(file, cacheRoot, 'k', { facts });
  const t1 = performance.now();
  const cached = await convertCached(file, cacheRoot, 'k', { facts });
  const cachedMs = performance.now() - t1;
  console.log(
    JSON.stringify({
      bench: 'convert',
      model: 'lora_llama3_1_8b (q,k,v,o + mlp), bfloat16',
      rank: info.rank,
      tensors: info.tensors,
      inputBytes: statSync(file).size,
      outputBytes: statSync(join(out, 'adapter_model.safetensors')).size,
      convertMs: Math.round(convertMs),
      cachedMs: Math.round(cachedMs * 100) / 100,
      cachedHit: cached.cached,
      rssBeforeMB: Math.round(rssBefore / 2 ** 20),
      peakRssMB: Math.round(peakRss / 2 ** 20),
      node: process.version,
    }),
  );
} finally {
  rmSync(out, { recursive: true, force: true });
}
