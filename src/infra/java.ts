/** Finds a Java runtime (>= 17) for the local Kafka broker. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MsctlError } from '../core/errors';
import { runToEnd } from '../core/exec';

export interface JavaRuntime {
  /** Executable to run (absolute when found through JAVA_HOME, else `java` from PATH). */
  path: string;
  /** Major version: 17, 21, ... (1.8 → 8). */
  major: number;
  /** Full version string as printed by `java -version`. */
  version: string;
}

export const MIN_JAVA_MAJOR = 17;

const INSTALL_HINT =
  'Install Java 17 or newer (Debian/Ubuntu: `apt-get install -y openjdk-17-jre-headless`), ' +
  'set JAVA_HOME to it, or use `--runtime docker`.';

/** Parses `java -version` output (stderr) into version string and major number. */
export function parseJavaVersion(output: string): { version: string; major: number } | undefined {
  const match = /version "([^"]+)"/.exec(output) ?? /^\S+ (\d+(?:\.\d+)*)/m.exec(output);
  const version = match?.[1];
  if (!version) return undefined;
  const parts = version.split(/[._+-]/).map((p) => Number.parseInt(p, 10));
  const major = parts[0] === 1 ? (parts[1] ?? 0) : (parts[0] ?? 0);
  return Number.isFinite(major) ? { version, major } : undefined;
}

let cached: Promise<JavaRuntime> | undefined;

/** JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH. Throws JAVA_MISSING. */
export function findJava(env: NodeJS.ProcessEnv = process.env): Promise<JavaRuntime> {
  if (env === process.env) {
    cached ??= probe(env).catch((error: unknown) => {
      cached = undefined;
      throw error;
    });
    return cached;
  }
  return probe(env);
}

async function probe(env: NodeJS.ProcessEnv): Promise<JavaRuntime> {
  const javaHome = env.JAVA_HOME;
  const candidate = javaHome ? join(javaHome, 'bin', 'java') : 'java';
  if (javaHome && !existsSync(candidate)) {
    throw new MsctlError('JAVA_MISSING', `JAVA_HOME is set to ${javaHome} but ${candidate} does not exist.`, INSTALL_HINT);
  }
  let output: string;
  try {
    output = await runToEnd(candidate, ['-version'], { env, timeoutMs: 15_000 });
  } catch (error) {
    throw new MsctlError('JAVA_MISSING', `No Java runtime found (tried \`${candidate}\`).`, INSTALL_HINT, { cause: error });
  }
  const parsed = parseJavaVersion(output);
  if (!parsed) {
    throw new MsctlError('JAVA_MISSING', `Could not read the Java version from \`${candidate} -version\`: ${output.trim()}`, INSTALL_HINT);
  }
  if (parsed.major < MIN_JAVA_MAJOR) {
    throw new MsctlError(
      'JAVA_MISSING',
      `Java ${parsed.version} at \`${candidate}\` is too old: the Kafka broker needs Java ${MIN_JAVA_MAJOR} or newer.`,
      INSTALL_HINT,
    );
  }
  return { path: candidate, ...parsed };
}
