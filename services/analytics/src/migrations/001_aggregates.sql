-- Events per minute (of the event's own time) and type.
CREATE TABLE IF NOT EXISTS event_counts (
  bucket timestamptz NOT NULL,
  type text NOT NULL,
  count bigint NOT NULL,
  PRIMARY KEY (bucket, type)
);
CREATE INDEX IF NOT EXISTS event_counts_by_type ON event_counts (type, bucket);

-- Which user was active in which minute.
CREATE TABLE IF NOT EXISTS user_activity (
  user_id text NOT NULL,
  bucket timestamptz NOT NULL,
  PRIMARY KEY (user_id, bucket)
);
CREATE INDEX IF NOT EXISTS user_activity_by_bucket ON user_activity (bucket);
