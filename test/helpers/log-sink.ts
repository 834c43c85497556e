/** A pino destination that keeps everything written to it, for tests that search the log output. */
import { Writable } from 'node:stream';

export function logSink() {
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  return { destination, text: () => out };
}
