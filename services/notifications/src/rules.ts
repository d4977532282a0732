/** Which events cause which notification: pure functions, no I/O. */
import type { CloudEvent } from '@msctl/kit';

export const DEFAULT_NOTIFY_EVENT_TYPES = 'alert.triggered,payment.failed,order.shipped';

export interface NewNotification {
  eventId: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
}

/** "a.b, alert.*" → ["a.b", "alert.*"]: exact types, or a prefix followed by "*". */
export function parseTypePatterns(list: string): string[] {
  return list
    .split(',')
    .map((pattern) => pattern.trim())
    .filter(Boolean);
}

export function matchesType(type: string, patterns: string[]): boolean {
  return patterns.some((pattern) => (pattern.endsWith('*') ? type.startsWith(pattern.slice(0, -1)) : type === pattern));
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const nonEmptyString = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

/** A welcome for `user.created`; the user id is data.id (or the subject). */
export function welcomeFor(event: CloudEvent): NewNotification | undefined {
  if (event.type !== 'user.created') return undefined;
  const data = isObject(event.data) ? event.data : {};
  const userId = nonEmptyString(data.id) ?? nonEmptyString(event.subject);
  if (!userId) return undefined;
  const name = nonEmptyString(data.displayName) ?? nonEmptyString(data.username) ?? 'there';
  return {
    eventId: event.id,
    userId,
    kind: 'welcome',
    title: `Welcome, ${name}!`,
    body: 'Your account is ready.',
    data: { ...(nonEmptyString(data.username) ? { username: data.username } : {}) },
  };
}

const TITLES: Record<string, string> = {
  'alert.triggered': 'An alert was triggered',
  'payment.failed': 'A payment failed',
  'order.shipped': 'Your order has shipped',
};

export function titleFor(type: string): string {
  const known = TITLES[type];
  if (known) return known;
  const words = type.split(/[._-]+/).join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A notification for the subject (a user id) of a processed event whose type is configured. */
export function eventNotificationFor(event: CloudEvent, patterns: string[]): NewNotification | undefined {
  if (!matchesType(event.type, patterns)) return undefined;
  const userId = nonEmptyString(event.subject);
  if (!userId) return undefined;
  const data = isObject(event.data) ? event.data : {};
  return {
    eventId: event.id,
    userId,
    kind: event.type,
    title: nonEmptyString(data.title) ?? titleFor(event.type),
    body: nonEmptyString(data.message) ?? `${event.type}${event.time ? ` at ${event.time}` : ''}`,
    data,
  };
}
