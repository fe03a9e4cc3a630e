-- Accounts, Services, Assets and Functions (COMPAT §5.1, §5.4, §5.7).
-- `seq` is the creation order every list follows and every page token points into.
-- Times are whole UTC seconds since the epoch.

CREATE TABLE accounts (
    sid TEXT PRIMARY KEY NOT NULL,
    auth_token TEXT NOT NULL,
    date_created INTEGER NOT NULL
);

CREATE TABLE services (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    unique_name TEXT NOT NULL,
    include_credentials INTEGER NOT NULL,
    ui_editable INTEGER NOT NULL,
    domain_base TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    CONSTRAINT services_unique_name UNIQUE (account_sid, unique_name),
    CONSTRAINT services_domain_base UNIQUE (domain_base)
);

CREATE TABLE assets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX assets_by_service ON assets (service_sid, seq);

CREATE TABLE functions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX functions_by_service ON functions (service_sid, seq);
