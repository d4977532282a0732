/** What a new service may be called, and what its topics and route may look like. Pure checks. */
import { MsctlError } from '../core/errors';

export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** Longest name: its schema (dashes → underscores) and consumer group stay well inside PostgreSQL's 63. */
export const MAX_NAME_LENGTH = 40;

/**
 * Names a service cannot take: the shared kit, the infrastructure (stack nodes of their own),
 * and folder names the project or its tooling already means something by.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  'kit',
  'kafka',
  'postgres',
  'postgresql',
  'zookeeper',
  'gateway',
  'msctl',
  'node-modules',
  'node_modules',
  'dist',
  'build',
  'src',
  'test',
  'tests',
  'templates',
  'services',
  'scripts',
  'bin',
  'api',
  'health',
  'metrics',
  'all',
]);

/** Throws USAGE unless `name` can be a new folder in services/ (`existing`: what services/ holds now). */
export function validateServiceName(name: string, existing: readonly string[]): void {
  const hint = 'use lowercase kebab-case, e.g. msctl scaffold new-service inventory';
  if (name === '' || name.trim() === '') throw new MsctlError('USAGE', 'the service needs a name', hint);
  if (name.includes('/') || name.includes('\\') || name.includes('..') || name.includes('\0')) {
    throw new MsctlError('USAGE', `"${name}" is not a service name: it must not contain path separators or ".."`, hint);
  }
  if (!SERVICE_NAME_PATTERN.test(name)) {
    throw new MsctlError('USAGE', `"${name}" is not a service name: it must be lowercase kebab-case (a-z, 0-9 and single dashes, starting with a letter)`, hint);
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new MsctlError('USAGE', `"${name}" is too long (${name.length} characters; at most ${MAX_NAME_LENGTH})`, 'choose a shorter name');
  }
  if (existing.some((entry) => entry.toLowerCase() === name)) {
    throw new MsctlError('USAGE', `services/${name} already exists`, 'choose another name, or remove the folder first');
  }
  if (RESERVED_NAMES.has(name)) {
    throw new MsctlError('USAGE', `"${name}" is reserved`, `choose another name; reserved: ${[...RESERVED_NAMES].join(', ')}`);
  }
}

const TOPIC_PATTERN = /^[A-Za-z0-9._-]{1,249}$/;

/** "a,b" "c" → ["a","b","c"], deduplicated, each a legal Kafka topic name. */
export function parseTopics(values: readonly string[] | undefined, flag: string): string[] {
  const topics = (values ?? []).flatMap((value) => value.split(',')).map((topic) => topic.trim()).filter(Boolean);
  for (const topic of topics) {
    if (!TOPIC_PATTERN.test(topic) || topic === '.' || topic === '..') {
      throw new MsctlError('USAGE', `${flag} ${topic}: not a Kafka topic name`, 'use letters, digits, dots, dashes and underscores, e.g. events.processed');
    }
  }
  return [...new Set(topics)];
}

const ROUTE_PATTERN = /^\/api\/[a-z0-9]+([-_/][a-z0-9]+)*$/;

/** Checks a gateway route prefix and that no other service routes the same path. */
export function validateRoute(prefix: string, taken: ReadonlyArray<{ prefix: string; service: string }>): string {
  const route = prefix.replace(/\/+$/, '');
  if (!ROUTE_PATTERN.test(route)) {
    throw new MsctlError('USAGE', `--route ${prefix}: not a gateway route`, 'use /api/<name>, e.g. --route /api/inventory');
  }
  const clash = taken.find((other) => other.prefix === route || other.prefix.startsWith(`${route}/`) || route.startsWith(`${other.prefix}/`));
  if (clash) {
    throw new MsctlError('USAGE', `--route ${route} overlaps ${clash.prefix}, routed to ${clash.service}`, 'choose a route no other service uses');
  }
  return route;
}
