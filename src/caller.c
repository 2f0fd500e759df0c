/*-------------------------------------------------------------------------
 *
 * caller.c
 *	  What memkv's SQL functions share: opening an index for the calling
 *	  user -- privileges first (SELECT on the table, or its ownership for
 *	  memkv_freeze), then locks -- and stepping aside for waiting inserts
 *	  between the steps of a long walk (memkv_state, memkv_verify).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proclist.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "caller.h"
#include "memkv.h"
#include "registry.h"

/*
 * Raise the error for `relid` not being a memkv index (or not existing).
 */
static void
memkv_not_memkv_index(Oid relid)
{
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (get_rel_relkind(relid) == RELKIND_PARTITIONED_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a memkv index", name),
				 errdetail("It is a partitioned index, which holds no data."),
				 errhint("Call the function on the indexes of its partitions.")));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a memkv index", name)));
}

/*
 * Does the current user have `right` on table `heapid`?  If not, raise the
 * permission error, which names the table and nothing else.  Takes no lock:
 * callers check before they lock.
 */
static void
memkv_check_caller(Oid heapid, MemkvCallerRight right)
{
	Oid			userid = GetUserId();
	AclResult	aclresult;

	if (right == MEMKV_CALLER_OWNER)
	{
		if (!pg_class_ownercheck(heapid, userid))
			aclcheck_error(ACLCHECK_NOT_OWNER,
						   get_relkind_objtype(get_rel_relkind(heapid)),
						   get_rel_name(heapid));
		return;
	}
	if (right == MEMKV_CALLER_STATS &&
		has_privs_of_role(userid, ROLE_PG_STAT_SCAN_TABLES))
		return;
	aclresult = pg_class_aclcheck(heapid, userid, ACL_SELECT);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(heapid)),
					   get_rel_name(heapid));
}

/*
 * Open `indexoid`, which must be a memkv index, for a SQL function, once the
 * current user is known to have `right` on its table (see MemkvCallerRight).
 *
 * The privilege check comes first, before any lock, so that a role without
 * rights neither waits for nor holds up the table's writers and learns
 * nothing but the table's name.  Then the table is locked (AccessShareLock)
 * before the index (in `lockmode`), in the order core uses, and the index
 * must still belong to that table: its OID could have been dropped and
 * reused meanwhile.  Close with memkv_close_for_caller.
 */
Relation
memkv_open_for_caller(Oid indexoid, LOCKMODE lockmode, MemkvCallerRight right)
{
	Oid			heapid = IndexGetRelation(indexoid, true);
	Relation	index;

	if (!OidIsValid(heapid))
		memkv_not_memkv_index(indexoid);
	memkv_check_caller(heapid, right);

	LockRelationOid(heapid, AccessShareLock);
	index = relation_open(indexoid, lockmode);
	if (index->rd_rel->relkind != RELKIND_INDEX ||
		index->rd_indam == NULL ||
		index->rd_indam->ambuild != memkv_build)
		memkv_not_memkv_index(indexoid);
	if (index->rd_index->indrelid != heapid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" was replaced while it was being opened",
						RelationGetRelationName(index)),
				 errhint("Try again.")));
	if (RELATION_IS_OTHER_TEMP(index))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary indexes of other sessions")));
	memkv_check_loaded();
	return index;
}

/* Close what memkv_open_for_caller opened, releasing both locks. */
void
memkv_close_for_caller(Relation index, LOCKMODE lockmode)
{
	Oid			heapid = index->rd_index->indrelid;

	relation_close(index, lockmode);
	UnlockRelationOid(heapid, AccessShareLock);
}

/*
 * Between two steps of a long walk: answer a cancel, and if anyone queued
 * for a stripe lock meanwhile (an insert), step aside for a millisecond.
 * LWLocks do not queue shared lockers behind waiting exclusive ones, so
 * without the pause a walker that re-takes the lock at once can keep an
 * insert waiting through many steps.  Reading the wait list without its
 * lock is a hint, not a promise; a wrong guess costs a millisecond or a
 * step.
 */
void
memkv_step_aside(MemkvEntry *entry)
{
	int			s;

	CHECK_FOR_INTERRUPTS();
	if (!proclist_is_empty(&memkv_runs_lock(entry)->waiters))
	{
		pg_usleep(1000L);
		return;
	}
	for (s = 0; s < entry->nstripes; s++)
	{
		if (!proclist_is_empty(&memkv_stripe_lock(entry, s)->waiters))
		{
			pg_usleep(1000L);
			break;
		}
	}
}
