/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Automatic freezing: deciding when an index's delta has grown enough,
 *	  and the background worker that freezes it, so that no inserting
 *	  session pays for the freeze.
 *
 * An insert that finds the delta past the threshold (the index's
 * freeze_threshold storage parameter, else memkv.freeze_threshold), or
 * the shared arena more than three quarters full, marks the entry
 * "freeze requested" and starts a dynamic background worker, "memkv
 * freeze", which connects to the index's database and runs the freeze.
 * The worker freezes again (up to ten times) while writes made during its
 * freeze leave the delta past the threshold.  The mark is cleared when
 * the worker has frozen the index, so there is at most one worker per
 * index; a worker that could not start or failed is retried by a later
 * insert once MEMKV_FREEZE_RETRY_SECS have passed since the request (or
 * the failure).  The worker finds its index's registry entry by
 * RelFileNode, never by slot: the entry may move to another slot.  A
 * worker whose freeze fails records the error for memkv_state and logs
 * it, once per run of failures for the same reason (memkv_worker_failed,
 * stats.c).
 *
 * No worker is started during recovery (it could only start once recovery
 * ends) or for a temp index (another session's temp tables are out of a
 * worker's reach): its owning backend freezes it at the threshold
 * (insert.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xlog.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "freeze.h"
#include "memkv.h"
#include "delta.h"
#include "memkv_guc.h"
#include "page.h"
#include "stats.h"

int			memkv_freeze_threshold = 1000000;

/* Seconds before a request whose worker could not start is retried. */
#define MEMKV_FREEZE_RETRY_SECS 10

PGDLLEXPORT void memkv_freeze_worker_main(Datum main_arg);

/*
 * The worker's index as named in log lines, and its build (instance_id),
 * once known: for the report of a failure (memkv_worker_failed).
 */
static char *worker_index_name = NULL;
static uint64 worker_instance_id = 0;

/* The delta size at which this index should be frozen. */
static int64
memkv_threshold(Relation index)
{
	MemkvOptions *opts = (MemkvOptions *) index->rd_options;

	if (opts && opts->freeze_threshold >= 0)
		return opts->freeze_threshold;
	return memkv_freeze_threshold;
}

/*
 * Called by an insert holding the entry lock exclusively: request a
 * background freeze if the delta has outgrown its threshold or shared
 * memory is getting scarce.  For a temp index, which no worker can read,
 * returns true instead: the inserting backend, its owner, should freeze it
 * itself once it has released the entry lock.
 */
bool
memkv_maybe_request_freeze(Relation index, MemkvEntry *entry)
{
	uint64		delta = entry->keys.ntids + entry->nulls.ntids;
	int64		threshold = memkv_threshold(index);

	if (entry->freezing || threshold == 0)
		return false;
	if ((threshold > 0 && delta >= (uint64) threshold) ||
		(memkv_arena_bytes_used() > memkv_shared->arena_size / 4 * 3 &&
		 entry->keys.bytes > memkv_shared->arena_size / 64))
	{
		if (RelationUsesLocalBuffers(index))
			return true;
		memkv_request_freeze(index, entry, false);
	}
	return false;
}

/* What a "memkv freeze" worker is told, in bgw_extra. */
typedef struct MemkvWorkerArgs
{
	Oid			dboid;
	RelFileNode node;			/* the index's registry key at request time */
} MemkvWorkerArgs;

/*
 * Start a "memkv freeze" worker for the index unless one was asked for in
 * the last MEMKV_FREEZE_RETRY_SECS seconds.  With `force`, even if automatic
 * freezing is off: the delta no longer fits in shared memory.  Caller
 * holds the entry lock exclusively.
 *
 * Never during recovery: a worker can only start once recovery ends, so on
 * a standby it would hold a worker slot for nothing (the primary freezes,
 * and replay brings the standby the result).  Never for a temp index: a
 * worker cannot read another session's temp tables (its owner freezes it).
 */
void
memkv_request_freeze(Relation index, MemkvEntry *entry, bool force)
{
	BackgroundWorker worker;
	MemkvWorkerArgs args;
	TimestampTz now;

	if (entry->freezing || (!force && memkv_threshold(index) == 0))
		return;
	if (RecoveryInProgress() || RelationUsesLocalBuffers(index))
		return;

	now = GetCurrentTimestamp();
	if (entry->freeze_requested &&
		!TimestampDifferenceExceeds(entry->freeze_requested_at, now,
									MEMKV_FREEZE_RETRY_SECS * 1000))
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "memkv");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "memkv_freeze_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "memkv freeze of index %u",
			 RelationGetRelid(index));
	snprintf(worker.bgw_type, BGW_MAXLEN, "memkv freeze");
	worker.bgw_main_arg = ObjectIdGetDatum(RelationGetRelid(index));
	StaticAssertStmt(sizeof(MemkvWorkerArgs) <= BGW_EXTRALEN,
					 "memkv worker arguments must fit in bgw_extra");
	memset(&args, 0, sizeof(args));
	args.dboid = MyDatabaseId;
	args.node = MEMKV_REL_FILE(index);
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = 0;

	/*
	 * The clock starts now, whatever becomes of the worker: one that could
	 * not start, or failed, is retried by an insert 10 s from now.
	 */
	entry->freeze_requested = true;
	entry->freeze_requested_at = now;
	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
	{
		/* a failed background freeze: recorded, and logged once (stats.c) */
		bool		first = memkv_stats_worker_failed(MyDatabaseId,
													  RelationGetRelid(index),
													  entry->instance_id,
													  "could not start a memkv freeze worker");

		ereport(first ? LOG : DEBUG1,
				(errmsg("could not start a memkv freeze worker for index \"%s\"",
						RelationGetRelationName(index)),
				 errhint("Consider increasing max_worker_processes.  Further failures to start one are not logged; memkv_state() shows the last error.")));
	}
}

