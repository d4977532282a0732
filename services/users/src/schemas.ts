import { z } from 'zod';

export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(3, 'at least 3 characters')
  .max(32, 'at most 32 characters')
  .regex(/^[a-z0-9_.-]+$/, 'only letters, digits, "_", "." and "-"');

export const emailSchema = z.string().trim().toLowerCase().max(254, 'at most 254 characters').pipe(z.email('not a valid email address'));

export const passwordSchema = z.string().min(8, 'at least 8 characters').max(128, 'at most 128 characters');

export const displayNameSchema = z.string().trim().max(100, 'at most 100 characters');

export const signUpSchema = z.object({
  username: usernameSchema,
  email: emailSchema,
  password: passwordSchema,
  displayName: displayNameSchema.nullish(),
});

export const updateSchema = z
  .object({
    email: emailSchema.optional(),
    password: passwordSchema.optional(),
    displayName: displayNameSchema.nullable().optional(),
    /** Required with a new email or password: a stolen token alone cannot take the account. */
    currentPassword: z.string().min(1).max(1024).optional(),
  })
  .strict()
  .refine((value) => value.email !== undefined || value.password !== undefined || value.displayName !== undefined, {
    message: 'nothing to update: give email, password or displayName',
  });

export const tokenRequestSchema = z.object({
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
});

export const userIdSchema = z.uuid();
