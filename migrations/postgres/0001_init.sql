-- The whole schema for PostgreSQL, equivalent to the final state of migrations/sqlite/0001–0005.
--
-- `seq` is the creation order every list follows and every page token points into. Times are
-- whole UTC seconds since the epoch. Constraint names are what the backend maps onto
-- `Unique` tags, so they must not change.

CREATE TABLE accounts (
    sid TEXT PRIMARY KEY,
    auth_token TEXT NOT NULL,
    date_created BIGINT NOT NULL
);

CREATE TABLE services (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL REFERENCES accounts (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    unique_name TEXT NOT NULL,
    include_credentials BOOLEAN NOT NULL,
    ui_editable BOOLEAN NOT NULL,
    domain_base TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    CONSTRAINT services_unique_name UNIQUE (account_sid, unique_name),
    CONSTRAINT services_domain_base UNIQUE (domain_base)
);
-- The unique (account_sid, unique_name) index serves lookups by name; this one list order.
CREATE INDEX services_by_account ON services (account_sid, seq);

CREATE TABLE assets (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX assets_by_service ON assets (service_sid, seq);

CREATE TABLE functions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    friendly_name TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX functions_by_service ON functions (service_sid, seq);

-- Versions are immutable and content addressed by `sha256` in the blob store.
CREATE TABLE asset_versions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    asset_sid TEXT NOT NULL REFERENCES assets (sid) ON DELETE CASCADE,
    path TEXT NOT NULL,
    visibility TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX asset_versions_by_asset ON asset_versions (asset_sid, seq);
CREATE INDEX asset_versions_by_sha256 ON asset_versions (sha256);

CREATE TABLE function_versions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    function_sid TEXT NOT NULL REFERENCES functions (sid) ON DELETE CASCADE,
    path TEXT NOT NULL,
    visibility TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX function_versions_by_function ON function_versions (function_sid, seq);
CREATE INDEX function_versions_by_sha256 ON function_versions (sha256);

CREATE TABLE environments (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    CONSTRAINT environments_unique_name UNIQUE (service_sid, unique_name),
    CONSTRAINT environments_suffix UNIQUE (service_sid, suffix_key),
    CONSTRAINT environments_domain UNIQUE (domain_name)
);
CREATE INDEX environments_by_service ON environments (service_sid, seq);
-- The in-use check of a build deletion.
CREATE INDEX environments_by_build ON environments (build_sid) WHERE build_sid IS NOT NULL;

CREATE TABLE builds (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL REFERENCES services (sid) ON DELETE CASCADE,
    status TEXT NOT NULL,
    runtime TEXT NOT NULL,
    -- JSON array of {"name", "version"}, kept as the text the API shows.
    dependencies TEXT NOT NULL,
    -- Why a build failed; never shown by the API, logged and kept for operators.
    failure TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    -- The node working on a `building` build, and until when its claim runs.
    claimed_by TEXT,
    claim_until BIGINT
);
CREATE INDEX builds_by_service ON builds (service_sid, seq);
-- Builders look only at unfinished builds, oldest first.
CREATE INDEX builds_building ON builds (seq) WHERE status = 'building';

CREATE TABLE build_versions (
    build_sid TEXT NOT NULL REFERENCES builds (sid) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    position BIGINT NOT NULL,
    version_sid TEXT NOT NULL,
    PRIMARY KEY (build_sid, kind, position)
);
CREATE INDEX build_versions_by_version ON build_versions (version_sid);

CREATE TABLE deployments (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    environment_sid TEXT NOT NULL REFERENCES environments (sid) ON DELETE CASCADE,
    build_sid TEXT,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL
);
CREATE INDEX deployments_by_environment ON deployments (environment_sid, seq);

CREATE TABLE variables (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    environment_sid TEXT NOT NULL REFERENCES environments (sid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    date_created BIGINT NOT NULL,
    date_updated BIGINT NOT NULL,
    CONSTRAINT variables_key UNIQUE (environment_sid, key)
);
CREATE INDEX variables_by_environment ON variables (environment_sid, seq);

CREATE TABLE logs (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    date_created BIGINT NOT NULL
);
CREATE INDEX logs_by_environment ON logs (environment_sid, seq);
-- Log retention deletes by age.
CREATE INDEX logs_by_date ON logs (date_created);

-- Precompressed copies of content, stored in the blob store beside the original.
CREATE TABLE encodings (
    sha256 TEXT NOT NULL,
    encoding TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (sha256, encoding)
);

-- Builds per hour count creations, which deleting a build does not undo (COMPAT §8). Rows older
-- than the window are pruned, in batches by `seq`.
CREATE TABLE build_creations (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_sid TEXT NOT NULL,
    date_created BIGINT NOT NULL
);
CREATE INDEX build_creations_by_account ON build_creations (account_sid, date_created);
CREATE INDEX build_creations_by_date ON build_creations (date_created);

-- Coordination in the data, so that correctness never depends on one process: named leases
-- (garbage collection runs on one node at a time), and holds that protect content an upload
-- is about to reference from a collector marking it for deletion.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL
);

CREATE TABLE blob_holds (
    sha256 TEXT NOT NULL,
    holder TEXT NOT NULL,
    until BIGINT NOT NULL,
    PRIMARY KEY (sha256, holder)
);

CREATE TABLE blob_doomed (
    sha256 TEXT PRIMARY KEY,
    since BIGINT NOT NULL
);

-- Every node caches sites; each learns of a change made by any node through this channel. A
-- row trigger fires for deletions cascaded from a service as well, and NOTIFY is delivered
-- only when (and if) the transaction commits.
CREATE FUNCTION depot_site_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('depot_sites', OLD.domain_name);
    ELSE
        PERFORM pg_notify('depot_sites', NEW.domain_name);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER environments_site_changed
    AFTER UPDATE OF build_sid OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION depot_site_changed();
