-- Raised by a password change: tokens issued under an older version stop working.
ALTER TABLE users ADD COLUMN IF NOT EXISTS credentials_version integer NOT NULL DEFAULT 1;

-- Fixed-window counters of the public routes, per client address and per username. Kept in
-- PostgreSQL so that they hold whatever the number of gateway and users instances.
CREATE TABLE IF NOT EXISTS auth_throttle (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);

-- Failed log-ins per username (its digest, as the throttle's keys), and until when the account refuses to check a password.
CREATE TABLE IF NOT EXISTS login_failures (
  username text PRIMARY KEY,
  failures integer NOT NULL,
  blocked_until timestamptz
);
