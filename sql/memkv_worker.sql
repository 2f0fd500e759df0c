--
-- memkv_worker: the delta is frozen in the background once it passes the
-- index's freeze_threshold, by a "memkv freeze" worker; VACUUM freezes too.
--
CREATE TABLE w (k text COLLATE "C");
CREATE INDEX w_k ON w USING memkv (k) WITH (freeze_threshold = 500);
SELECT reloptions FROM pg_class WHERE relname = 'w_k';
CREATE INDEX w_bad ON w USING memkv (k) WITH (freeze_threshold = -2);

INSERT INTO w SELECT 'w/' || g FROM generate_series(1, 2000) g;

-- wait (at most 60 s) for the worker to have frozen the delta
DO $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN (SELECT freezes > 0 AND delta_tids < 500 FROM memkv_state('w_k'));
    PERFORM pg_sleep(0.1);
  END LOOP;
END $$;
SELECT freezes > 0 AS frozen_in_background, delta_tids < 500 AS delta_small,
       frozen_tids + delta_tids AS total
  FROM memkv_state('w_k');
SET enable_seqscan = off;
SELECT count(*) FROM w WHERE k ^@ 'w/1';
RESET enable_seqscan;
SELECT * FROM memkv_verify('w_k');

-- threshold 0 turns automatic freezing off; VACUUM still freezes
ALTER INDEX w_k SET (freeze_threshold = 0);
SELECT freezes AS before FROM memkv_state('w_k') \gset
INSERT INTO w SELECT 'v/' || g FROM generate_series(1, 1000) g;
SELECT pg_sleep(0.5);
SELECT freezes = :before AS no_background_freeze, delta_tids >= 1000 AS in_delta
  FROM memkv_state('w_k');
VACUUM w;
SELECT freezes > :before AS vacuum_froze, delta_tids FROM memkv_state('w_k');
SELECT count(*) FROM w WHERE k ^@ 'v/';
