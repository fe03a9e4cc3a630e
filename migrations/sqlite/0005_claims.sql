-- Coordination in the data, so that correctness never depends on one process: build claims,
-- named leases (garbage collection runs on one node at a time), and holds that protect content
-- an upload is about to reference from a collector marking it for deletion.

ALTER TABLE builds ADD COLUMN claimed_by TEXT;
ALTER TABLE builds ADD COLUMN claim_until INTEGER;
CREATE INDEX builds_building ON builds (seq) WHERE status = 'building';

CREATE TABLE leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    until INTEGER NOT NULL
);

CREATE TABLE blob_holds (
    sha256 TEXT NOT NULL,
    holder TEXT NOT NULL,
    until INTEGER NOT NULL,
    PRIMARY KEY (sha256, holder)
);

CREATE TABLE blob_doomed (
    sha256 TEXT PRIMARY KEY NOT NULL,
    since INTEGER NOT NULL
);
