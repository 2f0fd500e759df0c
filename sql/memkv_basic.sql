--
-- memkv_basic: every query kind memkv serves, each with its plan and its
-- answer, compared with what a sequential scan answers.
--
CREATE EXTENSION memkv;

CREATE TABLE paths (id int, k text COLLATE "C");
INSERT INTO paths
  SELECT g, 'usr/share/doc/pkg' || (g % 100) || '/file' || g
  FROM generate_series(1, 2000) g;
INSERT INTO paths VALUES
  (3001, NULL), (3002, NULL), (3003, ''), (3004, 'a'), (3005, 'ab'),
  (3006, 'abc'), (3007, 'abd'), (3008, 'b'), (3009, 'usr'), (3010, 'usr/');
CREATE INDEX paths_k ON paths USING memkv (k);

-- the operator class is valid
SELECT amvalidate(opc.oid) FROM pg_opclass opc
  JOIN pg_am am ON am.oid = opc.opcmethod WHERE am.amname = 'memkv';

SET enable_seqscan = off;

-- equality
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k = 'usr/share/doc/pkg7/file107';
SELECT id FROM paths WHERE k = 'usr/share/doc/pkg7/file107';
SELECT id FROM paths WHERE k = 'usr/share/doc/pkg7/file10';
SELECT id FROM paths WHERE k = '';
SELECT id FROM paths WHERE k = NULL;

-- keys that are prefixes of each other
SELECT id, k FROM paths WHERE k < 'b' ORDER BY k;
SELECT id, k FROM paths WHERE k <= 'b' AND k > 'a' ORDER BY k;
SELECT id, k FROM paths WHERE k >= 'usr' ORDER BY k LIMIT 3;

-- ranges
EXPLAIN (COSTS OFF)
SELECT count(*) FROM paths WHERE k BETWEEN 'usr/share/doc/pkg1/' AND 'usr/share/doc/pkg2';
SELECT count(*) FROM paths WHERE k BETWEEN 'usr/share/doc/pkg1/' AND 'usr/share/doc/pkg2';
SELECT count(*) FROM paths WHERE k > 'usr/share/doc/pkg1/' AND k < 'usr/share/doc/pkg2';
SELECT count(*) FROM paths WHERE k > 'z';
SELECT count(*) FROM paths WHERE k > 'b' AND k < 'a';

-- prefix: LIKE and ^@
EXPLAIN (COSTS OFF) SELECT count(*) FROM paths WHERE k LIKE 'usr/share/doc/pkg42/%';
SELECT count(*) FROM paths WHERE k LIKE 'usr/share/doc/pkg42/%';
EXPLAIN (COSTS OFF) SELECT count(*) FROM paths WHERE k ^@ 'usr/share/doc/pkg42/';
SELECT count(*) FROM paths WHERE k ^@ 'usr/share/doc/pkg42/';
SELECT k FROM paths WHERE k ^@ 'ab' ORDER BY k;
SELECT count(*) FROM paths WHERE k ^@ '';

-- ordered scans, both directions, index-only
EXPLAIN (COSTS OFF) SELECT k FROM paths WHERE k >= 'usr/share/doc/pkg9' ORDER BY k LIMIT 4;
SELECT k FROM paths WHERE k >= 'usr/share/doc/pkg9' ORDER BY k LIMIT 4;
EXPLAIN (COSTS OFF) SELECT k FROM paths ORDER BY k DESC LIMIT 4;
SELECT k FROM paths ORDER BY k DESC LIMIT 4;
SELECT k FROM paths ORDER BY k DESC NULLS LAST LIMIT 2;
SELECT k FROM paths ORDER BY k LIMIT 4;
-- The plan without 15's "(returns $N)" after InitPlan, which 17 dropped.
CREATE FUNCTION plan_lines(query text) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT regexp_replace(line, ' \(returns \$\d+\)$', '');
    END LOOP;
