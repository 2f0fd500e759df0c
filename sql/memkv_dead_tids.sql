--
-- memkv_state's dead_tids (extension 2.1): the TIDs the runs' dead lists
-- hold.  VACUUM records a few deleted rows' TIDs in their run's dead list
-- instead of rewriting the run (src/README, "VACUUM"); dead_tids counts
-- them until a rewrite drops them.  And 2.1 as a fresh install and as an
-- update of 2.0 define memkv_state alike.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS memkv;
RESET client_min_messages;

CREATE TABLE dt (id int, k text COLLATE "C");
INSERT INTO dt SELECT g, 'dead/' || lpad(g::text, 6, '0')
  FROM generate_series(1, 20000) g;
INSERT INTO dt VALUES (0, NULL), (-1, NULL);
CREATE INDEX dt_k ON dt USING memkv (k) WITH (freeze_threshold = 0);
SELECT runs, frozen_tids, dead_tids FROM memkv_state('dt_k');

-- 1% of the run's rows (and one NULL): dead-listed, the run kept
DELETE FROM dt WHERE id % 100 = 7 OR id = -1;
VACUUM dt;
SELECT runs, merges, frozen_tids, dead_tids FROM memkv_state('dt_k');

-- a second VACUUM adds to the same list; rows deleted while still in the
-- delta are dropped by VACUUM's freeze, never dead-listed
INSERT INTO dt SELECT g, 'dead/' || lpad(g::text, 6, '0')
  FROM generate_series(20001, 20100) g;
DELETE FROM dt WHERE id % 100 = 8;
VACUUM dt;
SELECT runs, merges, frozen_tids, dead_tids FROM memkv_state('dt_k');

-- scans skip what the lists name
SET enable_seqscan = off;
SELECT count(*) FROM dt WHERE k >= 'dead/';
SELECT count(*) FROM dt WHERE k IS NULL;
RESET enable_seqscan;
SELECT count(*) FROM memkv_verify('dt_k');

-- a rewrite leaves no dead list
REINDEX INDEX dt_k;
SELECT runs, frozen_tids, dead_tids FROM memkv_state('dt_k');
DROP TABLE dt;

-- 2.1 fresh and 2.1 updated from 2.0: the same memkv_state, with the same
-- privileges; the 2.1 library serves the 2.0 definition (no dead_tids)
-- until the update
SELECT extversion FROM pg_extension WHERE extname = 'memkv';
SELECT pg_get_function_result('memkv_state(regclass)'::regprocedure) AS fresh_result,
       proacl AS fresh_acl
  FROM pg_proc WHERE oid = 'memkv_state(regclass)'::regprocedure \gset
SELECT current_database() AS regress_db \gset
CREATE DATABASE regress_memkv_dead;
\c regress_memkv_dead
CREATE EXTENSION memkv VERSION '2.0';
CREATE TABLE dt (id int, k text COLLATE "C");
INSERT INTO dt SELECT g, 'd' || g FROM generate_series(1, 1000) g;
CREATE INDEX dt_k ON dt USING memkv (k);
DELETE FROM dt WHERE id <= 10;
VACUUM dt;
SELECT runs, frozen_tids FROM memkv_state('dt_k');
SELECT 'dead_tids' = ANY(proargnames) AS has_dead_tids
  FROM pg_proc WHERE oid = 'memkv_state(regclass)'::regprocedure;
ALTER EXTENSION memkv UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'memkv';
SELECT runs, frozen_tids, dead_tids FROM memkv_state('dt_k');
SELECT pg_get_function_result('memkv_state(regclass)'::regprocedure) = :'fresh_result'
         AS same_result,
       proacl::text = :'fresh_acl' AS same_acl
  FROM pg_proc WHERE oid = 'memkv_state(regclass)'::regprocedure;
\c :regress_db
DROP DATABASE regress_memkv_dead;
