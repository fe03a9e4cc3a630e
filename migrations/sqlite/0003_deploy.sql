-- Environments, Builds, Deployments, Variables, Logs (COMPAT §5.2, §5.3, §5.9–§5.12) and the
-- precompressed copies of built assets.

CREATE TABLE environments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    -- The live build; builds cannot be deleted while an environment points at them.
    build_sid TEXT,
    unique_name TEXT NOT NULL,
    domain_suffix TEXT,
    -- Lowercase suffix, '' for none: at most one environment per suffix and service.
    suffix_key TEXT NOT NULL,
    domain_name TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    CONSTRAINT environments_unique_name UNIQUE (service_sid, unique_name),
    CONSTRAINT environments_suffix UNIQUE (service_sid, suffix_key),
    CONSTRAINT environments_domain UNIQUE (domain_name)
);
CREATE INDEX environments_by_service ON environments (service_sid, seq);

CREATE TABLE builds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    status TEXT NOT NULL,
    runtime TEXT NOT NULL,
    -- JSON array of {"name", "version"}.
    dependencies TEXT NOT NULL,
    -- Why a build failed; never shown by the API, logged and kept for operators.
    failure TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX builds_by_service ON builds (service_sid, seq);
CREATE INDEX builds_by_account_time ON builds (account_sid, date_created);

CREATE TABLE build_versions (
    build_sid TEXT NOT NULL REFERENCES builds (sid) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    position INTEGER NOT NULL,
    version_sid TEXT NOT NULL,
    PRIMARY KEY (build_sid, kind, position)
);
CREATE INDEX build_versions_by_version ON build_versions (version_sid);

CREATE TABLE deployments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    environment_sid TEXT NOT NULL REFERENCES environments (sid) ON DELETE CASCADE,
    build_sid TEXT,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL
);
CREATE INDEX deployments_by_environment ON deployments (environment_sid, seq);

CREATE TABLE variables (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    environment_sid TEXT NOT NULL REFERENCES environments (sid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    date_created INTEGER NOT NULL,
    date_updated INTEGER NOT NULL,
    CONSTRAINT variables_key UNIQUE (environment_sid, key)
);
CREATE INDEX variables_by_environment ON variables (environment_sid, seq);

CREATE TABLE logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    environment_sid TEXT NOT NULL REFERENCES environments (sid) ON DELETE CASCADE,
    build_sid TEXT,
    deployment_sid TEXT,
    function_sid TEXT,
    request_sid TEXT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX logs_by_environment ON logs (environment_sid, seq);

-- Precompressed copies of content, stored in the blob store beside the original.
CREATE TABLE encodings (
    sha256 TEXT NOT NULL,
    encoding TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (sha256, encoding)
);
