import { pino, type Logger } from 'pino';
import { activeTraceIds } from './tracing';

export type { Logger };

/** Structured JSON logs on stdout, one line per record, with the service name on every line (and trace_id/span_id inside a traced request or message). */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: activeTraceIds,
  });
}