END
$$;
SELECT plan_lines('SELECT min(k), max(k) FROM paths');
SELECT min(k), max(k) FROM paths;

-- NULLs
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k IS NULL ORDER BY id;
SELECT id FROM paths WHERE k IS NULL ORDER BY id;
SELECT count(*) FROM paths WHERE k IS NOT NULL;

-- = ANY(array)
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k = ANY ('{a,b,usr,nope}');
SELECT id FROM paths WHERE k = ANY ('{a,b,usr,nope}') ORDER BY id;

-- every kind through plain index scans too
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k = 'abc';
SELECT id FROM paths WHERE k = 'abc';
SELECT count(*) FROM paths WHERE k LIKE 'usr/share/doc/pkg42/%';
SELECT count(*) FROM paths WHERE k IS NULL;
RESET enable_bitmapscan;
RESET enable_indexonlyscan;

-- a cursor that changes direction
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT k FROM paths WHERE k < 'usr' ORDER BY k;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
FETCH LAST FROM c;
FETCH BACKWARD 2 FROM c;
FETCH ABSOLUTE 1 FROM c;
COMMIT;

-- the whole index equals a sequential scan
CREATE TEMP TABLE via_index AS SELECT id, k FROM paths WHERE k >= '' OR k IS NULL;
SET enable_seqscan = on;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SET enable_indexonlyscan = off;
SELECT count(*) AS mismatches FROM (
  (SELECT id, k FROM paths EXCEPT ALL SELECT id, k FROM via_index)
  UNION ALL
  (SELECT id, k FROM via_index EXCEPT ALL SELECT id, k FROM paths)) d;
RESET ALL;

SELECT generation, log_tuples, delta_keys, delta_tids, frozen_keys, frozen_tids FROM memkv_state('paths_k');
SELECT * FROM memkv_verify('paths_k');

-- with statistics, the planner picks memkv by itself for selective quals
ANALYZE paths;
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k = 'usr/share/doc/pkg7/file107';
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k LIKE 'usr/share/doc/pkg42/%';
EXPLAIN (COSTS OFF) SELECT k FROM paths ORDER BY k LIMIT 3;
-- and not for a qual that matches most of the table
EXPLAIN (COSTS OFF) SELECT id FROM paths WHERE k > 'a';

-- Stripes: the delta in several logs, trees and locks (a key's stripe is a
-- hash of it); a build gives each stripe its own log page after the
-- metapage, so an empty index has 1 + stripes pages.
CREATE TABLE s (k text COLLATE "C");
CREATE INDEX s_bad ON s USING memkv (k) WITH (stripes = 0);
CREATE INDEX s_bad ON s USING memkv (k) WITH (stripes = 33);
CREATE INDEX s_k ON s USING memkv (k) WITH (stripes = 1);
SELECT pg_relation_size('s_k') / current_setting('block_size')::int AS pages;
ALTER INDEX s_k SET (stripes = 5);
SELECT pg_relation_size('s_k') / current_setting('block_size')::int AS pages;
REINDEX INDEX s_k;
SELECT pg_relation_size('s_k') / current_setting('block_size')::int AS pages;
INSERT INTO s SELECT 'k' || g FROM generate_series(1, 1000) g;
INSERT INTO s VALUES (NULL), (NULL), ('');
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM s WHERE k >= 'k5';
SELECT count(*) FROM s WHERE k = 'k500';
SELECT count(*) FROM s WHERE k = '';
SELECT count(*) FROM s WHERE k IS NULL;
SELECT k FROM s WHERE k >= 'k998' ORDER BY k;
SELECT k FROM s WHERE k < 'k10' ORDER BY k DESC LIMIT 3;
SELECT memkv_freeze('s_k');
INSERT INTO s SELECT 'k' || g FROM generate_series(1, 10) g;
SELECT count(*) FROM s WHERE k = 'k5';
SELECT count(*) FROM s WHERE k >= 'k5';
SELECT * FROM memkv_verify('s_k');
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP TABLE s;
