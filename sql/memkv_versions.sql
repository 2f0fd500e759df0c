--
-- What differs between the PostgreSQL versions memkv supports (15, 18):
-- every query here must give the same output on all of them.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memkv;
RESET client_min_messages;
CREATE TABLE vers (id int, k text COLLATE "C");
INSERT INTO vers SELECT g, 'k' || lpad(g::text, 5, '0') FROM generate_series(1, 2000) g;
INSERT INTO vers VALUES (0, NULL);
CREATE INDEX vers_k ON vers USING memkv (k);
INSERT INTO vers VALUES (2001, 'k00500x'), (2002, NULL);  -- a delta too
ANALYZE vers;

-- The "Index Searches" of a memkv node in EXPLAIN ANALYZE (18 and later):
-- one per descent, as btree reports them.  15 prints no such line (NULL).
CREATE FUNCTION index_searches(query text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    plan jsonb;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON) '
        || query INTO plan;
    -- the first node of the plan tree that has the figure
    RETURN jsonb_path_query_first(plan, 'strict $.**."Index Searches"')::int;
END
$$;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT coalesce(index_searches('SELECT * FROM vers WHERE k = ''k00500x'''), 1) AS point;
SELECT coalesce(index_searches('SELECT k FROM vers WHERE k >= ''k019'' ORDER BY k'), 1) AS range;
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = on;
SELECT coalesce(index_searches('SELECT count(*) FROM vers WHERE k ^@ ''k005'''), 1) AS bitmap;
RESET enable_seqscan;
RESET enable_bitmapscan;
RESET enable_indexscan;
RESET enable_indexonlyscan;

-- The ordering operators of memkv's operator class are btree's: the planner
-- (18: through amtranslatecmptype) serves ORDER BY from memkv, so that
-- even with sorts discouraged there is no Sort node.
SET enable_sort = off;
EXPLAIN (COSTS OFF) SELECT k FROM vers WHERE k > 'k01990' ORDER BY k;
SELECT k FROM vers WHERE k > 'k01990' ORDER BY k;
EXPLAIN (COSTS OFF) SELECT k FROM vers ORDER BY k DESC LIMIT 3;
SELECT k FROM vers ORDER BY k DESC LIMIT 3;
RESET enable_sort;

-- memkv 2 is extension version 2.1 everywhere; memkv_merge merges the
-- build's run and a freeze's into one
SELECT extversion FROM pg_extension WHERE extname = 'memkv';
SELECT memkv_freeze('vers_k');
SELECT runs FROM memkv_state('vers_k');
SELECT memkv_merge('vers_k') AS runs_merged;
SELECT runs, merges, delta_tids FROM memkv_state('vers_k');
SELECT count(*) FROM memkv_verify('vers_k');

DROP TABLE vers;
DROP FUNCTION index_searches(text);
