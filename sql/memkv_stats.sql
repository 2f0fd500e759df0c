--
-- memkv_stats: a memkv index moves pg_stat_user_indexes as a btree index
-- does.  Two tables hold the same rows, one with a btree index and one with
-- a memkv index on the same column; each group of queries runs on both with
-- the same plan shape, then the counters' deltas of the two indexes are
-- compared: idx_scan (one per descent: each index scan, each rescan that
-- starts a new one, each bitmap scan), idx_tup_read (entries returned) and
-- idx_tup_fetch (heap fetches).
--
-- Waiting for the statistics: a backend flushes its pending counters to
-- shared memory when it goes idle, at most once a second.  PostgreSQL 15
-- has pg_stat_force_next_flush(): called as a statement of its own, it
-- makes the flush at the end of that statement unconditional, so the next
-- statement (a new transaction, hence a new stats snapshot) sees every
-- count made before it.  No sleeping is needed.
--
SET max_parallel_workers_per_gather = 0;

CREATE TABLE st_b (id int, k text COLLATE "C");
INSERT INTO st_b
  SELECT g, 'pkg' || (g % 50) || '/file' || g FROM generate_series(1, 2000) g;
INSERT INTO st_b VALUES (3001, NULL), (3002, NULL), (3003, '');
CREATE TABLE st_m (id int, k text COLLATE "C");
INSERT INTO st_m SELECT * FROM st_b;
CREATE INDEX st_b_k ON st_b USING btree (k);
CREATE INDEX st_m_k ON st_m USING memkv (k);
-- all-visible heap pages, so that index-only scans skip the heap alike
VACUUM (ANALYZE) st_b, st_m;

CREATE TEMP TABLE st_snap AS
  SELECT indexrelname, idx_scan, idx_tup_read, idx_tup_fetch
  FROM pg_stat_user_indexes WHERE indexrelname IN ('st_b_k', 'st_m_k');

-- The counters' growth since the last call, per index; then remember them.
CREATE FUNCTION st_delta()
RETURNS TABLE (idx name, scans bigint, tup_read bigint, tup_fetch bigint)
LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY
    SELECT s.indexrelname, s.idx_scan - p.idx_scan,
           s.idx_tup_read - p.idx_tup_read, s.idx_tup_fetch - p.idx_tup_fetch
    FROM pg_stat_user_indexes s JOIN st_snap p USING (indexrelname)
    ORDER BY 1;
  DELETE FROM st_snap;
  INSERT INTO st_snap
    SELECT s.indexrelname, s.idx_scan, s.idx_tup_read, s.idx_tup_fetch
    FROM pg_stat_user_indexes s WHERE s.indexrelname IN ('st_b_k', 'st_m_k');
END $$;

-- Do the two indexes' deltas agree?
CREATE FUNCTION st_compare()
RETURNS TABLE (scans bigint, tup_read bigint, tup_fetch bigint, same boolean)
LANGUAGE sql AS $$
  WITH d AS (SELECT * FROM st_delta())
  SELECT m.scans, m.tup_read, m.tup_fetch,
         (m.scans, m.tup_read, m.tup_fetch) = (b.scans, b.tup_read, b.tup_fetch)
  FROM d m, d b WHERE m.idx = 'st_m_k' AND b.idx = 'st_b_k'
$$;

SELECT pg_stat_force_next_flush();
SELECT * FROM st_compare();			-- nothing yet

SET enable_seqscan = off;

