-- Each user's latest active minute: who was active since a time is a range of this table's
-- index, and how many users were ever active is its row count, where user_activity (a row per
-- user and minute) had to be sorted whole for every summary.
CREATE TABLE IF NOT EXISTS user_last_seen (
  user_id text PRIMARY KEY,
  bucket timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_last_seen_by_bucket ON user_last_seen (bucket);

INSERT INTO user_last_seen (user_id, bucket)
SELECT user_id, max(bucket) FROM user_activity GROUP BY user_id
ON CONFLICT (user_id) DO UPDATE SET bucket = greatest(user_last_seen.bucket, EXCLUDED.bucket);
