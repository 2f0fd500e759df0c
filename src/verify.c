/*-------------------------------------------------------------------------
 *
 * sqlfuncs.c
 *	  SQL-callable functions for inspecting memkv indexes:
 *	  memkv_state(regclass) reports an index's layers and memory;
 *	  memkv_verify(regclass) checks its invariants and lists problems.
 *	  Also how every memkv SQL function opens its index: privileges first
 *	  (SELECT on the table, or its ownership for memkv_freeze), then locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proclist.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "fst.h"
#include "memkv.h"
#include "delta.h"
#include "page.h"
#include "stats.h"
#include "runcopy.h"
#include "runread.h"
#include "source.h"

PG_FUNCTION_INFO_V1(memkv_state);
PG_FUNCTION_INFO_V1(memkv_verify);

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

typedef struct MemkvLogCounts
{
	uint64		pages;
	uint64		tuples;
} MemkvLogCounts;

/* Columns of memkv_state in 1.1; the 1.0 definition has the first 15. */
#define MEMKV_STATE_COLS 25

/* Log pages read per hold of the entry lock, by memkv_state and verify. */
#define MEMKV_LOG_STEP_PAGES 8

/*
 * Between two steps of a long walk: answer a cancel, and if anyone queued
 * for the entry lock meanwhile (an insert), step aside for a millisecond.
 * LWLocks do not queue shared lockers behind waiting exclusive ones, so
 * without the pause a walker that re-takes the lock at once can keep an
 * insert waiting through many steps.  Reading the wait list without its
 * lock is a hint, not a promise; a wrong guess costs a millisecond or a
 * step.
 */
static void
memkv_step_aside(MemkvEntry *entry)
{
	CHECK_FOR_INTERRUPTS();
	if (!proclist_is_empty(&memkv_entry_lock(entry)->waiters))
		pg_usleep(1000L);
}

/*
 * Count the delta log's pages and entries in steps of MEMKV_LOG_STEP_PAGES
 * pages, each under the entry lock held shared (the trees synced first),
 * so that inserts wait at most one step.  Returns the entry still locked
 * from the step that reached the end of the chain, with *meta read under
 * it: the counts and the trees then describe the same moment, since the
 * log grows only at its tail within an epoch.  A freeze's switch between
 * steps (a new epoch: the old head's pages may be freed) starts it over.
 * *in_memory is false if the delta does not fit in shared memory (the
 * trees are then not to be read).
 */
static MemkvEntry *
memkv_state_walk_log(Relation index, MemkvMetaPageData *meta,
					 int64 *log_pages, uint64 *log_tuples, bool *in_memory)
{
	MemkvLogWalk walk;
	MemkvEntry *entry;
	bool		started = false;

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		entry = memkv_open_synced_try(index, LW_SHARED, meta, in_memory);
		if (!started || walk.epoch != meta->epoch)
		{
			memkv_log_walk_start(&walk, meta->log_head, meta->log_head_offset,
								 meta->epoch, false);
			started = true;
		}
		if (memkv_log_walk_pages(index, &walk, MEMKV_LOG_STEP_PAGES,
								 NULL, NULL))
			break;
		memkv_entry_release(entry);
		memkv_step_aside(entry);
	}
	*log_pages = (int64) walk.visited;
	*log_tuples = walk.count;
	return entry;
}

/*
 * memkv_state(index regclass) returns (epoch, log_pages, log_tuples,
 * delta_keys, delta_tids, shmem_bytes, art_loaded, ...): art_loaded says
 * whether the delta tree was already current in shared memory; the call
 * loads it in any case so the other figures are exact.  If the delta does
 * not fit in shared memory, delta_keys is NULL and delta_tids counts the
 * log's entries.  The stat_* columns and the last worker error are the
 * index's cumulative figures (stats.c), which live apart from the registry
 * entry.  Works with the 1.0 definition of the function too (15 columns),
 * until ALTER EXTENSION UPDATE.
 */
