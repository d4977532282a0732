/**
 * Every failure a user can meet is an MsctlError: a stable code, a sentence saying what
 * happened, and a hint saying what to do next. The CLI's exit handler maps them to exit
 * codes; nothing else in the core decides how an error is shown.
 */
export type ErrorCode =
  | 'USAGE'
  | 'INTERRUPTED'
  | 'JAVA_MISSING'
  | 'KAFKA_JARS_UNAVAILABLE'
  | 'KAFKA_START_FAILED'
  | 'POSTGRES_START_FAILED'
  | 'PORT_IN_USE'
  | 'TIMEOUT'
  | 'NOT_RUNNING'
  | 'UNHEALTHY'
  | 'STATE_CORRUPT'
  /** A state file exists but cannot be read (owner, mode): never replaced by a new one. */
  | 'STATE_UNREADABLE'
  /** load-test: setup against the stack failed, or its correctness check did not hold. */
  | 'LOAD_TEST_FAILED'
  | 'DOCKER_UNAVAILABLE'
  | 'IMAGE_BUILD_FAILED'
  | 'KAFKA_UNREACHABLE'
  | 'UNKNOWN_TOPIC'
  | 'TOPIC_EXISTS'
  | 'UNKNOWN_GROUP'
  /** topics groups reset-offsets: the group has members, which would overwrite the offsets. */
  | 'GROUP_ACTIVE'
  /** traces: no stored trace has that id. */
  | 'TRACE_NOT_FOUND'
  /** A program msctl hands over to (psql) is not installed. */
  | 'TOOL_MISSING'
  | 'INTERNAL';

/** Marks an MsctlError of any copy of this module: the dashboard is a file of its own with its own copy. */
const MSCTL_ERROR = Symbol.for('msctl.MsctlError');

export class MsctlError extends Error {
  override readonly name = 'MsctlError';
  get [MSCTL_ERROR](): true {
    return true;
  }
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isMsctlError = (value: unknown): value is MsctlError =>
  value instanceof MsctlError || (typeof value === 'object' && value !== null && (value as { [MSCTL_ERROR]?: unknown })[MSCTL_ERROR] === true);

/** The process exit code for an outcome: 0 ok, 1 failure, 2 usage, 3 an SLO violated (load-test), 130 interrupted. */
export const EXIT_CODES = { ok: 0, failure: 1, usage: 2, sloViolated: 3, interrupted: 130 } as const;

export function exitCodeFor(error: unknown): number {
  if (!isMsctlError(error)) return EXIT_CODES.failure;
  if (error.code === 'USAGE') return EXIT_CODES.usage;
  if (error.code === 'INTERRUPTED') return EXIT_CODES.interrupted;
  return EXIT_CODES.failure;
}
