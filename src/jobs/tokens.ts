/**
 * Prompt-token estimate for reserving a token budget before the call (usage corrects it after).
 * Errs high: ~4 characters per token for ASCII text (English, code), one per character otherwise
 * (Japanese and other scripts tokenise at about a character each), plus the chat format's
 * per-message overhead.
 */
import type { ChatMessage } from '../eval/ports.js';

const PER_MESSAGE = 4;

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
  let ascii = 0;
  let other = 0;
  for (const m of messages) {
    for (const ch of m.content) {
      if (ch.charCodeAt(0) < 128) ascii += 1;
      else other += 1;
    }
  }
  return Math.ceil(ascii / 4) + other + PER_MESSAGE * messages.length + 3;
}