Datum
memkv_state(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index = memkv_open_for_caller(relid, AccessShareLock,
											  MEMKV_CALLER_STATS);
	TupleDesc	tupdesc;
	Datum		values[MEMKV_STATE_COLS];
	bool		nulls[MEMKV_STATE_COLS] = {false};
	MemkvStats	st;
	MemkvMetaPageData meta;
	MemkvEntry *entry;
	bool		loaded;
	bool		in_memory;
	uint64		log_tuples;
	int64		log_pages;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (tupdesc->natts > MEMKV_STATE_COLS)
		elog(ERROR, "memkv_state: the SQL definition has %d columns, the library knows %d",
			 tupdesc->natts, MEMKV_STATE_COLS);

	entry = memkv_entry_acquire(index, LW_SHARED);
	memkv_read_meta(index, &meta);
	loaded = entry->valid && entry->instance_id == meta.instance_id &&
		entry->epoch == meta.epoch;
	memkv_entry_release(entry);

	/* a delta too big for shared memory is counted in the log only */
	entry = memkv_state_walk_log(index, &meta, &log_pages, &log_tuples,
								 &in_memory);

	values[0] = Int64GetDatum(meta.epoch);
	values[1] = Int64GetDatum(log_pages);
	values[2] = Int64GetDatum((int64) log_tuples);
	values[3] = Int64GetDatum((int64) (entry->keys.nkeys + entry->nulls.nkeys +
									   entry->imm_keys.nkeys +
									   entry->imm_nulls.nkeys));
	values[4] = Int64GetDatum((int64) (entry->keys.ntids + entry->nulls.ntids +
									   entry->imm_keys.ntids +
									   entry->imm_nulls.ntids));
	values[5] = Int64GetDatum((int64) (entry->keys.bytes + entry->nulls.bytes +
									   entry->imm_keys.bytes +
									   entry->imm_nulls.bytes));
	if (!in_memory)
	{
		/* the trees could not be built: the delta is the log's entries */
		nulls[3] = true;
		values[4] = Int64GetDatum((int64) log_tuples);
		values[5] = Int64GetDatum(0);
	}
	values[6] = BoolGetDatum(loaded);
	values[7] = Int64GetDatum((int64) meta.frozen_nkeys);
	values[8] = Int64GetDatum((int64) meta.frozen_ntids);
	values[9] = Int64GetDatum((int64) meta.frozen_npages);
	values[10] = Int64GetDatum((int64) meta.fst_size);
	values[11] = Int64GetDatum((int64) (meta.postings_size + meta.nullpost_size));
	values[12] = Int64GetDatum((int64) meta.freezes);
	values[13] = TimestampTzGetDatum((TimestampTz) meta.last_freeze);
	nulls[13] = (meta.last_freeze == 0);
	values[14] = Int64GetDatum((int64) (entry->run_copy_bytes +
										 entry->run_kb_bytes));
	memkv_entry_release(entry);

	memkv_stats_get(MyDatabaseId, relid, meta.instance_id, &st);
	values[15] = Int64GetDatum(st.freezes);
	values[16] = Float8GetDatum(st.freeze_ms);
	values[17] = Int64GetDatum(st.bytes_written);
	values[18] = Int64GetDatum(st.wal_bytes);
	values[19] = Int64GetDatum(st.delta_tids);
	values[20] = Int64GetDatum(st.dead_tids);
	values[21] = Int64GetDatum(st.worker_failures);
	if (st.last_error_at != 0)
	{
		values[22] = CStringGetTextDatum(st.last_error);
		values[23] = TimestampTzGetDatum(st.last_error_at);
	}
	else
		nulls[22] = nulls[23] = true;
	values[24] = TimestampTzGetDatum(st.reset_at);
	nulls[24] = (st.reset_at == 0);

	memkv_close_for_caller(index, AccessShareLock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

typedef struct MemkvVerifyState
{
	ReturnSetInfo *rsinfo;
	MemkvEntry *entry;
	uint64		nonnull;
	uint64		nulls;
	int			nproblems;
} MemkvVerifyState;

#define MEMKV_VERIFY_MAX_PROBLEMS 100

/* Add one problem row to the result. */
static void
memkv_report(MemkvVerifyState *vs, const char *fmt,...) pg_attribute_printf(2, 3);

static void
memkv_report(MemkvVerifyState *vs, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;
	Datum		value;
	bool		isnull = false;

	if (++vs->nproblems > MEMKV_VERIFY_MAX_PROBLEMS)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	value = CStringGetTextDatum(buf.data);
	tuplestore_putvalues(vs->rsinfo->setResult, vs->rsinfo->setDesc,
						 &value, &isnull);
}

/* memkv_walk_log visitor: the entry must be well formed and in the tree. */
static void
memkv_verify_visit(IndexTuple itup, void *arg)
{
	MemkvVerifyState *vs = (MemkvVerifyState *) arg;
	bool		isnull = MemkvLogTupleIsNull(itup);
	const uint8 *key = MemkvLogTupleKey(itup);
	Size		keylen = MemkvLogTupleKeyLen(itup);
	const ArtTid *tids;
	uint32		ntids;
	uint32		i;
	bool		found = false;

	if (!ItemPointerIsValid(&itup->t_tid))
		memkv_report(vs, "log entry has an invalid heap TID");
	if (keylen > MEMKV_MAX_KEY_BYTES || (isnull && keylen != 0) ||
		memchr(key, 0, keylen) != NULL)
	{
		memkv_report(vs, "log entry for TID (%u,%u) has a malformed key of %zu bytes",
					 ItemPointerGetBlockNumberNoCheck(&itup->t_tid),
					 ItemPointerGetOffsetNumberNoCheck(&itup->t_tid), keylen);
		return;
	}
	if (isnull)
		vs->nulls++;
	else
		vs->nonnull++;

	ntids = art_lookup(isnull ? &vs->entry->nulls : &vs->entry->keys,
					   memkv_allocator(), key, isnull ? 0 : keylen, &tids);
	for (i = 0; i < ntids && !found; i++)
		found = memcmp(&tids[i], &itup->t_tid, sizeof(ArtTid)) == 0;
	if (!found && vs->entry->freezing)
	{
		ntids = art_lookup(isnull ? &vs->entry->imm_nulls : &vs->entry->imm_keys,
						   memkv_allocator(), key, isnull ? 0 : keylen, &tids);
		for (i = 0; i < ntids && !found; i++)
			found = memcmp(&tids[i], &itup->t_tid, sizeof(ArtTid)) == 0;
	}
	if (!found)
		memkv_report(vs, "log entry for TID (%u,%u) is missing from the delta tree",
					 ItemPointerGetBlockNumberNoCheck(&itup->t_tid),
					 ItemPointerGetOffsetNumberNoCheck(&itup->t_tid));
}

/*
 * Walk the whole frozen layer: keys strictly ascending, every posting list
 * non-empty, sorted, with valid TIDs, and the totals the metapage states.
 * Reading it also checks every node and page the walk touches.
 */
static void
memkv_verify_frozen(MemkvVerifyState *vs, Relation index,
					const MemkvMetaPageData *meta)
{
	MemkvFrozen *frozen = memkv_frozen_open(index, meta, NULL);
	MemkvSource	run;
	bytea	   *prev = NULL;
	uint64		nkeys = 0;
	uint64		ntids = 0;
	ArtBound	lower;

	if (frozen == NULL)
		return;
	if (!memkv_frozen_checksum_ok(index, meta))
		memkv_report(vs, "frozen layer: its pages do not match their checksum");
	{
		char		errbuf[FST_ERRMSG_LEN];

		if (!memkv_frozen_check(frozen, errbuf))
			memkv_report(vs, "frozen layer: %s", errbuf);
	}
	memkv_source_init(&run);
	for (;;)
	{
		int			i;

		memkv_source_reset(&run);
		if (prev)
		{
			lower.key = (const uint8 *) VARDATA(prev);
			lower.len = VARSIZE(prev) - VARHDRSZ;
			lower.inclusive = false;
		}
		CHECK_FOR_INTERRUPTS();
		memkv_frozen_collect(frozen, &run, prev ? &lower : NULL, NULL, false,
							 4096);
		for (i = 0; i < run.nkeys; i++)
		{
			MemkvSourceKey *k = &run.keys[i];
			const char *key = run.keybuf + k->key_offset;
			uint64		t;

			if (prev)
			{
				if (memkv_key_cmp((const uint8 *) VARDATA(prev),
								  VARSIZE(prev) - VARHDRSZ,
								  (const uint8 *) key, k->key_len) >= 0)
					memkv_report(vs, "frozen keys out of order at key %llu",
								 (unsigned long long) nkeys);
			}
			if (k->ntids == 0)
				memkv_report(vs, "frozen key %llu has no TIDs",
							 (unsigned long long) nkeys);
			for (t = 0; t < k->ntids; t++)
			{
				ItemPointer tid = &run.tids[k->tid_start + t];

				if (!ItemPointerIsValid(tid) ||
					(t > 0 && ItemPointerCompare(tid - 1, tid) >= 0))
					memkv_report(vs, "frozen key %llu has a bad posting list",
								 (unsigned long long) nkeys);
			}
			if (memchr(key, 0, k->key_len) != NULL)
				memkv_report(vs, "frozen key %llu contains a zero byte",
							 (unsigned long long) nkeys);
			ntids += k->ntids;
			nkeys++;
			if (prev)
				pfree(prev);
			prev = palloc(VARHDRSZ + k->key_len);
			SET_VARSIZE(prev, VARHDRSZ + k->key_len);
			memcpy(VARDATA(prev), key, k->key_len);
		}
		if (!run.stopped)
			break;
	}
	memkv_source_reset(&run);
	ntids += memkv_frozen_nulls(frozen, &run);
	memkv_frozen_close(frozen);

	if (nkeys != meta->frozen_nkeys || ntids != meta->frozen_ntids)
		memkv_report(vs, "frozen layer holds %llu keys and %llu TIDs, the metapage says %llu and %llu",
					 (unsigned long long) nkeys, (unsigned long long) ntids,
					 (unsigned long long) meta->frozen_nkeys,
					 (unsigned long long) meta->frozen_ntids);
}

/*
 * Check the delta log against the delta trees, in steps: each step takes
 * the entry lock shared (syncing the trees first if they are behind),
 * checks up to MEMKV_LOG_STEP_PAGES log pages' entries against the
 * trees, and lets the lock go, so inserts and scans wait at most one step.
 * The step that reaches the end of the chain also checks, under the same
 * lock hold, that the metapage's tail is where the chain ends, the trees'
 * structure, and that the trees hold exactly as many TIDs as the log: the
 * log only grows at its tail within an epoch, so the entries read in
 * earlier steps are all still there, and the trees hold nothing else.
 * Caller holds the metapage lock in ShareLock, so the epoch cannot change.
 */
static void
memkv_verify_delta(MemkvVerifyState *vs, Relation index,
				   MemkvMetaPageData *meta)
{
	MemkvMetaPageData now;
	MemkvLogWalk walk;
	bool		done = false;
	char		errbuf[256];
	BlockNumber nblocks;

	vs->entry = memkv_open_synced(index, LW_SHARED, meta);
	memkv_entry_release(vs->entry);
	vs->entry = NULL;
	nblocks = RelationGetNumberOfBlocks(index);
	if (meta->log_head == MEMKV_METAPAGE_BLKNO || meta->log_head >= nblocks ||
		meta->log_tail == MEMKV_METAPAGE_BLKNO || meta->log_tail >= nblocks)
	{
		memkv_report(vs, "metapage points outside the relation (head %u, tail %u, %u blocks)",
					 meta->log_head, meta->log_tail, nblocks);
		return;
	}

	memkv_log_walk_start(&walk, meta->log_head, meta->log_head_offset,
						 meta->epoch, true);
	while (!done)
	{
		CHECK_FOR_INTERRUPTS();
		vs->entry = memkv_open_synced(index, LW_SHARED, &now);
		if (now.instance_id != meta->instance_id || now.epoch != meta->epoch ||
			now.log_head != meta->log_head ||
			now.log_head_offset != meta->log_head_offset)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index \"%s\" was frozen or rebuilt during the check",
							RelationGetRelationName(index)),
					 errhint("Run memkv_verify again.")));
		done = memkv_log_walk_pages(index, &walk, MEMKV_LOG_STEP_PAGES,
									memkv_verify_visit, vs);
		if (!done)
		{
			memkv_entry_release(vs->entry);
			memkv_step_aside(vs->entry);
			continue;
		}

		/* the end of the chain, with appends held off: compare totals */
		if (walk.last != now.log_tail)
			memkv_report(vs, "the log chain ends at block %u, the metapage's log tail is %u",
						 walk.last, now.log_tail);
		if (!art_check(&vs->entry->keys, memkv_allocator(),
					   memkv_shared->arena_size, errbuf, sizeof(errbuf)))
			memkv_report(vs, "delta tree: %s", errbuf);
		if (!art_check(&vs->entry->nulls, memkv_allocator(),
					   memkv_shared->arena_size, errbuf, sizeof(errbuf)))
			memkv_report(vs, "NULL tree: %s", errbuf);
		if (vs->entry->keys.ntids + vs->entry->imm_keys.ntids != vs->nonnull)
			memkv_report(vs, "delta trees hold %llu TIDs, the log %llu",
						 (unsigned long long) (vs->entry->keys.ntids +
											   vs->entry->imm_keys.ntids),
						 (unsigned long long) vs->nonnull);
		if (vs->entry->nulls.ntids + vs->entry->imm_nulls.ntids != vs->nulls)
			memkv_report(vs, "NULL trees hold %llu TIDs, the log %llu",
						 (unsigned long long) (vs->entry->nulls.ntids +
											   vs->entry->imm_nulls.ntids),
						 (unsigned long long) vs->nulls);
		memkv_entry_release(vs->entry);
	}
	vs->entry = NULL;
	pfree(walk.in_chain);
}

/*
 * memkv_verify(index regclass) returns setof text: one row per problem
 * found (at most 100), none if the index is consistent.  It checks the
 * metapage, walks the delta log, checks the shared trees' structure and
 * that they hold exactly the log's entries, then reads the whole frozen
 * layer.
 *
 * It never holds the entry lock for more than a step (see
 * memkv_verify_delta; the frozen layer is read from its pages without it),
 * and answers a cancel between steps.  It holds the metapage lock in
 * ShareLock throughout, which keeps freezes and amvacuumcleanup from
 * retiring the pages it is reading (they wait; inserts and scans do not).
 */
Datum
memkv_verify(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index = memkv_open_for_caller(relid, AccessShareLock,
											  MEMKV_CALLER_SELECT);
	MemkvVerifyState vs;
	MemkvMetaPageData meta;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	memset(&vs, 0, sizeof(vs));
	vs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	LockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
	memkv_verify_delta(&vs, index, &meta);
	memkv_verify_frozen(&vs, index, &meta);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);

	memkv_close_for_caller(index, AccessShareLock);
	return (Datum) 0;
}