/*
 * Mark the end of the worker's request on its index's registry entry,
 * found by RelFileNode (the index may have moved to another slot since
 * the request, or lost its slot).  After a successful freeze the request
 * is cleared, so the next insert past the threshold starts a worker at
 * once; after a failure it stays, with the clock restarted, so that it is
 * retried only MEMKV_FREEZE_RETRY_SECS later, not by the very next insert.
 * Called with no entry lock held (after the worker's transaction ended).
 */
static void
memkv_worker_end_request(const RelFileNode *node, bool success)
{
	int			i;

	for (i = 0; i < memkv_shared->max_entries; i++)
	{
		MemkvEntry *e = &memkv_shared->entries[i];
		LWLock	   *lock = memkv_entry_lock(e);

		/* an unlocked peek, confirmed under the entry lock */
		if (!e->in_use || e->backend != InvalidBackendId ||
			!RelFileNodeEquals(e->node, *node))
			continue;
		LWLockAcquire(lock, LW_EXCLUSIVE);
		if (e->in_use && e->backend == InvalidBackendId &&
			RelFileNodeEquals(e->node, *node))
		{
			if (success)
				e->freeze_requested = false;
			else
			{
				e->freeze_requested = true;
				e->freeze_requested_at = GetCurrentTimestamp();
			}
		}
		LWLockRelease(lock);
		break;
	}
}

/*
 * The worker's job, inside its transaction: open the index named by
 * `indexoid` (if it still is a memkv index) and freeze it, again (up to
 * ten rounds) while writes made during a freeze leave the delta past the
 * threshold (or the delta still does not fit in shared memory).
 */
static void
memkv_worker_freeze(Oid indexoid)
{
	Relation	index;

	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "memkv freeze");

	index = try_relation_open(indexoid, RowExclusiveLock);
	if (index != NULL && index->rd_rel->relkind == RELKIND_INDEX &&
		index->rd_indam && index->rd_indam->ambuild == memkv_build &&
		!RelationUsesLocalBuffers(index))
	{
		int			round;

		worker_index_name = MemoryContextStrdup(TopMemoryContext,
												memkv_index_log_name(index));
		/* writes during a freeze may leave the delta past the threshold */
		for (round = 0; round < 10; round++)
		{
			MemkvMetaPageData meta;
			MemkvEntry *entry;
			bool		in_memory;
			uint64		delta;
			int64		threshold = memkv_threshold(index);

			memkv_read_meta(index, &meta);
			worker_instance_id = meta.instance_id;
			memkv_freeze_index(index, NULL, NULL, NULL,
							   MEMKV_TRIGGER_WORKER);
			entry = memkv_open_synced_try(index, LW_SHARED, &meta,
										  &in_memory);
			delta = entry->keys.ntids + entry->nulls.ntids;
			memkv_entry_release(entry);
			/* (a delta that does not fit again is frozen again) */
			if (in_memory &&
				(threshold <= 0 || delta < (uint64) threshold))
				break;
		}
	}
	if (index != NULL)
		relation_close(index, RowExclusiveLock);

	PopActiveSnapshot();
}

/*
 * The worker's freeze failed with the error being handled: abort, record
 * the error in the index's figures (memkv_state's last_worker_error), and
 * log it -- once: not again while later attempts fail the same way
 * (stats.c).  The ERROR itself is not emitted, so that retries do not
 * fill the log.
 */
static void
memkv_worker_failed(Oid dboid, Oid indexoid)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	if (memkv_stats_worker_failed(dboid, indexoid, worker_instance_id,
								  edata->message))
		ereport(LOG,
				(errmsg("memkv background freeze of index \"%s\" failed: %s",
						worker_index_name ? worker_index_name :
						psprintf("%u", indexoid),
						edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("The freeze is retried later; further failures for the same reason are not logged.  memkv_state() shows the last error.")));
	FreeErrorData(edata);
	RESUME_INTERRUPTS();
}

/*
 * Entry point of the "memkv freeze" background worker: connect to the
 * database, freeze the index named by main_arg, exit.  A failure is
 * reported by memkv_worker_failed, and the worker still exits normally
 * (no "exited with exit code 1" line per attempt).  Either way the
 * request mark of the index -- found by the RelFileNode it had when the
 * worker was asked for -- is cleared after a freeze, or left with its
 * retry clock restarted after a failure (memkv_worker_end_request).
 */
void
memkv_freeze_worker_main(Datum main_arg)
{
	Oid			indexoid = DatumGetObjectId(main_arg);
	MemkvWorkerArgs args;
	volatile bool ok = false;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		memkv_worker_freeze(indexoid);
		CommitTransactionCommand();
		ok = true;
	}
	PG_CATCH();
	{
		memkv_worker_failed(args.dboid, indexoid);
	}
	PG_END_TRY();
	memkv_worker_end_request(&args.node, ok);
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
