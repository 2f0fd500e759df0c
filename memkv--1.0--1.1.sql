/* memkv--1.0--1.1.sql: upgrade an installed memkv 1.0 to 1.1
 * (ALTER EXTENSION memkv UPDATE TO '1.1'). */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "ALTER EXTENSION memkv UPDATE TO '1.1'" to load this file. \quit

-- memkv_state gains the cumulative figures (stat_*, last worker error,
-- stats_reset): new OUT columns change its result type, which CREATE OR
-- REPLACE cannot do, so it is dropped and created again.
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
    OUT stats_reset timestamptz)
RETURNS record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

-- Zero an index's memkv_state stat_* figures and its last worker error.
-- Not for everyone, like pg_stat_reset_single_table_counters.
CREATE FUNCTION memkv_stat_reset(index regclass)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION memkv_stat_reset(regclass) FROM PUBLIC;

-- 1.1 takes EXECUTE on the inspection functions away from PUBLIC (see
-- memkv--1.1.sql, which ends with the same statements).  Keep this last,
-- after anything that re-creates these functions.
REVOKE ALL ON FUNCTION memkv_state(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memkv_state(regclass) TO pg_stat_scan_tables;
REVOKE ALL ON FUNCTION memkv_verify(regclass) FROM PUBLIC;
