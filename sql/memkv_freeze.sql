--
-- memkv_freeze: scans that merge the frozen FST layer with the delta tree,
-- freezing, and VACUUM removing dead TIDs from both layers.
--

-- Run `q` with only index paths allowed and with only a seq scan allowed;
-- return how many rows differ (as multisets), and whether the index path
-- really used memkv.
CREATE FUNCTION differs(q text, OUT mismatches bigint, OUT used_memkv bool)
LANGUAGE plpgsql AS $$
DECLARE
  plan text;
BEGIN
  PERFORM set_config('enable_seqscan', 'off', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
  used_memkv := false;
  FOR plan IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
    IF plan ~ 'using f_k|on f_k' THEN used_memkv := true; END IF;
  END LOOP;
  EXECUTE 'CREATE TEMP TABLE via_index AS ' || q;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'off', true);
  PERFORM set_config('enable_indexonlyscan', 'off', true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  EXECUTE 'CREATE TEMP TABLE via_seq AS ' || q;
  SELECT count(*) INTO mismatches FROM (
    (SELECT * FROM via_index EXCEPT ALL SELECT * FROM via_seq)
    UNION ALL
    (SELECT * FROM via_seq EXCEPT ALL SELECT * FROM via_index)) d;
  DROP TABLE via_index, via_seq;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('enable_indexonlyscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
END $$;

CREATE TABLE f (id serial, k text COLLATE "C");
INSERT INTO f (k) SELECT 'dir' || (g % 7) || '/file' || g FROM generate_series(1, 3000) g;
INSERT INTO f (k) VALUES (NULL), (''), ('dir'), ('dir0'), ('dir0/');
CREATE INDEX f_k ON f USING memkv (k);

-- after CREATE INDEX everything is frozen and the delta is empty
SELECT generation, delta_keys, frozen_keys, frozen_tids, freezes FROM memkv_state('f_k');

-- new rows land in the delta: new keys, keys already frozen, NULLs
INSERT INTO f (k) SELECT 'dir' || (g % 7) || '/file' || g FROM generate_series(2990, 3100) g;
INSERT INTO f (k) VALUES (NULL), (''), ('dir1/new'), ('zzz');
SELECT delta_keys, delta_tids, frozen_keys FROM memkv_state('f_k');

CREATE TABLE queries (q text);
INSERT INTO queries VALUES
  ('SELECT id, k FROM f WHERE k = ''dir3/file2995'''),
  ('SELECT id, k FROM f WHERE k = '''''),
  ('SELECT id, k FROM f WHERE k < ''dir1'''),
  ('SELECT id, k FROM f WHERE k <= ''dir1/file1000'' AND k > ''dir0/file2'''),
  ('SELECT id, k FROM f WHERE k BETWEEN ''dir2'' AND ''dir3'''),
  ('SELECT id, k FROM f WHERE k LIKE ''dir1/%'''),
  ('SELECT id, k FROM f WHERE k ^@ ''dir6/file30'''),
  ('SELECT id, k FROM f WHERE k IS NULL'),
  ('SELECT id, k FROM f WHERE k IS NOT NULL'),
  ('SELECT id, k FROM f WHERE k = ANY (''{dir,zzz,dir1/new,nope}'')'),
  ('SELECT k FROM f ORDER BY k LIMIT 50'),
  ('SELECT k FROM f ORDER BY k DESC LIMIT 50'),
  ('SELECT min(k), max(k) FROM f'),
  ('SELECT id, k FROM f WHERE k >= '''' OR k IS NULL');

SELECT q, (differs(q)).* FROM queries;

-- an ordered scan across both layers, forward and backward
SET enable_seqscan = off;
SELECT k FROM f WHERE k >= 'dir3/file2993' ORDER BY k LIMIT 6;
SELECT k FROM f WHERE k <= 'dir3/file3001' ORDER BY k DESC LIMIT 6;
RESET enable_seqscan;
SELECT * FROM memkv_verify('f_k');

-- freeze: the delta moves into the frozen layer
SELECT memkv_freeze('f_k');
SELECT generation, delta_keys, log_tuples, frozen_keys, frozen_tids, freezes
  FROM memkv_state('f_k');
SELECT q, (differs(q)).* FROM queries;
SELECT * FROM memkv_verify('f_k');

-- VACUUM removes dead TIDs from both layers
INSERT INTO f (k) VALUES ('dir5/after-freeze'), ('dir5/after-freeze');
DELETE FROM f WHERE id % 3 = 0;
UPDATE f SET k = k || '.moved' WHERE id % 5 = 0;
VACUUM f;
SELECT generation, delta_keys, frozen_tids = (SELECT count(*) FROM f) AS exact
  FROM memkv_state('f_k');
SELECT q, (differs(q)).* FROM queries;
SELECT * FROM memkv_verify('f_k');

-- freezing an empty delta, and a table emptied by DELETE + VACUUM
SELECT memkv_freeze('f_k');
DELETE FROM f;
VACUUM f;
SELECT delta_keys, frozen_keys, frozen_tids FROM memkv_state('f_k');
SELECT q, (differs(q)).* FROM queries;
INSERT INTO f (k) VALUES ('again');
SELECT k FROM f WHERE k = 'again';

-- only the owner may freeze
CREATE ROLE memkv_nobody;
SET ROLE memkv_nobody;
SELECT memkv_freeze('f_k');
RESET ROLE;
DROP ROLE memkv_nobody;
SELECT memkv_freeze('f');

-- repeated freezes reuse space: freed log pages and merged runs' pages
-- take new runs and entries, so from round 3 to 8 (keys x 1.38) the
-- relation grows about as the keys do, not by a run per freeze.  Six
-- runs of one size class are due for a merge, which the merge worker
-- runs: each round waits (up to 10 s) until it has, so that the sizes do
-- not depend on when the worker got to it.
CREATE TABLE g (k text COLLATE "C");
INSERT INTO g SELECT 'g/' || g FROM generate_series(1, 20000) g;
CREATE INDEX g_k ON g USING memkv (k) WITH (freeze_threshold = 0);
CREATE TABLE g_sizes (round int, bytes bigint);
DO $$
BEGIN
  FOR r IN 1 .. 8 LOOP
    INSERT INTO g SELECT 'g/' || r || '/' || g FROM generate_series(1, 2000) g;
    PERFORM memkv_freeze('g_k');
    FOR i IN 1 .. 1000 LOOP
      EXIT WHEN (SELECT runs < 6 AND NOT merge_running FROM memkv_state('g_k'));
      PERFORM pg_sleep(0.01);
    END LOOP;
    INSERT INTO g_sizes VALUES (r, pg_relation_size('g_k'));
  END LOOP;
END $$;
SELECT merges > 0 AS worker_merged, runs < 6 AS runs_merged
  FROM memkv_state('g_k');
SELECT (SELECT bytes FROM g_sizes WHERE round = 8) <=
       (SELECT bytes FROM g_sizes WHERE round = 3) * 1.5 AS stops_growing;
SELECT count(*) FROM memkv_verify('g_k');
SET enable_seqscan = off;
SELECT count(*) FROM g WHERE k ^@ 'g/';
RESET enable_seqscan;

-- a freeze leaves the new run's shared copy and key blocks in place
-- (cache_bytes then exceeds the run's own bytes), and range scans read the
-- keys from those blocks; every scan kind still agrees with a seq scan
SELECT cache_bytes > fst_bytes + posting_bytes AS ready_after_freeze
  FROM memkv_state('g_k');
SET enable_seqscan = off;
SELECT count(*) FROM g WHERE k >= 'g/5' AND k < 'g/6';
SELECT cache_bytes > fst_bytes + posting_bytes AS key_blocks_built
  FROM memkv_state('g_k');
SELECT k FROM g WHERE k > 'g/3/1999' ORDER BY k LIMIT 3;
SELECT k FROM g WHERE k < 'g/3/1' ORDER BY k DESC LIMIT 3;
SELECT k FROM g WHERE k = 'g/7/77';
SELECT count(*) FROM g WHERE k LIKE 'g/1%';
RESET enable_seqscan;
SELECT count(*) FROM g WHERE k >= 'g/5' AND k < 'g/6';
SELECT count(*) FROM g WHERE k LIKE 'g/1%';
