--
-- memkv_privileges: who may run memkv_state, memkv_verify and memkv_freeze.
-- Like amcheck and pgstattuple, EXECUTE on the inspection functions is not
-- PUBLIC's, and even with EXECUTE they demand SELECT on the table;
-- memkv_freeze is the table owner's.  ALTER EXTENSION UPDATE from 1.0 gives
-- the same privileges as a fresh install.
--
CREATE TABLE priv_t (k text COLLATE "C");
INSERT INTO priv_t SELECT 'p/' || g FROM generate_series(1, 100) g;
CREATE INDEX priv_k ON priv_t USING memkv (k);
CREATE INDEX priv_btree ON priv_t (k);
CREATE SEQUENCE priv_seq;

CREATE ROLE regress_memkv_owner;
CREATE ROLE regress_memkv_reader;
CREATE ROLE regress_memkv_nobody;
CREATE ROLE regress_memkv_monitor IN ROLE pg_stat_scan_tables;
ALTER TABLE priv_t OWNER TO regress_memkv_owner;
GRANT SELECT ON priv_t TO regress_memkv_reader;

-- who may execute what, in this (fresh 1.1) install
CREATE VIEW memkv_func_privs AS
  SELECT p.proname,
         has_function_privilege('public', p.oid, 'EXECUTE') AS public,
         has_function_privilege('pg_stat_scan_tables', p.oid, 'EXECUTE') AS stat_scan,
         has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS monitor
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass
    AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'memkv'
  WHERE p.proname <> 'memkv_handler';
SELECT * FROM memkv_func_privs ORDER BY proname;
-- kept for the comparison with an upgraded install, at the end
SELECT current_database() AS regress_db,
       string_agg(format('%s %s %s %s', proname, public, stat_scan, monitor),
                  ', ' ORDER BY proname) AS fresh_privs,
       (SELECT string_agg(p.proname || ' ' || coalesce(p.proacl::text, 'default'),
                          ', ' ORDER BY p.proname)
          FROM pg_proc p WHERE p.proname IN ('memkv_state', 'memkv_verify', 'memkv_freeze', 'memkv_stat_reset')) AS fresh_acl
  FROM memkv_func_privs \gset

-- no SELECT, no EXECUTE: the function's permission error
SET ROLE regress_memkv_nobody;
SELECT delta_keys FROM memkv_state('priv_k');
SELECT * FROM memkv_verify('priv_k');
RESET ROLE;

-- EXECUTE without SELECT: the table's permission error, nothing else; the
-- same for another index of the table, and memkv_freeze wants the owner
GRANT EXECUTE ON FUNCTION memkv_state(regclass), memkv_verify(regclass),
  memkv_stat_reset(regclass)
  TO regress_memkv_nobody, regress_memkv_reader, regress_memkv_owner;
SET ROLE regress_memkv_nobody;
SELECT delta_keys FROM memkv_state('priv_k');
SELECT * FROM memkv_verify('priv_k');
SELECT memkv_stat_reset('priv_k');
SELECT delta_keys FROM memkv_state('priv_btree');
SELECT memkv_freeze('priv_k');
RESET ROLE;

-- SELECT and EXECUTE: the figures and the check; still not the freeze
SET ROLE regress_memkv_reader;
SELECT frozen_keys, delta_keys FROM memkv_state('priv_k');
SELECT count(*) AS problems FROM memkv_verify('priv_k');
SELECT memkv_stat_reset('priv_k');
SELECT memkv_freeze('priv_k');
RESET ROLE;

-- pg_stat_scan_tables (so pg_monitor too) may read the figures without
-- SELECT on the table, like pgstatindex; memkv_verify is not granted to it
SET ROLE regress_memkv_monitor;
SELECT frozen_keys, delta_keys FROM memkv_state('priv_k');
SELECT * FROM memkv_verify('priv_k');
RESET ROLE;

-- the owner freezes; not in a read-only transaction
SET ROLE regress_memkv_owner;
INSERT INTO priv_t VALUES ('p/new'), (NULL);
SELECT delta_tids FROM memkv_state('priv_k');
BEGIN TRANSACTION READ ONLY;
SELECT memkv_freeze('priv_k');
ROLLBACK;
SET default_transaction_read_only = on;
SELECT memkv_freeze('priv_k');
RESET default_transaction_read_only;
SELECT memkv_freeze('priv_k');
SELECT frozen_tids, delta_tids, freezes FROM memkv_state('priv_k');
SELECT count(*) AS problems FROM memkv_verify('priv_k');
RESET ROLE;

-- anything but a memkv index is refused, by each function
SELECT memkv_freeze('priv_t');
SELECT memkv_freeze('priv_btree');
SELECT memkv_freeze('priv_seq');
SELECT * FROM memkv_state('priv_t');
SELECT * FROM memkv_state('priv_btree');
SELECT * FROM memkv_verify('priv_seq');
SELECT * FROM memkv_verify('priv_btree');
SELECT * FROM memkv_state(0);
CREATE TABLE priv_parted (k text COLLATE "C") PARTITION BY RANGE (k);
CREATE TABLE priv_parted_1 PARTITION OF priv_parted FOR VALUES FROM ('a') TO ('n');
CREATE INDEX priv_parted_k ON priv_parted USING memkv (k);
SELECT * FROM memkv_verify('priv_parted_k');
SELECT delta_keys FROM memkv_state('priv_parted_1_k_idx');
DROP TABLE priv_parted;

-- ALTER EXTENSION memkv UPDATE from 1.0 ends with the privileges of a
-- fresh 1.1 install (1.0 left everything to PUBLIC)
CREATE DATABASE regress_memkv_upgrade;
\c regress_memkv_upgrade
CREATE EXTENSION memkv VERSION '1.0';
CREATE VIEW memkv_func_privs AS
  SELECT p.proname,
         has_function_privilege('public', p.oid, 'EXECUTE') AS public,
         has_function_privilege('pg_stat_scan_tables', p.oid, 'EXECUTE') AS stat_scan,
         has_function_privilege('pg_monitor', p.oid, 'EXECUTE') AS monitor
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass
    AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'memkv'
  WHERE p.proname <> 'memkv_handler';
SELECT * FROM memkv_func_privs ORDER BY proname;
ALTER EXTENSION memkv UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'memkv';
SELECT * FROM memkv_func_privs ORDER BY proname;
SELECT string_agg(format('%s %s %s %s', proname, public, stat_scan, monitor),
                  ', ' ORDER BY proname) = :'fresh_privs' AS same_privileges,
       (SELECT string_agg(p.proname || ' ' || coalesce(p.proacl::text, 'default'),
                          ', ' ORDER BY p.proname)
          FROM pg_proc p WHERE p.proname IN ('memkv_state', 'memkv_verify', 'memkv_freeze', 'memkv_stat_reset')) = :'fresh_acl' AS same_acl
  FROM memkv_func_privs;
\c :regress_db
DROP DATABASE regress_memkv_upgrade;

DROP VIEW memkv_func_privs;
DROP SEQUENCE priv_seq;
DROP OWNED BY regress_memkv_owner, regress_memkv_reader, regress_memkv_nobody,
  regress_memkv_monitor;
DROP ROLE regress_memkv_owner, regress_memkv_reader, regress_memkv_nobody,
  regress_memkv_monitor;
