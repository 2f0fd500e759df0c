/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The "memkv freeze" and "memkv merge" background workers: their entry
 *	  points, the freeze or merges they run (or the key blocks a range
 *	  scan asked a merge worker for), and the logging of their failures.
 *	  Asking for a worker is request.c's.
 *
 * Merges have a worker of their own rather than being a job of the
 * freeze worker: a merge may take much longer than a freeze, and a freeze
 * must not wait behind one (the freeze worker is asked for by inserts
 * while a merge runs); the two are serialized by different locks, so two
 * kinds of worker run side by side without a queue between them.
 *
 * The worker connects to the index's database and freezes the index,
 * again (up to ten times) while writes made during its freeze leave a
 * delta that an insert would ask a freeze for (memkv_freeze_wanted: past
 * the threshold, or a large share of a nearly full arena).  It finds its index's registry entry by
 * RelFileNode, never by slot: the entry may move to another slot.  A
 * worker whose freeze fails records the error for memkv_state and logs
 * it, once per run of failures for the same reason (memkv_worker_failed,
 * stats.c).  Either way it ends its request (memkv_worker_end_request,
 * request.c), so that a later insert can ask again.
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

#include "freeze.h"
#include "memkv.h"
#include "merge.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runcopy.h"
#include "stats.h"
#include "stripe.h"
#include "worker.h"

/*
 * The worker's index as named in log lines, and its build (instance_id),
 * once known: for the report of a failure (memkv_worker_failed).
 */
static char *worker_index_name = NULL;
static uint64 worker_instance_id = 0;

/* "freeze" or "merge": what this worker does, for its log lines */
static const char *worker_op = "freeze";

/*
 * Is this relation a memkv index a worker can work on?
 */
static bool
memkv_worker_index_ok(Relation index)
{
	return index != NULL && index->rd_rel->relkind == RELKIND_INDEX &&
		index->rd_indam && index->rd_indam->ambuild == memkv_build &&
		!RelationUsesLocalBuffers(index);
}

/*
 * The worker's job, inside its transaction: open the index named by
 * `indexoid` (if it still is a memkv index) and freeze it, again (up to
 * ten rounds) while writes made during a freeze leave a delta worth
 * another (memkv_freeze_wanted), or one that still does not fit in shared
 * memory.
 */
static void
memkv_worker_freeze(Oid indexoid)
{
	Relation	index;

	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "memkv freeze");

	index = try_relation_open(indexoid, RowExclusiveLock);
	if (memkv_worker_index_ok(index))
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
			bool		again;

			memkv_read_meta(index, &meta);
			worker_instance_id = meta.instance_id;
			memkv_freeze_index(index, NULL, NULL, NULL,
							   MEMKV_TRIGGER_WORKER);

			/*
			 * Another round on the insert's own test (request.c), which
			 * the next round's freeze repeats under the freeze lock: a
			 * delta past its threshold, or holding enough of a nearly full
			 * arena.  A delta that does not fit is frozen again.
			 */
			entry = memkv_open_synced_try(index, LW_SHARED, &meta,
										  &in_memory);
			again = !in_memory || memkv_freeze_wanted(index, entry);
			memkv_entry_release(entry);
			if (!again)
				break;
		}
		memkv_stats_worker_done(MyDatabaseId, RelationGetRelid(index),
								worker_instance_id, false);
	}
	if (index != NULL)
		relation_close(index, RowExclusiveLock);

	PopActiveSnapshot();
}

/*
 * Build the key blocks of the index's largest run, as a range scan asked
 * (runcopy.c): the run's shared copy first if the entry has none, then
 * the blocks, installed if the run is still the largest.  Takes and
 * releases the entry's locks.
 */
static void
memkv_worker_key_blocks(Relation index)
{
	MemkvMetaPageData meta;
	MemkvEntry *entry;
	bool		in_memory;
	int			first;

	pgstat_report_activity(STATE_RUNNING, "memkv key blocks");
	entry = memkv_run_copy_open(index, MEMKV_KB_BUILD, &meta, &in_memory, -1,
								&first);
	memkv_entry_release(entry);
}

/*
 * The merge worker's job, inside its transaction: open the index named
 * by `indexoid` (if it still is a memkv index) and run the merges the
 * policy has due, under the merge lock, if no one holds it -- or, for a
 * range scan that asked (`key_blocks`), build the key blocks of the
 * largest run and merge nothing.
 */
static void
memkv_worker_merge(Oid indexoid, bool key_blocks)
{
	Relation	index;

	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "memkv merge");

	index = try_relation_open(indexoid, RowExclusiveLock);
	if (memkv_worker_index_ok(index))
	{
		MemkvMetaPageData meta;

		worker_index_name = MemoryContextStrdup(TopMemoryContext,
												memkv_index_log_name(index));
		memkv_read_meta(index, &meta);
		worker_instance_id = meta.instance_id;
		/*
		 * Not waiting for the merge lock: its holder (a merge, VACUUM,
		 * memkv_verify) is either a merger that looks at the policy again
		 * when done, or is followed by a freeze that asks again; a worker
		 * waiting would only hold a max_worker_processes slot meanwhile.
		 */
		if (key_blocks)
			memkv_worker_key_blocks(index);
		else
			(void) memkv_merge_runs(index, MEMKV_TRIGGER_WORKER, false);
		memkv_stats_worker_done(MyDatabaseId, RelationGetRelid(index),
								worker_instance_id, true);
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
								  strcmp(worker_op, "merge") == 0,
								  edata->message))
		ereport(LOG,
				(errmsg("memkv background %s of index \"%s\" failed: %s",
						worker_op, worker_index_name ? worker_index_name :
						psprintf("%u", indexoid),
						edata->message),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0,
				 errhint("The %s is retried later; further failures for the same reason are not logged.  memkv_state() shows the last error.",
						 worker_op)));
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

/*
 * Entry point of the "memkv merge" background worker: connect to the
 * database, run the merges due on the index named by main_arg, exit.  A
 * failure is recorded and logged as a freeze worker's is (once per run of
 * failures); the next freeze that leaves a merge due asks again.  As it
 * starts, it clears the merge request mark (memkv_merge_worker_started),
 * so that a freeze from then on may ask for another; a key-block worker
 * leaves it.  The freeze request mark is not touched.
 */
void
memkv_merge_worker_main(Datum main_arg)
{
	Oid			indexoid = DatumGetObjectId(main_arg);
	MemkvWorkerArgs args;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	worker_op = "merge";
	BackgroundWorkerUnblockSignals();
	if (!args.key_blocks)
		memkv_merge_worker_started(&args.node);
	BackgroundWorkerInitializeConnectionByOid(args.dboid, InvalidOid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		memkv_worker_merge(indexoid, args.key_blocks);
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		memkv_worker_failed(args.dboid, indexoid);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
