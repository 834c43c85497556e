/**
 * Finding the LoRA adapter inside an unpickled checkpoint and naming it as PEFT does. Accepted:
 * a plain adapter state dict in torchtune names, the same under `adapter` (torchtune's ADAPTER_KEY)
 * or `model` with other entries (optimizer, seed, epochs_run) ignored, or a state dict already in
 * PEFT names. Key mapping follows torchtune's `tune_to_peft_adapter_weights` (convert_weights.py).
 */
import { CheckpointError } from './errors.js';
import { PyTuple, TensorRef, type PyValue } from './pickle-globals.js';

/** torchtune module -> the Hugging Face module path PEFT uses (torchtune's _FROM_HF, inverted). */
const TUNE_TO_HF: Record<string, { path: (layer: string) => string; target: string; tune: string }> = {
  'attn.q_proj': { path: (l) => `model.layers.${l}.self_attn.q_proj`, target: 'q_proj', tune: 'q_proj' },
  'attn.k_proj': { path: (l) => `model.layers.${l}.self_attn.k_proj`, target: 'k_proj', tune: 'k_proj' },
  'attn.v_proj': { path: (l) => `model.layers.${l}.self_attn.v_proj`, target: 'v_proj', tune: 'v_proj' },
  'attn.output_proj': { path: (l) => `model.layers.${l}.self_attn.o_proj`, target: 'o_proj', tune: 'output_proj' },
  'mlp.w1': { path: (l) => `model.layers.${l}.mlp.gate_proj`, target: 'gate_proj', tune: 'w1' },
  'mlp.w2': { path: (l) => `model.layers.${l}.mlp.down_proj`, target: 'down_proj', tune: 'w2' },
  'mlp.w3': { path: (l) => `model.layers.${l}.mlp.up_proj`, target: 'up_proj', tune: 'w3' },
};

/** torchtune's target module names -> PEFT's (torchtune's _TO_PEFT_TARGET_MODULES). */
export const TUNE_TARGET_TO_PEFT: Readonly<Record<string, string>> = {
  q_proj: 'q_proj',
  k_proj: 'k_proj',
  v_proj: 'v_proj',
  output_proj: 'o_proj',
  w1: 'gate_proj',
  w2: 'down_proj',
  w3: 'up_proj',
  output: 'lm_head',
};
export const PEFT_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj', 'lm_head'];

const TUNE_KEY =
  /^(?:layers\.(\d+)\.(attn\.(?:q_proj|k_proj|v_proj|output_proj)|mlp\.w[123])|(output))\.lora_([ab])\.weight$/;
const PEFT_KEY =
  /^base_model\.model\.(?:model\.layers\.\d+\.(?:self_attn|mlp)\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)|(lm_head))\.lora_([AB])\.weight$/;
const DORA = /(?:\.magnitude|lora_magnitude_vector)$/;

export interface AdapterTensor {
  /** The PEFT key it is written under. */
  peftKey: string;
  /** PEFT target module (q_proj … lm_head). */
  target: string;
  ab: 'A' | 'B';
  tensor: TensorRef;
  /** Rows to permute from Meta's interleaved RoPE layout: q_proj / k_proj lora_B in torchtune names only. */
  rope?: 'q' | 'k';
}

export interface FoundAdapter {
  /** Where the state dict sat: the root, `adapter` or `model`. */
  location: 'root' | 'adapter' | 'model';
  naming: 'torchtune' | 'peft';
  tensors: AdapterTensor[];
  /** The file's own `epoch`, or `epochs_run` - 1 (torchtune counts finished epochs there). */
  epoch?: number;
}

const keyName = (k: PyValue): string | undefined => (typeof k === 'string' ? k : undefined);

function describeValue(v: PyValue): string {
  if (v instanceof TensorRef) return `tensor ${v.storage.dtype}[${v.shape.join('x')}]`;
  if (v instanceof Map) return `dict(${v.size})`;
  if (Array.isArray(v)) return `list(${v.length})`;
  if (v instanceof PyTuple) return `tuple(${v.items.length})`;
  return v === null ? 'None' : typeof v;
}

/** What a refused file held, for the error message. */
function summary(root: PyValue): string {
  if (!(root instanceof Map)) return `a ${describeValue(root)}, not a dict`;
  const entries = [...root.entries()]
    .slice(0, 12)
    .map(([k, v]) => `${String(keyName(k) ?? describeValue(k))}: ${describeValue(v)}`);
  return `a dict with ${root.size} entries (${entries.join(', ')}${root.size > 12 ? ', …' : ''})`;
}

