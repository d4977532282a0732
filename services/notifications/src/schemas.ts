import { z } from 'zod';

const booleanFlag = z
  .enum(['true', 'false', '1', '0'])
  .transform((value) => value === 'true' || value === '1');

/** The query of GET /notifications. */
export const listQuerySchema = z.object({
  userId: z.string().min(1).max(256).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  unreadOnly: booleanFlag.default(false),
});

/** The path parameters of POST /notifications/:id/read. */
export const idParamsSchema = z.object({ id: z.uuid('not a notification id') });
