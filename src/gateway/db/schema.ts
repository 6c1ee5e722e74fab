// The gateway's SQLite schema, as versioned migrations. MIGRATIONS[i] takes the database from
// user_version i to i+1, inside one transaction. Never edit a released migration: append one.
// Sections are per route family; each family's repository owns the tables of its section.

export const MIGRATIONS: string[] = [
  /* v1 */ `
  -- auth ---------------------------------------------------------------------------------------
  CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );
  CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,          -- sha256 of the bearer token; the token itself is never stored
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    principal TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );

  -- content (blob store index + Merkle trees) -----------------------------------------------------
  CREATE TABLE blobs (
    hash TEXT PRIMARY KEY,                -- sha256:<hex> of the blob bytes; file at blobs/<2>/<62>
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE tenant_blobs (             -- which tenants reference which blobs (blob route visibility)
    tenant_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant_id, hash)
  ) WITHOUT ROWID;
  CREATE TABLE trees (
    hash TEXT PRIMARY KEY,                -- sha256 of body; immutable, shared by sessions/forks/checkpoints
    body TEXT NOT NULL
  ) WITHOUT ROWID;

  -- sessions, checkpoints --------------------------------------------------------------------------
  CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    root TEXT NOT NULL,                   -- current root tree hash
    base_root TEXT NOT NULL,              -- root the session started from
    status TEXT NOT NULL,
    tags TEXT NOT NULL,                   -- JSON object
    source_id TEXT,
    revision_id TEXT,
    base_fingerprint TEXT NOT NULL,
    parent_session_id TEXT,
    version INTEGER NOT NULL DEFAULT 0,   -- bumps on every tree mutation
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_activity_at INTEGER NOT NULL,
    first_write_at INTEGER,
    completed_at INTEGER,
    mutation_count INTEGER NOT NULL DEFAULT 0,
    checkpoint_count INTEGER NOT NULL DEFAULT 0,
    restore_count INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX sessions_by_tenant ON sessions(tenant_id, id);
  CREATE TABLE checkpoints (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    label TEXT NOT NULL,
    root TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX checkpoints_by_session ON checkpoints(session_id, label);

  -- sources, revisions, jobs -------------------------------------------------------------------------
  CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    remote_url TEXT NOT NULL,
    default_ref TEXT NOT NULL,
    credentials_secret_id TEXT NOT NULL DEFAULT '',
    labels TEXT NOT NULL,                 -- JSON object
    latest_revision_id TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX sources_by_tenant ON sources(tenant_id, id);
  CREATE TABLE revisions (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES sources(id),
    commit_sha TEXT NOT NULL,             -- the git commit this revision is
    root TEXT NOT NULL,                   -- tree hash of its content
    git_ref TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
  );
  CREATE INDEX revisions_by_source ON revisions(source_id, created_at);
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES sources(id),
    kind TEXT NOT NULL,                   -- import | refresh | promote
    state TEXT NOT NULL,
    params TEXT NOT NULL,                 -- JSON
    revision_id TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    error_code TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    bytes_processed INTEGER NOT NULL DEFAULT 0,
    files_processed INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE git_blob_ids (             -- content hash -> git blob sha1, so commits skip rehashing
    content_hash TEXT PRIMARY KEY,
    git_sha TEXT NOT NULL
  ) WITHOUT ROWID;

  -- review: annotations, approvals ------------------------------------------------------------------
  CREATE TABLE annotations (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    file_path TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    comment TEXT NOT NULL,
    reviewer_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX annotations_by_file ON annotations(session_id, file_path);
  CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    reason TEXT NOT NULL,
    summary TEXT NOT NULL,
    changed_files TEXT NOT NULL,          -- JSON array
    state TEXT NOT NULL,
    feedback TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL,
    resolved_by TEXT NOT NULL DEFAULT '',
    requested_at INTEGER NOT NULL,
    resolved_at INTEGER
  );
  CREATE INDEX approvals_by_session ON approvals(session_id, requested_at);

  -- coordination: session cache, bus, collaboration locks, event log --------------------------------
  CREATE TABLE cache_entries (
    session_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at INTEGER,                   -- epoch ms; NULL = no expiry
    PRIMARY KEY (session_id, key)
  ) WITHOUT ROWID;
  CREATE TABLE bus_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    sender_id TEXT NOT NULL,
    published_at INTEGER NOT NULL
  );
  CREATE INDEX bus_by_session ON bus_messages(session_id, seq);
  CREATE TABLE file_locks (
    session_id TEXT NOT NULL,
    path TEXT NOT NULL,
    lock_id TEXT NOT NULL UNIQUE,
    owner_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, path)
  );
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    details TEXT NOT NULL                 -- JSON object of strings
  );
  CREATE INDEX events_by_session ON events(session_id, seq);      -- pages are read in seq order

  -- health, secrets, usage ---------------------------------------------------------------------------
  CREATE TABLE health (
    session_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    tests_passed INTEGER NOT NULL,
    tests_failed INTEGER NOT NULL,
    tests_skipped INTEGER NOT NULL,
    last_updated_at INTEGER NOT NULL
  );
  CREATE TABLE secrets (
    tenant_id TEXT NOT NULL,
    scope TEXT NOT NULL,                  -- SECRET_SCOPE_SESSION | SECRET_SCOPE_TENANT
    session_id TEXT NOT NULL,             -- '' for tenant scope
    name TEXT NOT NULL,
    ciphertext BLOB NOT NULL,             -- AES-256-GCM: iv(12) || tag(16) || data
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, scope, session_id, name)
  ) WITHOUT ROWID;
  CREATE TABLE usage_egress (
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL,                    -- YYYY-MM-DD (UTC)
    bytes INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
  ) WITHOUT ROWID;
  `,
  /* v2: storage engine (issues 9, 15, 12.4) */ `
  -- content: small blobs live inline, so a small write costs no file + directory fsync -------------
  CREATE TABLE blob_data (
    hash TEXT PRIMARY KEY,                -- sha256:<hex>; the blobs row indexes it like a file blob
    data BLOB NOT NULL
  );

  -- idempotent mutations: x-aether-request-id → recorded outcome (kept for a bounded time) --------
  CREATE TABLE request_outcomes (
    tenant_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    route TEXT NOT NULL,                  -- method + route pattern + session id it was applied to
    response TEXT,                        -- JSON body returned (NULL until the handler finished)
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
  ) WITHOUT ROWID;
  CREATE INDEX request_outcomes_by_time ON request_outcomes(created_at);

  -- sessions: soft delete (storage is released by GC once nothing else references it) ------------
  ALTER TABLE sessions ADD COLUMN deleted_at INTEGER;
  `,
];