function loraIn(dict: Map<PyValue, PyValue>): { naming: 'torchtune' | 'peft'; tensors: AdapterTensor[] } | undefined {
  const tune: AdapterTensor[] = [];
  const peft: AdapterTensor[] = [];
  for (const [k, v] of dict) {
    const key = keyName(k);
    if (key === undefined) continue;
    if (DORA.test(key))
      throw new CheckpointError(
        `the adapter is DoRA (${key}); vLLM and W&B Serverless LoRA load plain LoRA adapters only`,
      );
    const t = TUNE_KEY.exec(key);
    const p = t ? null : PEFT_KEY.exec(key);
    if (!t && !p) continue;
    if (!(v instanceof TensorRef)) throw new CheckpointError(`${key} is a ${describeValue(v)}, not a tensor`);
    if (v.shape.length !== 2)
      throw new CheckpointError(`${key} has shape [${v.shape.join(', ')}]; LoRA weights are matrices`);
    if (!['F32', 'BF16', 'F16'].includes(v.storage.dtype))
      throw new CheckpointError(`${key} is ${v.storage.dtype}; LoRA weights must be float32, bfloat16 or float16`);
    if (t) {
      const [, layer, module, output, ab] = t;
      const hf = module ? TUNE_TO_HF[module]! : undefined;
      const AB = ab === 'a' ? 'A' : 'B';
      const target = hf ? hf.target : 'lm_head';
      const path = hf ? hf.path(layer!) : (output && 'lm_head')!;
      const rope =
        AB === 'B' && (target === 'q_proj' || target === 'k_proj') ? (target === 'q_proj' ? 'q' : 'k') : undefined;
      tune.push({
        peftKey: `base_model.model.${path}.lora_${AB}.weight`,
        target,
        ab: AB,
        tensor: v,
        ...(rope ? { rope } : {}),
      });
    } else if (p) {
      peft.push({ peftKey: key, target: (p[1] ?? p[2])!, ab: p[3] as 'A' | 'B', tensor: v });
    }
  }
  if (tune.length && peft.length)
    throw new CheckpointError('the state dict mixes torchtune and PEFT key names; save one adapter in one naming');
  if (tune.length) return { naming: 'torchtune', tensors: tune };
  if (peft.length) return { naming: 'peft', tensors: peft };
  return undefined;
}

function epochOf(root: Map<PyValue, PyValue>): number | undefined {
  const e = root.get('epoch');
  if (typeof e === 'number' && Number.isInteger(e) && e >= 0) return e;
  const run = root.get('epochs_run');
  if (typeof run === 'number' && Number.isInteger(run) && run >= 1) return run - 1;
  return undefined;
}

/** The LoRA adapter in an unpickled checkpoint, or a CheckpointError saying what was found instead. */
export function findAdapter(root: PyValue): FoundAdapter {
  if (root instanceof Map) {
    const places: Array<[FoundAdapter['location'], PyValue | undefined]> = [
      ['root', root],
      ['adapter', root.get('adapter')],
      ['model', root.get('model')],
    ];
    for (const [location, value] of places) {
      if (!(value instanceof Map)) continue;
      const found = loraIn(value);
      if (!found) continue;
      const epoch = epochOf(root);
      return { location, ...found, ...(epoch !== undefined ? { epoch } : {}) };
    }
  }
  throw new CheckpointError(
    `the checkpoint holds no LoRA weights: it is ${summary(root)}. Expected torchtune adapter names (layers.N.attn.q_proj.lora_a.weight …), ` +
      `the same under "adapter" or "model", or PEFT names (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight …)`,
  );
}

/** The file's epoch without checking its weights (for the run's checkpoint position). */
export function epochIn(root: PyValue): number | undefined {
  return root instanceof Map ? epochOf(root) : undefined;
}

/**
 * torchtune's `_permute_lora_matrix`: rows of a q/k lora_B from Meta's interleaved rotary layout
 * (per head: pairs 0,1 | 2,3 | …) to Hugging Face's half-split one (evens first, then odds).
 * Whole rows are moved, so values stay bit-identical.
 */
export function permuteRopeRows(src: Buffer, rows: number, rowBytes: number, heads: number, headDim: number): Buffer {
  if (rows !== heads * headDim || headDim % 2) {
    throw new CheckpointError(`a lora_B with ${rows} rows cannot be ${heads} heads of dimension ${headDim}`);
  }
  const out = Buffer.alloc(src.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const to = h * headDim + j * half + i;
        const from = h * headDim + i * 2 + j;
        src.copy(out, to * rowBytes, from * rowBytes, (from + 1) * rowBytes);
      }
    }
  }
  return out;
}
