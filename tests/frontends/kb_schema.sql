CREATE TABLE "runs" (
   "id" INTEGER PRIMARY KEY,
   "experiment" TEXT NOT NULL,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "spec_path" TEXT NOT NULL,
   "project_dir" TEXT,
   "spec_hash" TEXT,
   "spec_text" TEXT,
   "spec_files" TEXT,
   "model" TEXT,
   "settings" TEXT,
   "workers" INTEGER,
   "paused" INTEGER DEFAULT 0,
   "created" REAL NOT NULL,
   "started" REAL,
   "ended" REAL,
   "seed" INTEGER,
   "executor" TEXT DEFAULT 'local',
   "scheduler" TEXT
, "uid" TEXT, "merged_from" TEXT, "merged_run" INTEGER, "merged_at" REAL);
CREATE TABLE "environment" (
   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),
   "python" TEXT,
   "implementation" TEXT,
   "platform" TEXT,
   "host" TEXT,
   "user" TEXT,
   "xxp_version" TEXT,
   "packages" TEXT,
   "packages_hash" TEXT,
   "git_commit" TEXT,
   "git_dirty" INTEGER,
   "git_root" TEXT,
   "recorded" REAL
);
CREATE TABLE "nodes" (
   "run_id" INTEGER REFERENCES "runs"("id"),
   "name" TEXT,
   "kind" TEXT NOT NULL,
   "status" TEXT NOT NULL DEFAULT 'pending',
   "iteration" INTEGER DEFAULT 0,
   "reason" TEXT,
   "started" REAL,
   "ended" REAL,
   "fired" TEXT DEFAULT '{}',
   "result" TEXT,
   "total" INTEGER,
   PRIMARY KEY ("run_id", "name")
);
CREATE TABLE "variants" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "space" TEXT NOT NULL,
   "iteration" INTEGER DEFAULT 0,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "params" TEXT DEFAULT '{}',
   "config" TEXT DEFAULT '{}',
   "seed" INTEGER,
   "priority" INTEGER DEFAULT 0,
   "origin" TEXT NOT NULL,
   "trial" INTEGER,
   "objective" REAL,
   "created" REAL,
   "started" REAL,
   "ended" REAL,
   "attempts" INTEGER DEFAULT 0,
   "rev" INTEGER DEFAULT 0,
   "source_variant" INTEGER
, "off_grid" INTEGER NOT NULL DEFAULT 0, "spec_version" INTEGER NOT NULL DEFAULT 1, "held_since" REAL, "hold_releases_slot" INTEGER NOT NULL DEFAULT 0, "stalled" INTEGER NOT NULL DEFAULT 0);
CREATE TABLE "task_runs" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER NOT NULL REFERENCES "variants"("id"),
   "task" TEXT NOT NULL,
   "attempt" INTEGER DEFAULT 1,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "argv" TEXT,
   "cwd" TEXT,
   "pid" INTEGER,
   "pgid" INTEGER,
   "proc_start" REAL,
   "host" TEXT,
   "exit_code" INTEGER,
   "signal" INTEGER,
   "started" REAL,
   "ended" REAL,
   "stdout_path" TEXT,
   "stderr_path" TEXT,
   "cache_key" TEXT,
   "cache_hit" INTEGER DEFAULT 0,
   "cache_source" INTEGER,
   "code_hash" TEXT,
   "inputs_hash" TEXT,
   "outputs" TEXT
, "cache_evicted" INTEGER NOT NULL DEFAULT 0, "params" TEXT, "env_hash" TEXT, "gpus" TEXT, "wall_seconds" REAL, "cpu_seconds" REAL, "gpu_seconds" REAL, "peak_rss_bytes" INTEGER, "stalled" REAL);
CREATE TABLE "metrics" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER NOT NULL REFERENCES "variants"("id"),
   "task" TEXT,
   "name" TEXT NOT NULL,
   "value" REAL,
   "text" TEXT,
   "step" INTEGER,
   "time" REAL
);
CREATE TABLE "artifacts" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER REFERENCES "variants"("id"),
   "task" TEXT,
   "port" TEXT,
   "path" TEXT,
   "sha256" TEXT,
   "size" INTEGER,
   "is_dir" INTEGER,
   "created" REAL
);
CREATE TABLE "commands" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "verb" TEXT NOT NULL,
   "args" TEXT DEFAULT '{}',
   "issuer" TEXT,
   "status" TEXT NOT NULL DEFAULT 'pending',
   "outcome" TEXT,
   "created" REAL,
   "applied" REAL
);
CREATE TABLE "events" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "time" REAL NOT NULL,
   "actor" TEXT NOT NULL,
   "kind" TEXT NOT NULL,
   "target" TEXT,
   "detail" TEXT,
   "command_id" INTEGER
);
CREATE TABLE "heartbeat" (
   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),
   "pid" INTEGER,
   "host" TEXT,
   "started" REAL,
   "beat" REAL,
   "proc_start" REAL
, "live_workers" INTEGER);
CREATE INDEX "idx_variants_run_id_status"
    ON "variants" ("run_id", "status");
CREATE INDEX "idx_variants_run_id_space_iteration"
    ON "variants" ("run_id", "space", "iteration");
CREATE INDEX "idx_variants_run_id_rev"
    ON "variants" ("run_id", "rev");
CREATE INDEX "idx_task_runs_variant_id_task_attempt"
    ON "task_runs" ("variant_id", "task", "attempt");
CREATE INDEX "idx_task_runs_cache_key"
    ON "task_runs" ("cache_key");
CREATE INDEX "idx_metrics_variant_id_name_step"
    ON "metrics" ("variant_id", "name", "step");
CREATE INDEX "idx_artifacts_variant_id"
    ON "artifacts" ("variant_id");
CREATE INDEX "idx_commands_run_id_status"
    ON "commands" ("run_id", "status");
CREATE INDEX "idx_events_run_id_id"
    ON "events" ("run_id", "id");
CREATE INDEX "idx_task_runs_cache_key_status"
    ON "task_runs" ("cache_key", "status");
CREATE INDEX "idx_task_runs_cache_source"
    ON "task_runs" ("cache_source");
CREATE UNIQUE INDEX "idx_runs_uid"
    ON "runs" ("uid");
CREATE TABLE "notes" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "variant_id" INTEGER REFERENCES "variants"("id"),
   "author" TEXT NOT NULL,
   "time" REAL NOT NULL,
   "text" TEXT NOT NULL,
   "tags" TEXT DEFAULT '[]'
);
CREATE INDEX "idx_notes_run_id_variant_id"
    ON "notes" ("run_id", "variant_id");
CREATE TABLE "spec_versions" (
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "version" INTEGER NOT NULL,
   "path" TEXT,
   "text" TEXT NOT NULL,
   "hash" TEXT,
   "diff" TEXT,
   "issuer" TEXT,
   "created" REAL NOT NULL,
   "summary" TEXT,
   PRIMARY KEY ("run_id", "version")
);
CREATE INDEX idx_variants_space_status_objective ON variants (space, status, objective);
CREATE INDEX idx_events_run_id_target ON events (run_id, target);
CREATE INDEX idx_notes_variant_id ON notes (variant_id);
