CREATE TABLE IF NOT EXISTS notifications (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- insertion order, a tie-breaker for rows created in the same instant
  seq bigint GENERATED ALWAYS AS IDENTITY,
  event_id text NOT NULL,
  user_id text NOT NULL,
  kind text NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  read_at timestamptz,
  UNIQUE (event_id, kind)
);

CREATE INDEX IF NOT EXISTS notifications_by_user ON notifications (user_id, created_at DESC, seq DESC);
CREATE INDEX IF NOT EXISTS notifications_unread_by_user ON notifications (user_id, created_at DESC, seq DESC) WHERE read_at IS NULL;
