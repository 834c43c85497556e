/**
 * `output.log` lines as wandb-core writes them (core/internal/runconsolelogs/runlogschangemodel.go,
 * LegacyFormat): `<prefix><UTC time with microseconds, no zone suffix> <content>`, prefix `ERROR `
 * for stderr and none for stdout. The W&B frontend parses this prefix, so the format is exact.
 */

/** Python-style ISO time in UTC with microseconds and no `Z`: 2026-11-30T03:04:05.123456. */
export function consoleTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-11-30T03:04:05.123Z
  const micros = String(Math.round((ms - Math.floor(ms)) * 1000)).padStart(3, '0');
  return `${iso.slice(0, -1)}${micros}`;
}

/** One line per content line: a multi-line text (a server's output, a stack of reasons) is split. */
export function consoleLines(text: string, stream: 'stdout' | 'stderr', at: number): string[] {
  const lines = text.split(/\r\n|\n|\r/);
  while (lines.length > 1 && lines.at(-1)!.trim() === '') lines.pop();
  const prefix = stream === 'stderr' ? 'ERROR ' : '';
  const ts = consoleTimestamp(at);
  return lines.map((l) => `${prefix}${ts} ${l}`);
}
