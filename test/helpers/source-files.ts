/** The repository's own TypeScript sources, read as text by tests that check a rule holds everywhere. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '../..');

/** `{ path (repo-relative), text }` of every .ts file under `dir` (repo-relative). */
export function sourceFiles(dir = 'src'): Array<{ path: string; text: string }> {
  return readdirSync(join(repoRoot, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => {
      const abs = join(e.parentPath, e.name);
      return { path: abs.slice(repoRoot.length + 1), text: readFileSync(abs, 'utf8') };
    });
}
