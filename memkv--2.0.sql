/* memkv--2.0.sql: the memkv access method, its operator class, and its
 * inspection and maintenance functions (memkv 2: several runs, merges). */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION memkv" to load this file. \quit

CREATE FUNCTION memkv_handler(internal)
RETURNS index_am_handler
AS 'MODULE_PATHNAME'
LANGUAGE C;

CREATE ACCESS METHOD memkv TYPE INDEX HANDLER memkv_handler;
COMMENT ON ACCESS METHOD memkv IS 'radix tree + FST index for text keys (C collation)';

-- Strategies 1..5 follow btree so the planner can use memkv for ORDER BY;
-- 6 is starts_with.  LIKE 'x%' is turned into >= and < by the planner.
CREATE OPERATOR CLASS text_ops
DEFAULT FOR TYPE text USING memkv AS
    OPERATOR 1 < (text, text),
    OPERATOR 2 <= (text, text),
    OPERATOR 3 = (text, text),
    OPERATOR 4 >= (text, text),
    OPERATOR 5 > (text, text),
    OPERATOR 6 ^@ (text, text),
    FUNCTION 1 bttextcmp(text, text);

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
    OUT stat_merge_time double precision)
RETURNS record
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION memkv_verify(index regclass)
RETURNS SETOF text
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION memkv_freeze(index regclass)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

-- Merge all the index's runs into one now; returns how many were merged.
CREATE FUNCTION memkv_merge(index regclass)
RETURNS integer
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;

-- Zero an index's memkv_state stat_* figures and its last worker error.
-- Not for everyone, like pg_stat_reset_single_table_counters.
CREATE FUNCTION memkv_stat_reset(index regclass)
RETURNS void
AS 'MODULE_PATHNAME'
LANGUAGE C STRICT VOLATILE;
REVOKE EXECUTE ON FUNCTION memkv_stat_reset(regclass) FROM PUBLIC;

-- Privileges, as amcheck and pgstattuple do it: the inspection functions are
-- not for PUBLIC.  memkv_state is a statistics function, like pgstatindex:
-- pg_stat_scan_tables (and so pg_monitor) may run it.  memkv_verify is a
-- check, like bt_index_check: granted to no one.  Either also demands SELECT
-- on the index's table (memkv_state: or pg_stat_scan_tables' privileges).
-- memkv_freeze and memkv_merge check that the caller owns the table, as
-- VACUUM does.  memkv--1.0--1.1.sql ends with the same statements: keep
-- them alike.
REVOKE ALL ON FUNCTION memkv_state(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION memkv_state(regclass) TO pg_stat_scan_tables;
REVOKE ALL ON FUNCTION memkv_verify(regclass) FROM PUBLIC;
