--
-- memkv_edge: the keys and settings that break naive radix trees and
-- careless access methods.
--
SET enable_seqscan = off;

-- UTF-8, including multibyte characters sharing leading bytes
CREATE TABLE words (k text COLLATE "C");
INSERT INTO words VALUES ('été'), ('étagère'), ('ête'), ('e'), ('zèbre'),
  ('日本'), ('日本語'), ('日'), ('😀'), ('😀😀');
CREATE INDEX words_k ON words USING memkv (k);
SELECT k FROM words ORDER BY k;
SELECT k FROM words WHERE k LIKE 'ét%' ORDER BY k;
SELECT k FROM words WHERE k ^@ '日' ORDER BY k DESC;
SELECT k FROM words WHERE k > 'z' ORDER BY k;

-- long keys: 2 KB works, over the limit is an error naming it
CREATE TABLE longkeys (id int, k text COLLATE "C");
CREATE INDEX longkeys_k ON longkeys USING memkv (k);
INSERT INTO longkeys VALUES (1, repeat('x', 2048)), (2, repeat('x', 2047)),
  (3, repeat('x', 2048) || 'y');
SELECT id, length(k) FROM longkeys WHERE k = repeat('x', 2048);
SELECT id FROM longkeys WHERE k > repeat('x', 2047) ORDER BY k;
SELECT id FROM longkeys WHERE k ^@ repeat('x', 2048) ORDER BY id;
INSERT INTO longkeys VALUES (4, repeat('x', 2701));
INSERT INTO longkeys VALUES (5, repeat('x', 2700));
SELECT id FROM longkeys WHERE k = repeat('x', 2700);
-- a compressible long value still goes in whole
INSERT INTO longkeys VALUES (6, repeat('ab', 1300));
SELECT id FROM longkeys WHERE k = repeat('ab', 1300);

-- 10,000 copies of one key, next to its neighbours
CREATE TABLE dups (id int, k text COLLATE "C");
INSERT INTO dups SELECT g, 'same' FROM generate_series(1, 10000) g;
INSERT INTO dups VALUES (0, 'sam'), (10001, 'samf');
CREATE INDEX dups_k ON dups USING memkv (k);
SELECT count(*), min(id), max(id) FROM dups WHERE k = 'same';
INSERT INTO dups SELECT g, 'same' FROM generate_series(10002, 12000) g;
SELECT count(*), count(DISTINCT id) FROM dups WHERE k = 'same';
SELECT id FROM dups WHERE k > 'same';
SELECT id FROM dups WHERE k < 'same';
SET enable_bitmapscan = off;
SELECT count(*), count(DISTINCT id) FROM dups WHERE k >= 'sam' AND k <= 'samf';
RESET enable_bitmapscan;
DELETE FROM dups WHERE id % 2 = 0;
VACUUM dups;
SELECT count(*) FROM dups WHERE k = 'same';
SELECT * FROM memkv_verify('dups_k');

-- varchar goes through the text operator class
CREATE TABLE vc (k varchar(20) COLLATE "C");
INSERT INTO vc VALUES ('one'), ('two'), ('three');
CREATE INDEX vc_k ON vc USING memkv (k);
EXPLAIN (COSTS OFF) SELECT k FROM vc WHERE k = 'two';
SELECT k FROM vc WHERE k = 'two';

-- unlogged tables have an init fork
CREATE UNLOGGED TABLE ul (k text COLLATE "C");
CREATE INDEX ul_k ON ul USING memkv (k);
INSERT INTO ul SELECT 'u' || g FROM generate_series(1, 100) g;
SELECT count(*) FROM ul WHERE k LIKE 'u1%';
SELECT * FROM memkv_verify('ul_k');

-- an empty table, then TRUNCATE and REINDEX
CREATE TABLE empty (k text COLLATE "C");
CREATE INDEX empty_k ON empty USING memkv (k);
SELECT count(*) FROM empty WHERE k = 'x';
SELECT k FROM empty ORDER BY k DESC LIMIT 1;
INSERT INTO empty VALUES ('x'), ('y');
TRUNCATE empty;
SELECT count(*) FROM empty WHERE k >= '';
INSERT INTO empty VALUES ('z');
REINDEX INDEX empty_k;
SELECT k FROM empty WHERE k >= '';
SELECT generation, log_tuples, delta_keys, frozen_keys, frozen_tids FROM memkv_state('empty_k');

-- collations other than C/POSIX are refused
CREATE TABLE coll (k text);
CREATE INDEX coll_icu ON coll USING memkv (k COLLATE "und-x-icu");
CREATE INDEX coll_posix ON coll USING memkv (k COLLATE "POSIX");
CREATE INDEX coll_c ON coll USING memkv (k COLLATE "C");

-- what memkv cannot do
CREATE UNIQUE INDEX ON coll USING memkv (k COLLATE "C");
CREATE INDEX ON coll USING memkv (k COLLATE "C", k COLLATE "C");
CREATE INDEX ON coll USING memkv (k COLLATE "C") WITH (fillfactor = 50);
SELECT memkv_state('coll');
CREATE INDEX coll_btree ON coll (k);
SELECT memkv_state('coll_btree');

-- scans that die with an error half way give their batch arrays back to
-- the backend's cache (a memory context reset callback): 200 of them, each
-- past several batches, leave that context small, and scans go on
CREATE TABLE errscan (k text COLLATE "C");
INSERT INTO errscan SELECT 'key' || lpad(g::text, 6, '0') FROM generate_series(1, 20000) g;
CREATE INDEX errscan_k ON errscan USING memkv (k);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
DO $$
DECLARE
  failed int := 0;
BEGIN
  FOR i IN 1..200 LOOP
    BEGIN
      PERFORM k, 1 / (CASE WHEN k = 'key015000' THEN 0 ELSE 1 END)
        FROM errscan WHERE k >= 'key' ORDER BY k;
    EXCEPTION WHEN division_by_zero THEN
      failed := failed + 1;
    END;
  END LOOP;
  RAISE NOTICE 'scans failed: %', failed;
END $$;
SELECT total_bytes < 1024 * 1024 AS batch_cache_small
  FROM pg_backend_memory_contexts WHERE name = 'memkv scan batches';
SELECT count(*) FROM errscan WHERE k LIKE 'key01%';
RESET enable_seqscan;
RESET enable_bitmapscan;
