-- Builds per hour count creations, which deleting a build does not undo (COMPAT §8). Rows older
-- than the window are pruned.
CREATE TABLE build_creations (
    account_sid TEXT NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX build_creations_by_account ON build_creations (account_sid, date_created);
INSERT INTO build_creations (account_sid, date_created) SELECT account_sid, date_created FROM builds;

-- Log retention deletes by age.
CREATE INDEX logs_by_date ON logs (date_created);
