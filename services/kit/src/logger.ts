import { pino, type Logger } from 'pino';
import { activeTraceIds } from './tracing';

export type { Logger };

/**
 * Structured JSON logs on stdout, one line per record, with the service name on every line (and
 * trace_id/span_id inside a traced request or message). Written asynchronously: lines logged
 * while a write is in flight go out together in the next one, so a busy service makes one
 * write per burst instead of one per request. Pino flushes what is pending when the process exits.
 */
export function createLogger(service: string, level: string): Logger {
  return pino(
    {
      level,
      base: { service, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: activeTraceIds,
    },
    pino.destination({ dest: 1, sync: false }),
  );
}
