-- Subaccounts and API keys (COMPAT §16). An account with no owner is a main account (the
-- bootstrap one); `seq` is the list order. Existing accounts keep their creation order.

ALTER TABLE accounts ADD COLUMN seq INTEGER;
ALTER TABLE accounts ADD COLUMN friendly_name TEXT NOT NULL DEFAULT 'Main account';
ALTER TABLE accounts ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE accounts ADD COLUMN owner_account_sid TEXT REFERENCES accounts (sid);
ALTER TABLE accounts ADD COLUMN date_updated INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET seq = rowid, date_updated = date_created;
CREATE UNIQUE INDEX accounts_seq ON accounts (seq);
CREATE INDEX accounts_owner ON accounts (owner_account_sid, seq);

-- A key's secret is kept only as its SHA-256 (hex): secrets are 32 random alphanumerics.
CREATE TABLE api_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT,
    secret_hash TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX api_keys_account ON api_keys (account_sid, seq);
