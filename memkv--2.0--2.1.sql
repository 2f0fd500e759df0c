/* memkv--2.0--2.1.sql: upgrade an installed memkv 2.0 to 2.1
 * (ALTER EXTENSION memkv UPDATE TO '2.1').  A fresh install of 2.1 runs
 * memkv--2.0.sql and then this script, so both end alike.  Nothing on
 * disk changes. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION memkv UPDATE TO '2.1'" to load this file. \quit

-- memkv_state gains dead_tids, the TIDs its runs' dead lists hold: a new
-- OUT column changes its result type, so it is dropped and created again.
DROP FUNCTION memkv_state(regclass);
CREATE FUNCTION memkv_state(index regclass,
    OUT generation bigint,
    OUT log_pages bigint,
    OUT log_tuples bigint,
    OUT delta_keys bigint,
    OUT delta_tids bigint,
    OUT shmem_bytes bigint,
    OUT art_loaded boolean,
    OUT frozen_keys bigint,
    OUT frozen_tids bigint,
    OUT frozen_pages bigint,
    OUT fst_bytes bigint,
    OUT posting_bytes bigint,
    OUT freezes bigint,
    OUT last_freeze timestamptz,
    OUT cache_bytes bigint,
    OUT stat_freezes bigint,
    OUT stat_freeze_time double precision,
    OUT stat_bytes_written bigint,
    OUT stat_wal_bytes bigint,
    OUT stat_tids_frozen bigint,
    OUT stat_dead_tids bigint,
    OUT stat_worker_failures bigint,
    OUT last_worker_error text,
    OUT last_worker_error_time timestamptz,
    OUT stats_reset timestamptz,
    OUT runs integer,
    OUT merges bigint,
    OUT last_merge timestamptz,
    OUT merge_running boolean,
    OUT stat_merges bigint,
    OUT stat_merge_time double precision,
    OUT dead_tids bigint)
RETURNS record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

-- The dropped function's privileges, as memkv--2.0.sql grants them.
REVOKE ALL ON FUNCTION memkv_state(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memkv_state(regclass) TO pg_stat_scan_tables;
