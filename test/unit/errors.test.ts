/** An MsctlError is recognised whichever copy of the module made it: dist/dashboard.js has its own. */
import { describe, expect, it } from 'vitest';
import { EXIT_CODES, MsctlError, exitCodeFor, isMsctlError } from '../../src/core/errors';

describe('isMsctlError', () => {
  it('knows an error made by another copy of the module, and maps it to its exit code', async () => {
    // A query makes the module load a second time, with a class of its own, as a separate bundle does.
    const copy = '../../src/core/errors?another-copy';
    const other = (await import(/* @vite-ignore */ copy)) as typeof import('../../src/core/errors');
    expect(other.MsctlError).not.toBe(MsctlError);
    const error = new other.MsctlError('USAGE', 'msctl dashboard needs a terminal', 'use --json');
    expect(error instanceof MsctlError).toBe(false);
    expect(isMsctlError(error)).toBe(true);
    expect(exitCodeFor(error)).toBe(EXIT_CODES.usage);
  });

  it('is false for a plain error, an error-like object, and a value that is not an object', () => {
    expect(isMsctlError(new Error('boom'))).toBe(false);
    expect(isMsctlError({ name: 'MsctlError', code: 'USAGE', message: 'looks like one' })).toBe(false);
    expect(isMsctlError(null)).toBe(false);
    expect(isMsctlError('MsctlError')).toBe(false);
    expect(isMsctlError(new MsctlError('INTERNAL', 'one of ours'))).toBe(true);
  });

  it('keeps the mark off the error itself: what an error shows lists only its own fields', () => {
    expect(Object.getOwnPropertySymbols(new MsctlError('USAGE', 'x'))).toEqual([]);
    expect(JSON.parse(JSON.stringify(new MsctlError('USAGE', 'x', 'y')))).toEqual({ name: 'MsctlError', code: 'USAGE', hint: 'y' });
  });
});
