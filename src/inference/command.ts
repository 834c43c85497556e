/**
 * The configured server command (argv array) with its `{...}` placeholders filled. Only values the
 * launcher produced or validated are substituted; the command is never passed to a shell.
 */
import { finalError } from './errors.js';

const PLACEHOLDERS = ['modelDir', 'port', 'name', 'baseModel', 'adapterDir'] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type PlaceholderValues = Partial<Record<Placeholder, string>>;

const TOKEN = /\{([A-Za-z]+)\}/g;

function isPlaceholder(name: string): name is Placeholder {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/** The placeholders a command uses; a misspelt one is a configuration error, caught before any work. */
export function placeholdersIn(command: readonly string[]): Set<Placeholder> {
  const used = new Set<Placeholder>();
  for (const arg of command) {
    for (const m of arg.matchAll(TOKEN)) {
      const name = m[1] ?? '';
      if (!isPlaceholder(name)) {
        throw finalError(
          `inference.command uses an unknown placeholder {${name}}; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`,
        );
      }
      used.add(name);
    }
  }
  return used;
}

/** Fills the placeholders; `why` explains a missing value (e.g. {baseModel} for a full model). */
export function fillCommand(
  command: readonly string[],
  values: PlaceholderValues,
  why: (p: Placeholder) => string,
): string[] {
  return command.map((arg) =>
    arg.replace(TOKEN, (_, name: string) => {
      if (!isPlaceholder(name)) throw finalError(`unknown placeholder {${name}}`);
      const v = values[name];
      if (v === undefined) throw finalError(`inference.command uses {${name}}, but ${why(name)}`);
      return v;
    }),
  );
}
