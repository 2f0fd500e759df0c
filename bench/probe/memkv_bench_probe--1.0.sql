/* bench/probe/memkv_bench_probe--1.0.sql */

\echo Use "CREATE EXTENSION memkv_bench_probe" to load this file. \quit

-- Nanoseconds per equality probe of "index" for each key of "keys",
-- repeated "loops" times, through index_beginscan/index_rescan/
-- index_getnext_tid.  The index's first column must be text.
CREATE FUNCTION index_probe_bench(index regclass, keys text[], loops int)
RETURNS float8
AS 'MODULE_PATHNAME', 'index_probe_bench'
LANGUAGE C STRICT VOLATILE;

-- The same, in CPU time of this backend rather than wall-clock time.
CREATE FUNCTION index_probe_bench_cpu(index regclass, keys text[], loops int)
RETURNS float8
AS 'MODULE_PATHNAME', 'index_probe_bench_cpu'
LANGUAGE C STRICT VOLATILE;

-- Total number of TIDs the same probes return (one pass), to check that
-- two indexes answered the same question.
CREATE FUNCTION index_probe_count(index regclass, keys text[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'index_probe_count'
LANGUAGE C STRICT VOLATILE;

REVOKE ALL ON FUNCTION index_probe_bench(regclass, text[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_probe_bench_cpu(regclass, text[], int) FROM PUBLIC;
REVOKE ALL ON FUNCTION index_probe_count(regclass, text[]) FROM PUBLIC;
