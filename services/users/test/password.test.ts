import { describe, expect, it } from 'vitest';
import { SCRYPT_PARAMS, hashPassword, verifyPassword } from '../src/password';

describe('password hashing (scrypt)', () => {
  it('stores scrypt$N$r$p$salt$hash and verifies the right password', async () => {
    const stored = await hashPassword('correct horse battery staple');
    const parts = stored.split('$');
    expect(parts).toHaveLength(6);
    expect(parts.slice(0, 4)).toEqual(['scrypt', String(SCRYPT_PARAMS.N), String(SCRYPT_PARAMS.r), String(SCRYPT_PARAMS.p)]);
    expect(Buffer.from(parts[4]!, 'base64').length).toBeGreaterThanOrEqual(16);
    expect(Buffer.from(parts[5]!, 'base64').length).toBe(64);
    expect(stored).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', stored)).toBe(true);
  });

  it('rejects a wrong password', async () => {
    const stored = await hashPassword('s3cret-password');
    expect(await verifyPassword('s3cret-passwore', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  it('salts every hash: two hashes of one password differ and both verify', async () => {
    const [a, b] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    expect(a).not.toBe(b);
    expect(await verifyPassword('same password', a)).toBe(true);
    expect(await verifyPassword('same password', b)).toBe(true);
  });

  it('never matches a malformed or tampered stored hash', async () => {
    const stored = await hashPassword('password123');
    expect(await verifyPassword('password123', 'plain-text')).toBe(false);
    expect(await verifyPassword('password123', 'scrypt$16384$8$1$$')).toBe(false);
    const parts = stored.split('$');
    const hash = Buffer.from(parts[5]!, 'base64');
    hash[0] = hash[0]! ^ 1;
    parts[5] = hash.toString('base64');
    expect(await verifyPassword('password123', parts.join('$'))).toBe(false);
  });
});
