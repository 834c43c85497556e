/**
 * vLLM keeps runtime LoRA adapters only in memory: after a restart every call for ours answers
 * 404 "The model `<name>` does not exist." — final for any other model, but here loading the adapter
 * again fixes it. Bounded, so a server that keeps forgetting it fails the evaluation.
 */
import { EndpointError } from '../eval/errors.js';
import type { ChatClient } from '../eval/ports.js';
import type { ServedModel } from '../ports.js';

const MAX_ADAPTER_RELOADS = 3;

export function withAdapterReload(
  client: ChatClient,
  served: ServedModel,
  log: (line: string) => void,
  maxReloads = MAX_ADAPTER_RELOADS,
): ChatClient {
  const reload = served.reload;
  if (!reload) return client;
  let reloads = 0;
  // Reloads finished so far: a call sent before the latest one finished just tries again, so the
  // calls in flight during one restart cost one reload, not one each.
  let generation = 0;
  let pending: Promise<void> | undefined;
  const names = (err: unknown) =>
    err instanceof EndpointError && err.status === 404 && err.message.includes(served.model);
  return {
    async complete(req, call) {
      for (;;) {
        const sentAt = generation;
        try {
          return await client.complete(req, call);
        } catch (err) {
          if (!names(err) || call?.signal?.aborted) throw err;
          if (sentAt !== generation) continue;
          if (!pending) {
            if (reloads >= maxReloads) {
              throw new EndpointError(
                `${(err as Error).message} (the adapter was reloaded ${maxReloads} times already; the server keeps forgetting it)`,
                'unrecoverable',
                { status: 404, role: 'candidate', cause: err },
              );
            }
            reloads += 1;
            log(`the server forgot LoRA adapter ${served.model} (404); reloading it (${reloads}/${maxReloads})`);
            pending = reload()
              .then(() => void (generation += 1))
              .finally(() => (pending = undefined));
          }
          // A failed reload is retryable: the engine's retry loop tries the call again later.
          await pending.catch((e: unknown) => {
            throw new EndpointError(
              `reloading LoRA adapter ${served.model} failed: ${e instanceof Error ? e.message : String(e)}`,
              'server',
              { role: 'candidate', cause: e },
            );
          });
        }
      }
    },
  };
}
