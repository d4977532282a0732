import { createCloudEvent } from '@msctl/kit';
import { describe, expect, it } from 'vitest';
import { eventNotificationFor, matchesType, parseTypePatterns, welcomeFor } from '../src/rules';

describe('type patterns', () => {
  it('matches exact types and prefix* patterns', () => {
    const patterns = parseTypePatterns(' alert.* , payment.failed,,');
    expect(patterns).toEqual(['alert.*', 'payment.failed']);
    expect(matchesType('alert.triggered', patterns)).toBe(true);
    expect(matchesType('payment.failed', patterns)).toBe(true);
    expect(matchesType('payment.failed.twice', patterns)).toBe(false);
    expect(matchesType('alerts.x', patterns)).toBe(false);
    expect(matchesType('anything', ['*'])).toBe(true);
  });
});

describe('notification rules', () => {
  it('welcomes user.created with the display name, then the username', () => {
    const e = createCloudEvent({ type: 'user.created', source: '/users', subject: 'u1', data: { id: 'u1', username: 'ada', displayName: 'Ada' } });
    expect(welcomeFor(e)).toMatchObject({ eventId: e.id, userId: 'u1', kind: 'welcome', title: 'Welcome, Ada!' });
    expect(welcomeFor({ ...e, data: { id: 'u2', username: 'bob' } })).toMatchObject({ userId: 'u2', title: 'Welcome, bob!' });
    expect(welcomeFor({ ...e, type: 'user.updated' })).toBeUndefined();
  });

  it('notifies the subject of configured types only', () => {
    const e = createCloudEvent({ type: 'payment.failed', source: '/p', subject: 'u1', data: { message: 'card declined' } });
    expect(eventNotificationFor(e, ['payment.failed'])).toMatchObject({ userId: 'u1', kind: 'payment.failed', body: 'card declined', title: 'A payment failed' });
    expect(eventNotificationFor(e, ['order.shipped'])).toBeUndefined();
    expect(eventNotificationFor({ ...e, subject: undefined }, ['payment.failed'])).toBeUndefined();
  });
});
