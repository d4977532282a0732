import {
  baseConfigSchema,
  claimEvents,
  forbidden,
  kafkaConfigSchema,
  notFound,
  postgresConfigSchema,
  requireDb,
  requireSubject,
  type CloudEvent,
  type ServiceDefinition,
} from '@msctl/kit';
import { z } from 'zod';
import sql001 from './migrations/001_notifications.sql?raw';
import { idParamsSchema, listQuerySchema } from './schemas';
import { DEFAULT_NOTIFY_EVENT_TYPES, eventNotificationFor, parseTypePatterns, welcomeFor, type NewNotification } from './rules';

const configSchema = baseConfigSchema.extend({
  ...kafkaConfigSchema.shape,
  ...postgresConfigSchema.shape,
  /** Types of events.processed events that notify their subject; "alert.*" matches a prefix. */
  NOTIFY_EVENT_TYPES: z.string().default(DEFAULT_NOTIFY_EVENT_TYPES),
});

export type NotificationsConfig = z.infer<typeof configSchema>;

export const CONSUMER = 'notifications';
export const USERS_TOPIC = 'users.events';
export const PROCESSED_TOPIC = 'events.processed';

interface NotificationRow {
  id: string;
  event_id: string;
  user_id: string;
  kind: string;
  title: string;
  body: string;
  data: Record<string, unknown>;
  created_at: Date;
  read_at: Date | null;
}

const COLUMNS = 'id, event_id, user_id, kind, title, body, data, created_at, read_at';

const toJson = (row: NotificationRow) => ({
  id: row.id,
  eventId: row.event_id,
  userId: row.user_id,
  kind: row.kind,
  title: row.title,
  body: row.body,
  data: row.data,
  createdAt: row.created_at.toISOString(),
  readAt: row.read_at ? row.read_at.toISOString() : null,
  read: row.read_at !== null,
});

export const notificationsService: ServiceDefinition<NotificationsConfig> = {
  name: 'notifications',
  config: configSchema,
  postgres: { migrations: [{ id: '001_notifications', sql: sql001 }] },
  kafka: { topics: [USERS_TOPIC, PROCESSED_TOPIC] },
  setup(context) {
    const { app, config } = context;
    const db = requireDb(context);
    const patterns = parseTypePatterns(config.NOTIFY_EVENT_TYPES);
    const usersTopic = context.topic(USERS_TOPIC);

    context.consume({
      group: CONSUMER,
      topics: [USERS_TOPIC, PROCESSED_TOPIC],
      // A record PostgreSQL refuses (a NUL in a title, say) goes to <topic>.dlq alone.
      deadLetter: true,
      handleBatch: async (records) => {
        const wanted = new Map<string, NewNotification>();
        for (const record of records) {
          if (!record.event) continue;
          const event: CloudEvent = record.event;
          const notification = record.topic === usersTopic ? welcomeFor(event) : eventNotificationFor(event, patterns);
          if (notification) wanted.set(`${notification.eventId}\u0000${notification.kind}`, notification);
        }
        if (wanted.size === 0) return;
        const candidates = [...wanted.values()];
        // One transaction per batch: the claim and the notifications commit together, so a
        // redelivered event is claimed already and creates nothing.
        await db.transaction(async (tx) => {
          const fresh = await claimEvents(tx, CONSUMER, candidates.map((n) => n.eventId));
          const rows = candidates.filter((n) => fresh.has(n.eventId));
          if (rows.length === 0) return;
          await tx.query(
            `INSERT INTO notifications (event_id, user_id, kind, title, body, data, created_at)
             SELECT n->>'eventId', n->>'userId', n->>'kind', n->>'title', n->>'body', n->'data', clock_timestamp()
             FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(n, ord)
             ORDER BY ord
             ON CONFLICT (event_id, kind) DO NOTHING`,
            [JSON.stringify(rows)],
          );
        });
      },
    });

    app.get('/notifications', async (request) => {
      const query = listQuerySchema.parse(request.query);
      const userId = requireSubject(request);
      if (query.userId && query.userId !== userId) throw forbidden('you can only read your own notifications');
      const { rows } = await db.query<NotificationRow>(
        `SELECT ${COLUMNS} FROM notifications
         WHERE user_id = $1 AND ($2::boolean = false OR read_at IS NULL)
         ORDER BY created_at DESC, seq DESC
         LIMIT $3`,
        [userId, query.unreadOnly, query.limit],
      );
      return { notifications: rows.map(toJson) };
    });

    app.post('/notifications/:id/read', async (request) => {
      const { id } = idParamsSchema.parse(request.params);
      const subject = requireSubject(request);
      const { rows } = await db.query<NotificationRow>(
        `UPDATE notifications SET read_at = COALESCE(read_at, now())
         WHERE id = $1 AND user_id = $2
         RETURNING ${COLUMNS}`,
        [id, subject],
      );
      const row = rows[0];
      if (row) return { notification: toJson(row) };
      const exists = await db.query('SELECT 1 FROM notifications WHERE id = $1', [id]);
      if (exists.rowCount) throw forbidden('you can only mark your own notifications as read');
      throw notFound(`no notification ${id}`);
    });
  },
};
