-- Asset Versions and Function Versions (COMPAT §5.5, §5.8): immutable, content addressed by
-- `sha256` in the blob store.

CREATE TABLE asset_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    asset_sid TEXT NOT NULL REFERENCES assets (sid) ON DELETE CASCADE,
    path TEXT NOT NULL,
    visibility TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX asset_versions_by_asset ON asset_versions (asset_sid, seq);
CREATE INDEX asset_versions_by_sha256 ON asset_versions (sha256);

CREATE TABLE function_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sid TEXT NOT NULL UNIQUE,
    account_sid TEXT NOT NULL,
    service_sid TEXT NOT NULL,
    function_sid TEXT NOT NULL REFERENCES functions (sid) ON DELETE CASCADE,
    path TEXT NOT NULL,
    visibility TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    date_created INTEGER NOT NULL
);
CREATE INDEX function_versions_by_function ON function_versions (function_sid, seq);
CREATE INDEX function_versions_by_sha256 ON function_versions (sha256);
