/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The differences between the PostgreSQL major versions memkv builds
 *	  against (15 to 18; 15 and 18 are the ones tested), in one place.
 *
 * The rest of the code is written against PostgreSQL 15's names.  Where a
 * later version renamed a type or a field, this header maps the name memkv
 * uses to the new one; where a function went away, it gives a static inline
 * with the old contract.  Only the places where a structure gained fields
 * (the IndexAmRoutine in memkv.c) carry their own #if PG_VERSION_NUM.
 *
 * Included by memkv.h, hence by every server file; never by the plain-C
 * cores (arena, art, fst_*, keyblocks, keysort), which include no
 * PostgreSQL header at all.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_PG_COMPAT_H
#define MEMKV_PG_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "memkv needs PostgreSQL 15 or later"
#endif

/*
 * Relation file identity.  16 renamed RelFileNode (spcNode, dbNode,
 * relNode) to RelFileLocator (spcOid, dbOid, relNumber), a relation's
 * rd_node to rd_locator and an SMgrRelation's smgr_rnode.node to
 * smgr_rlocator.locator.  memkv keeps the old type name (a plain copy of
 * the three numbers, compared with RelFileNodeEquals) and reaches the
 * renamed fields through these macros (MEMKV_FILE_DB: the database).
 */
#if PG_VERSION_NUM >= 160000
#include "storage/relfilelocator.h"
typedef RelFileLocator RelFileNode;
#define RelFileNodeEquals(a, b)		RelFileLocatorEquals(a, b)
#define MEMKV_REL_FILE(rel)			((rel)->rd_locator)
#define MEMKV_SMGR_FILE(smgr)		((smgr)->smgr_rlocator.locator)
#define MEMKV_FILE_NUMBER(file)		((file).relNumber)
#define MEMKV_FILE_DB(file)			((file).dbOid)
#else
#include "storage/relfilenode.h"
#define MEMKV_REL_FILE(rel)			((rel)->rd_node)
#define MEMKV_SMGR_FILE(smgr)		((smgr)->smgr_rnode.node)
#define MEMKV_FILE_NUMBER(file)		((file).relNode)
#define MEMKV_FILE_DB(file)			((file).dbNode)
#endif

/*
 * The backend that owns a temporary relation: 17 replaced BackendId by
 * ProcNumber (rd_backend keeps its name, with the new type).
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
typedef ProcNumber BackendId;
#define InvalidBackendId			INVALID_PROC_NUMBER
#else
#include "storage/backendid.h"
#endif

/*
 * Ownership checks: 16 folded pg_class_ownercheck() and its siblings into
 * object_ownercheck(classid, objectid, roleid).  The caller includes
 * utils/acl.h and catalog/pg_class.h, as it did for the old function.
 */
#if PG_VERSION_NUM >= 160000
#define pg_class_ownercheck(relid, roleid) \
	object_ownercheck(RelationRelationId, (relid), (roleid))
#endif

/*
 * Whether a collation sorts by plain bytes (C, POSIX).  18 removed
 * lc_collate_is_c(); the locale object answers instead.  The collation must
 * be valid (callers check OidIsValid first); an unknown OID raises an
 * ERROR either way.
 */
#if PG_VERSION_NUM >= 180000
#include "utils/pg_locale.h"

static inline bool
memkv_collation_is_c(Oid collid)
{
	return pg_newlocale_from_collation(collid)->collate_is_c;
}
#else
#include "utils/pg_locale.h"

static inline bool
memkv_collation_is_c(Oid collid)
{
	return lc_collate_is_c(collid);
}
#endif

/*
 * EXPLAIN ANALYZE's "Index Searches" (18): an index AM counts each descent
 * in the scan's instrumentation, when the executor asked for it, next to
 * its pgstat_count_index_scan().  Nothing to count before 18.
 */
#if PG_VERSION_NUM >= 180000
#define memkv_count_index_search(scan) \
	do { \
		if ((scan)->instrument) \
			(scan)->instrument->nsearches++; \
	} while (0)
#else
#define memkv_count_index_search(scan)	((void) 0)
#endif

/*
 * 18 replaced the postfix pg_attribute_noreturn() by the prefix pg_noreturn
 * (C11 _Noreturn).  memkv.h keeps the postfix form, which gcc and clang
 * accept as an attribute.
 */
#ifndef pg_attribute_noreturn
#if defined(__GNUC__)
#define pg_attribute_noreturn()		__attribute__((noreturn))
#else
#define pg_attribute_noreturn()
#endif
#endif

/*
 * This backend's number among the PGPROCs (0 .. MaxBackends + auxiliary
 * processes): MyProc->pgprocno until 16, MyProcNumber from 17.  Users
 * include storage/proc.h.
 */
#if PG_VERSION_NUM >= 170000
#define MEMKV_MY_PROC_NUMBER	((uint32) MyProcNumber)
#else
#define MEMKV_MY_PROC_NUMBER	((uint32) MyProc->pgprocno)
#endif

#endif							/* MEMKV_PG_COMPAT_H */
