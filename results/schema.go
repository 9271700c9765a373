package results

// schemaSteps are the migrations, in order; PRAGMA user_version is the number
// already applied. Never edit a released step: append a new one.
// docs/schema.md documents the resulting tables.
var schemaSteps = []string{
	// 1: the initial schema.
	`
CREATE TABLE grids (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE CHECK (name <> ''),
	file       TEXT NOT NULL,
	source     TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL
);

CREATE TABLE jobs (
	id          TEXT PRIMARY KEY CHECK (id <> ''),
	name        TEXT NOT NULL,
	kind        TEXT NOT NULL CHECK (kind IN ('train', 'eval')),
	config      TEXT NOT NULL CHECK (json_valid(config) AND json_type(config) = 'object'),
	labels      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(labels) AND json_type(labels) = 'object'),
	state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed')),
	attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	created_at  TEXT NOT NULL,
	started_at  TEXT,
	finished_at TEXT,
	error       TEXT,
	worker      TEXT
);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE grid_jobs (
	grid_id     INTEGER NOT NULL REFERENCES grids (id) ON DELETE CASCADE,
	job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	experiments TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(experiments) AND json_type(experiments) = 'array'),
	position    INTEGER NOT NULL,
	PRIMARY KEY (grid_id, job_id)
);
CREATE INDEX grid_jobs_job ON grid_jobs (job_id);

CREATE TABLE job_deps (
	job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	dep_id TEXT NOT NULL REFERENCES jobs (id),
	PRIMARY KEY (job_id, dep_id),
	CHECK (job_id <> dep_id)
);
CREATE INDEX job_deps_dep ON job_deps (dep_id);

CREATE TABLE metrics (
	job_id     TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	attempt    INTEGER NOT NULL CHECK (attempt >= 1),
	step       INTEGER NOT NULL CHECK (step >= 0),
	epoch      INTEGER NOT NULL CHECK (epoch >= 0),
	loss       REAL,
	batch_loss REAL,
	lr         REAL,
	prompt     TEXT,
	ts         TEXT NOT NULL,
	PRIMARY KEY (job_id, attempt, step)
) WITHOUT ROWID;

CREATE TABLE evaluations (
	job_id   TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	split    TEXT NOT NULL CHECK (split IN ('base', 'new', 'all')),
	dataset  TEXT NOT NULL CHECK (dataset <> ''),
	total    INTEGER NOT NULL CHECK (total > 0),
	correct  INTEGER NOT NULL CHECK (correct BETWEEN 0 AND total),
	accuracy REAL NOT NULL CHECK (accuracy BETWEEN 0 AND 100),
	macro_f1 REAL NOT NULL CHECK (macro_f1 BETWEEN 0 AND 100),
	PRIMARY KEY (job_id, split, dataset)
);

CREATE TABLE prompts (
	job_id    TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
	token_ids TEXT NOT NULL CHECK (json_valid(token_ids) AND json_type(token_ids) = 'array'),
	text      TEXT NOT NULL
);

CREATE TABLE artifacts (
	job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	kind   TEXT NOT NULL CHECK (kind IN ('checkpoint')),
	path   TEXT NOT NULL CHECK (path <> ''),
	bytes  INTEGER NOT NULL CHECK (bytes >= 0),
	sha256 TEXT NOT NULL CHECK (length(sha256) = 64 AND NOT sha256 GLOB '*[^0-9a-f]*'),
	PRIMARY KEY (job_id, kind, path)
);
`,
	// 2: the harmonic mean of a base2new cell, stored with the eval job
	// that completes it (2·base·new/(base+new), percent).
	`
ALTER TABLE jobs ADD COLUMN harmonic_mean REAL CHECK (harmonic_mean IS NULL OR harmonic_mean BETWEEN 0 AND 100);
`,
	// 3: the shards (results databases of SLURM array tasks) merged so
	// far, by file name and content, so that merging is done once.
	`
CREATE TABLE shards (
	name      TEXT PRIMARY KEY CHECK (name <> ''),
	sha256    TEXT NOT NULL CHECK (length(sha256) = 64),
	jobs      INTEGER NOT NULL CHECK (jobs >= 0),
	merged_at TEXT NOT NULL
);
`,
	// 4: when a running job's worker last reported (a progress event or a
	// heartbeat), so that `grid status` can show a job that went quiet; and
	// a digest of the job list a grid was last recorded with, so that a
	// grid run again unchanged skips recording 200,000 jobs anew.
	`
ALTER TABLE jobs ADD COLUMN heartbeat_at TEXT;
ALTER TABLE grids ADD COLUMN jobs_digest TEXT;
`,
	// 5: the device a job ran on and the most device memory its
	// computation held (bytes), when the engine measures them (GPU jobs).
	`
ALTER TABLE jobs ADD COLUMN device TEXT;
ALTER TABLE jobs ADD COLUMN peak_memory INTEGER CHECK (peak_memory IS NULL OR peak_memory >= 0);
`,
}
