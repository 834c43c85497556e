/**
 * PyTorch checkpoints read without executing them, and torchtune `.pt` adapters converted to PEFT.
 * Pure library code (node:fs, node:zlib): the inference launchers decide when to use it.
 */
export { CheckpointError } from './errors.js';
export { findAdapter, epochIn } from './adapter.js';
export { convertCached, convertTorchAdapter, conversionKey, type ConversionInfo } from './convert.js';
export { LLAMA_BUILDERS, resolveLoraFacts, type LoraFacts, type LoraProfile } from './lora-facts.js';
export { readSafetensors } from './safetensors.js';
export { openTorchFile } from './torch-file.js';
export { unpickle } from './pickle.js';
export { PyTuple, TensorRef, StorageRef } from './pickle-globals.js';

import { epochIn } from './adapter.js';
import { openTorchFile } from './torch-file.js';

/** The `.pt`'s own epoch (`epoch`, or `epochs_run` - 1), reading only its pickle. */
export async function torchFileEpoch(path: string): Promise<number | undefined> {
  const f = await openTorchFile(path);
  try {
    return epochIn(f.root);
  } finally {
    await f.close();
  }
}