-- plain index scans: three point lookups, a range, a prefix, ordered LIMITs
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM st_m WHERE k = 'pkg7/file7';
SELECT id FROM st_b WHERE k = 'pkg7/file7';
SELECT id FROM st_m WHERE k = 'pkg7/file7';
SELECT id FROM st_b WHERE k = 'pkg8/file8';
SELECT id FROM st_m WHERE k = 'pkg8/file8';
SELECT id FROM st_b WHERE k = 'nothing';
SELECT id FROM st_m WHERE k = 'nothing';
SELECT count(id) FROM st_b WHERE k >= 'pkg1/' AND k < 'pkg1/file3';
SELECT count(id) FROM st_m WHERE k >= 'pkg1/' AND k < 'pkg1/file3';
SELECT count(id) FROM st_b WHERE k LIKE 'pkg2/%';
SELECT count(id) FROM st_m WHERE k LIKE 'pkg2/%';
SELECT id FROM st_b ORDER BY k LIMIT 3;
SELECT id FROM st_m ORDER BY k LIMIT 3;
SELECT id FROM st_b WHERE k IS NOT NULL ORDER BY k DESC LIMIT 2;
SELECT id FROM st_m WHERE k IS NOT NULL ORDER BY k DESC LIMIT 2;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_compare();			-- 7 scans

-- index-only scans (min and max: one LIMIT 1 scan each)
SET enable_indexonlyscan = on;
EXPLAIN (COSTS OFF) SELECT count(k) FROM st_m WHERE k LIKE 'pkg3/%';
SELECT plan_lines('SELECT min(k), max(k) FROM st_m');  -- memkv_basic's
EXPLAIN (COSTS OFF) SELECT count(*) FROM st_m WHERE k IS NULL;
SELECT count(k) FROM st_b WHERE k LIKE 'pkg3/%';
SELECT count(k) FROM st_m WHERE k LIKE 'pkg3/%';
SELECT min(k), max(k) FROM st_b;
SELECT min(k), max(k) FROM st_m;
SELECT count(*) FROM st_b WHERE k IS NULL;
SELECT count(*) FROM st_m WHERE k IS NULL;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_compare();			-- 4 scans

-- bitmap scans; = ANY is one descent per array element
SET enable_indexscan = off;
SET enable_indexonlyscan = off;
SET enable_bitmapscan = on;
EXPLAIN (COSTS OFF) SELECT count(*) FROM st_m WHERE k = ANY ('{pkg1/file1,pkg2/file2,x}');
SELECT count(*) FROM st_b WHERE k = ANY ('{pkg1/file1,pkg2/file2,x}');
SELECT count(*) FROM st_m WHERE k = ANY ('{pkg1/file1,pkg2/file2,x}');
SELECT count(*) FROM st_b WHERE k LIKE 'pkg4%';
SELECT count(*) FROM st_m WHERE k LIKE 'pkg4%';
SELECT count(*) FROM st_b WHERE k IS NULL;
SELECT count(*) FROM st_m WHERE k IS NULL;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_compare();			-- 5 scans

-- rescans: the inner side of a nested loop descends once per outer row
SET enable_bitmapscan = off;
SET enable_indexscan = on;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
SET enable_material = off;
EXPLAIN (COSTS OFF)
  SELECT count(*) FROM (VALUES ('pkg5/file5'), ('pkg6/file6'), ('no'), ('pkg9/file9')) v(x)
  JOIN st_m ON st_m.k = v.x;
SELECT count(*) FROM (VALUES ('pkg5/file5'), ('pkg6/file6'), ('no'), ('pkg9/file9')) v(x)
  JOIN st_b ON st_b.k = v.x;
SELECT count(*) FROM (VALUES ('pkg5/file5'), ('pkg6/file6'), ('no'), ('pkg9/file9')) v(x)
  JOIN st_m ON st_m.k = v.x;
-- a cursor that changes direction is one scan
BEGIN;
DECLARE cb SCROLL CURSOR FOR SELECT id FROM st_b WHERE k >= 'pkg4' ORDER BY k;
FETCH 3 FROM cb;
FETCH BACKWARD 2 FROM cb;
COMMIT;
BEGIN;
DECLARE cm SCROLL CURSOR FOR SELECT id FROM st_m WHERE k >= 'pkg4' ORDER BY k;
FETCH 3 FROM cm;
FETCH BACKWARD 2 FROM cm;
COMMIT;
SELECT pg_stat_force_next_flush();
SELECT * FROM st_compare();			-- 5 scans

RESET ALL;
DROP TABLE st_b, st_m;
DROP FUNCTION st_compare(), st_delta();
