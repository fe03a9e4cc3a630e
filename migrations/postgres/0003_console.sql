-- The browser console (issue 11). A session row is what a console cookie stands for; only the
-- SHA-256 of the cookie's secret is kept, so a copy of the database signs nobody in. Rows live
-- in the shared database so that every node behind a load balancer knows every session, and
-- signing out deletes the row everywhere at once.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    -- The API key signed in with, re-checked on every request (a deleted key ends the session).
    key_sid TEXT,
    csrf_token TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires);

-- The console lists every version of a Service in one query.
CREATE INDEX asset_versions_by_service ON asset_versions (service_sid, seq);
CREATE INDEX function_versions_by_service ON function_versions (service_sid, seq);
