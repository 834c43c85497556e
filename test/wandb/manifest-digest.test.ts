/**
 * The artifact manifest digest against a vector produced by the wandb SDK's own algorithm, not by our
 * code: `ArtifactManifestV1.digest()` in wandb/wandb `wandb/sdk/artifacts/artifact_manifests/
 * artifact_manifest_v1.py` (commit b6e2950588) is md5 over b"wandb-artifact-manifest-v1\n" then
 * f"{path}:{entry.digest}\n" for each entry sorted by path. Computed with Python's hashlib running
 * those lines on the entries below: df65d1ef8e2a5cd92caba28287bbd62d.
 */
import { describe, expect, it } from 'vitest';
import { manifestDigest } from '../../src/wandb/download.js';

const entry = (digest: string) => ({ digest, size: 1 });

describe('manifestDigest', () => {
  it("equals the wandb SDK's ArtifactManifestV1.digest for the same entries (insertion order irrelevant)", () => {
    const manifest = {
      version: 1,
      storagePolicy: 'wandb-storage-policy-v1',
      storagePolicyConfig: {},
      contents: {
        'adapter_model.safetensors': entry('n6zLUhMoSu8OSoX2BVKDNw=='),
        'adapter_config.json': entry('1B2M2Y8AsgTpgAmY7PhCfg=='),
        'epoch_0/tokenizer.json': entry('rL0Y20zC+Fzt72VPzMSk2A=='),
      },
    };
    expect(manifestDigest(manifest as never)).toBe('df65d1ef8e2a5cd92caba28287bbd62d');
  });
});
