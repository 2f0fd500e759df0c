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
 * the worker is done, so there is at most one worker per index; a worker that could not start is retried by a later
 * insert once memkv.freeze_retry has passed.  A worker whose freeze fails
 * records the error for memkv_state and logs it, once per run of failures
 * for the same reason (memkv_worker_failed, stats.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
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

#include "memkv.h"

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
 * memory is getting scarce.
 */
void
memkv_maybe_request_freeze(Relation index, MemkvEntry *entry)
{
	uint64		delta = entry->keys.ntids + entry->nulls.ntids;
	int64		threshold = memkv_threshold(index);

	if (entry->freezing || threshold == 0)
		return;
	if ((threshold > 0 && delta >= (uint64) threshold) ||
		(memkv_arena_bytes_used() > memkv_shared->arena_size / 4 * 3 &&
		 entry->keys.bytes > memkv_shared->arena_size / 64))
		memkv_request_freeze(index, entry, false);
}

/*
 * Start a "memkv freeze" worker for the index unless one was asked for in
 * the last MEMKV_FREEZE_RETRY_SECS seconds.  With `force`, even if automatic
 * freezing is off: the delta no longer fits in shared memory.  Caller
 * holds the entry lock exclusively.
 */
void
memkv_request_freeze(Relation index, MemkvEntry *entry, bool force)
{
	BackgroundWorker worker;
	TimestampTz now;

	if (entry->freezing || (!force && memkv_threshold(index) == 0))
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
	memcpy(worker.bgw_extra, &MyDatabaseId, sizeof(Oid));
	worker.bgw_notify_pid = 0;

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
 * Clear the request mark of the worker's index, whatever happened (the
 * entry lock may still be held if an error struck while it was).
 */
static void
memkv_worker_clear_request(int code, Datum arg)
{
	MemkvEntry *entry = (MemkvEntry *) DatumGetPointer(arg);
	LWLock	   *lock = memkv_entry_lock(entry);
	bool		held = LWLockHeldByMe(lock);

	if (!held)
		LWLockAcquire(lock, LW_EXCLUSIVE);
	entry->freeze_requested = false;
	if (!held)
		LWLockRelease(lock);
}

/*
 * The worker's job, inside its transaction: open the index named by
 * `indexoid` (if it still is a memkv index) and freeze it, again (up to
 * ten rounds) while writes made during a freeze leave the delta past the
 * threshold.  Clears the index's request mark whatever happens.
 */
static void
memkv_worker_freeze(Oid indexoid)
{
	Relation	index;

	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "memkv freeze");

	index = try_relation_open(indexoid, RowExclusiveLock);
	if (index != NULL && index->rd_rel->relkind == RELKIND_INDEX &&
		index->rd_indam && index->rd_indam->ambuild == memkv_build)
	{
		MemkvEntry *entry = memkv_entry_acquire(index, LW_SHARED);

		memkv_entry_release(entry);
		worker_index_name = MemoryContextStrdup(TopMemoryContext,
												memkv_index_log_name(index));
		PG_ENSURE_ERROR_CLEANUP(memkv_worker_clear_request,
								PointerGetDatum(entry));
		{
			int			round;

			/* writes during a freeze may leave the delta past the threshold */
			for (round = 0; round < 10; round++)
			{
				MemkvMetaPageData meta;
				uint64		delta;
				int64		threshold = memkv_threshold(index);

				memkv_read_meta(index, &meta);
				worker_instance_id = meta.instance_id;
				memkv_freeze_index(index, NULL, NULL, NULL,
								   MEMKV_TRIGGER_WORKER);
				entry = memkv_open_synced(index, LW_SHARED, &meta);
				delta = entry->keys.ntids + entry->nulls.ntids;
				memkv_entry_release(entry);
				if (threshold <= 0 || delta < (uint64) threshold)
					break;
			}
		}
		PG_END_ENSURE_ERROR_CLEANUP(memkv_worker_clear_request,
									PointerGetDatum(entry));
		memkv_worker_clear_request(0, PointerGetDatum(entry));
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
 * (no "exited with exit code 1" line per attempt).
 */
void
memkv_freeze_worker_main(Datum main_arg)
{
	Oid			indexoid = DatumGetObjectId(main_arg);
	Oid			dboid;

	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		memkv_worker_freeze(indexoid);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		memkv_worker_failed(dboid, indexoid);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
