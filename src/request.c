/*-------------------------------------------------------------------------
 *
 * request.c
 *	  Asking for a background freeze: deciding when an index's delta has
 *	  grown enough, starting a "memkv freeze" worker for it, and marking
 *	  the end of that request when the worker is done (1.x worker.c's
 *	  request half; the worker itself is worker.c).
 *
 * An insert that finds the delta past the threshold (the index's
 * freeze_threshold storage parameter, else memkv.freeze_threshold), or
 * the shared arena more than three quarters full, marks the index
 * "freeze requested" and starts a dynamic background worker, "memkv
 * freeze", which connects to the index's database and runs the freeze
 * (worker.c).  The mark is cleared when the worker has frozen the index,
 * so there is at most one worker per index; a worker that could not start
 * or failed is retried by a later insert once MEMKV_FREEZE_RETRY_SECS have
 * passed since the request (or the failure).
 *
 * The marks are kept in a table of their own in shared memory, by
 * RelFileNode -- never in the registry entry, nor by slot: with more busy
 * indexes than memkv.max_indexes, eviction takes an index's entry and
 * gives it a new one many times while one worker starts, and a mark that
 * went with the entry let every new entry start one more worker (190
 * registered for 60 freezes in TAP 015's contest under load, filling
 * max_worker_processes).  The table holds 2 x memkv.max_indexes + 8
 * marks, at most MEMKV_REQUEST_MARKS_MAX, under one spinlock; when it is
 * full, the oldest mark goes, which costs at most one redundant worker.
 *
 * No worker is started during recovery (it could only start once recovery
 * ends) or for a temp index (another session's temp tables are out of a
 * worker's reach): its owning backend freezes it at the threshold
 * (insert.c).
 *
 * When the delta does not fit in shared memory even so, the caller raises
 * the "exhausted" error through memkv_report_exhausted, which first asks
 * for a forced freeze (on a primary, for a shared index).
 *
 * A freeze that leaves a merge due (merge.c) starts a "memkv merge"
 * worker (memkv_request_merge), unless the merge lock is held -- the
 * merger holding it looks at the policy again when it is done -- or a
 * merge worker asked for in the last MEMKV_FREEZE_RETRY_SECS has not
 * started yet: the index's merge mark, which the worker clears as it
 * starts, before it reads the policy.  A worker that cannot start is
 * asked for again by the first freeze after MEMKV_FREEZE_RETRY_SECS; a
 * freeze that finds the directory nearly full merges itself.
 *
 * The marks need no entry lock; callers of the freeze requests hold a
 * stripe lock of the entry anyway (an insert holds its key's stripe
 * exclusively), except memkv_worker_end_request.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "memkv.h"
#include "memkv_guc.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "stats.h"

int			memkv_freeze_threshold = 1000000;

/* Seconds before a request whose worker could not start is retried. */
#define MEMKV_FREEZE_RETRY_SECS 10

/*
 * The request marks of one index (see the header): when a freeze worker
 * was asked for that has not ended, and when a merge worker was asked for
 * that has not started; 0 for none.  An unused mark has both 0.
 */
typedef struct MemkvRequestMark
{
	RelFileNode node;
	TimestampTz freeze_at;
	TimestampTz merge_at;
} MemkvRequestMark;

typedef struct MemkvRequestMarks
{
	slock_t		lock;
	int			nmarks;
	MemkvRequestMark marks[FLEXIBLE_ARRAY_MEMBER];
} MemkvRequestMarks;

static MemkvRequestMarks *request_marks;

/* At most this many marks: each request scans them under the spinlock. */
#define MEMKV_REQUEST_MARKS_MAX 128

static int
memkv_request_nmarks(void)
{
	return Min(2 * memkv_max_indexes + 8, MEMKV_REQUEST_MARKS_MAX);
}

static Size
memkv_request_marks_size(void)
{
	return add_size(offsetof(MemkvRequestMarks, marks),
					mul_size(sizeof(MemkvRequestMark),
							 memkv_request_nmarks()));
}

/* Called from shmem_request_hook: reserve the mark table. */
void
memkv_request_shmem_request(void)
{
	RequestAddinShmemSpace(memkv_request_marks_size());
}

/* Called from shmem_startup_hook: create or attach the mark table. */
void
memkv_request_shmem_startup(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	request_marks = ShmemInitStruct("memkv request marks",
									memkv_request_marks_size(), &found);
	if (!found)
	{
		memset(request_marks, 0, memkv_request_marks_size());
		request_marks->nmarks = memkv_request_nmarks();
		SpinLockInit(&request_marks->lock);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * The mark of `node`; if it has none, NULL, or with `make` an unused one
 * or else the one whose latest request is oldest, emptied and given to
 * `node`.  Caller holds the table's spinlock.
 */
static MemkvRequestMark *
memkv_request_mark_of(const RelFileNode *node, bool make)
{
	MemkvRequestMark *victim = NULL;
	int			i;

	for (i = 0; i < request_marks->nmarks; i++)
	{
		MemkvRequestMark *m = &request_marks->marks[i];
		TimestampTz last = Max(m->freeze_at, m->merge_at);

		if (last != 0 && RelFileNodeEquals(m->node, *node))
			return m;
		if (victim == NULL || last < Max(victim->freeze_at, victim->merge_at))
			victim = m;
	}
	if (!make)
		return NULL;
	victim->node = *node;
	victim->freeze_at = 0;
	victim->merge_at = 0;
	return victim;
}

/*
 * Mark a worker of `node` (a merge worker if `merge`, else a freeze
 * worker) as asked for now, unless one was asked for in the last
 * MEMKV_FREEZE_RETRY_SECS and not yet ended (freeze) or started (merge):
 * returns false then, and the caller starts none.  No lock needed.
 */
static bool
memkv_request_mark(const RelFileNode *node, bool merge)
{
	TimestampTz now = GetCurrentTimestamp();
	MemkvRequestMark *m;
	TimestampTz *at;
	bool		mark = true;

	SpinLockAcquire(&request_marks->lock);
	m = memkv_request_mark_of(node, true);
	at = merge ? &m->merge_at : &m->freeze_at;
	if (*at != 0 &&
		!TimestampDifferenceExceeds(*at, now, MEMKV_FREEZE_RETRY_SECS * 1000))
		mark = false;
	else
		*at = now;
	SpinLockRelease(&request_marks->lock);
	return mark;
}

/*
 * Set the mark of `node` (merge or freeze) to `at`: 0 clears it, a time
 * holds off the next request until MEMKV_FREEZE_RETRY_SECS after it.  No
 * lock needed.
 */
static void
memkv_request_mark_set(const RelFileNode *node, bool merge, TimestampTz at)
{
	MemkvRequestMark *m;

	SpinLockAcquire(&request_marks->lock);
	m = memkv_request_mark_of(node, at != 0);
	if (m && merge)
		m->merge_at = at;
	else if (m)
		m->freeze_at = at;
	SpinLockRelease(&request_marks->lock);
}

/* The delta size at which this index should be frozen. */
int64
memkv_threshold(Relation index)
{
	MemkvOptions *opts = (MemkvOptions *) index->rd_options;

	if (opts && opts->freeze_threshold >= 0)
		return opts->freeze_threshold;
	return memkv_freeze_threshold;
}

/*
 * Has the delta of `index` outgrown its threshold, or does it hold enough
 * of a shared memory that is getting scarce, to be worth a freeze?  The
 * test of memkv_maybe_request_freeze; a background freeze repeats it once
 * it holds the freeze lock (merge.c: by then someone else may have frozen
 * the delta), and the freeze worker after each round (worker.c: writes
 * made during the round may want another).  Caller holds a stripe lock of
 * the entry (every one, for an exact count).
 */
bool
memkv_freeze_wanted(Relation index, MemkvEntry *entry)
{
	uint64		delta;
	uint64		bytes;
	int64		threshold = memkv_threshold(index);

	memkv_entry_delta_size(entry, &delta, &bytes);
	return (threshold > 0 && delta >= (uint64) threshold) ||
		(memkv_arena_bytes_used() > memkv_shared->arena_size / 4 * 3 &&
		 bytes > memkv_shared->arena_size / 64);
}

/*
 * Called by an insert holding its stripe's lock exclusively: request a
 * background freeze if the delta has outgrown its threshold or shared
 * memory is getting scarce.  For a temp index, which no worker can read,
 * returns true instead: the inserting backend, its owner, should freeze it
 * itself once it has released the lock.
 */
bool
memkv_maybe_request_freeze(Relation index, MemkvEntry *entry)
{
	if (entry->freezing || memkv_threshold(index) == 0)
		return false;
	if (memkv_freeze_wanted(index, entry))
	{
		if (RelationUsesLocalBuffers(index))
			return true;
		memkv_request_freeze(index, entry, false);
	}
	return false;
}

/*
 * Register a dynamic background worker "memkv <op>" (op "freeze" or
 * "merge": its entry point is memkv_<op>_worker_main, worker.c) for
 * `index`, named by its RelFileNode and database; a merge worker with
 * `key_blocks` builds the largest run's key blocks instead of merging.
 * Returns false if no worker slot was free.  Needs no lock.
 */
static bool
memkv_start_worker(Relation index, const char *op, bool key_blocks)
{
	BackgroundWorker worker;
	MemkvWorkerArgs args;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "memkv");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "memkv_%s_worker_main", op);
	snprintf(worker.bgw_name, BGW_MAXLEN, "memkv %s of index %u",
			 key_blocks ? "key blocks" : op, RelationGetRelid(index));
	snprintf(worker.bgw_type, BGW_MAXLEN, "memkv %s", op);
	worker.bgw_main_arg = ObjectIdGetDatum(RelationGetRelid(index));
	StaticAssertStmt(sizeof(MemkvWorkerArgs) <= BGW_EXTRALEN,
					 "memkv worker arguments must fit in bgw_extra");
	memset(&args, 0, sizeof(args));
	args.dboid = MyDatabaseId;
	args.node = MEMKV_REL_FILE(index);
	args.key_blocks = key_blocks;
	memcpy(worker.bgw_extra, &args, sizeof(args));
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, NULL);
}

/*
 * Start a "memkv freeze" worker for the index unless one was asked for in
 * the last MEMKV_FREEZE_RETRY_SECS seconds.  With `force`, even if automatic
 * freezing is off: the delta no longer fits in shared memory.  Caller
 * holds a stripe lock of the entry.
 *
 * Never during recovery: a worker can only start once recovery ends, so on
 * a standby it would hold a worker slot for nothing (the primary freezes,
 * and replay brings the standby the result).  Never for a temp index: a
 * worker cannot read another session's temp tables (its owner freezes it).
 */
void
memkv_request_freeze(Relation index, MemkvEntry *entry, bool force)
{
	RelFileNode node = MEMKV_REL_FILE(index);

	if (entry->freezing || (!force && memkv_threshold(index) == 0))
		return;
	if (RecoveryInProgress() || RelationUsesLocalBuffers(index))
		return;

	/*
	 * The clock starts now, whatever becomes of the worker: one that could
	 * not start, or failed, is retried by an insert 10 s from now.
	 */
	if (!memkv_request_mark(&node, false))
		return;

	if (!memkv_start_worker(index, "freeze", false))
	{
		/* a failed background freeze: recorded, and logged once (stats.c) */
		bool		first = memkv_stats_worker_failed(MyDatabaseId,
													  RelationGetRelid(index),
													  entry->stripes[0].instance_id, false,
													  "could not start a memkv freeze worker");

		ereport(first ? LOG : DEBUG1,
				(errmsg("could not start a memkv freeze worker for index \"%s\"",
						RelationGetRelationName(index)),
				 errhint("Consider increasing max_worker_processes.  Further failures to start one are not logged; memkv_state() shows the last error.")));
	}
}

/*
 * Does someone hold the merge lock: a merge (or VACUUM) in progress?  A
 * conditional share lock, given back at once.  No lock needed on entry.
 */
bool
memkv_merge_lock_held(Relation index)
{
	if (!ConditionalLockPage(index, MEMKV_MERGE_LOCK_PAGE, ShareLock))
		return true;
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ShareLock);
	return false;
}

/*
 * Start a "memkv merge" worker for the index, which runs the merges the
 * policy has due (worker.c), unless a merge is in progress -- its merger
 * looks at the policy again when it is done -- or one asked for has not
 * started yet (the merge mark).  Never during recovery or for a temp
 * index (see memkv_request_freeze).  A failure to start is recorded and
 * logged as a freeze worker's is; the first freeze after
 * MEMKV_FREEZE_RETRY_SECS asks again.  Holds no lock.
 */
void
memkv_request_merge(Relation index)
{
	RelFileNode node = MEMKV_REL_FILE(index);

	if (RecoveryInProgress() || RelationUsesLocalBuffers(index))
		return;
	if (memkv_merge_lock_held(index))
		return;
	if (!memkv_request_mark(&node, true))
		return;

	if (!memkv_start_worker(index, "merge", false))
	{
		MemkvMetaPageData meta;
		bool		first;

		memkv_read_meta(index, &meta);
		first = memkv_stats_worker_failed(MyDatabaseId,
										  RelationGetRelid(index),
										  meta.instance_id, true,
										  "could not start a memkv merge worker");
		ereport(first ? LOG : DEBUG1,
				(errmsg("could not start a memkv merge worker for index \"%s\"",
						RelationGetRelationName(index)),
				 errhint("Consider increasing max_worker_processes.  The next freeze asks again, and merges itself when the index has too many runs.")));
	}
}

/*
 * Start a "memkv merge" worker that builds the key blocks of the index's
 * largest run, and nothing else, for a range scan that found them missing
 * (runcopy.c): about half a second per million keys that no client query
 * should wait for.  Returns false where no worker can do it -- during
 * recovery, for a temp index, or if no worker could be registered (not
 * a worker failure: the asking scan then builds them itself).  Holds no
 * lock.
 */
bool
memkv_request_key_blocks(Relation index)
{
	if (RecoveryInProgress() || RelationUsesLocalBuffers(index))
		return false;
	return memkv_start_worker(index, "merge", true);
}

/*
 * Mark the end of the freeze worker's request on its index's mark, found
 * by RelFileNode.  After a successful freeze the request
 * is cleared, so the next insert past the threshold starts a worker at
 * once; after a failure it stays, with the clock restarted, so that it is
 * retried only MEMKV_FREEZE_RETRY_SECS later, not by the very next insert.
 * No lock needed (called after the worker's transaction ended).
 */
void
memkv_worker_end_request(const RelFileNode *node, bool success)
{
	memkv_request_mark_set(node, false, success ? 0 : GetCurrentTimestamp());
}

/*
 * Called by a merge worker as it starts, before it reads the policy: the
 * merge worker asked for has started, so the next freeze that leaves a
 * merge due may ask for another.  No lock needed.
 */
void
memkv_merge_worker_started(const RelFileNode *node)
{
	memkv_request_mark_set(node, true, 0);
}

/*
 * Raise the error for a delta that does not fit in shared memory.  On a
 * primary, first ask for a background freeze of the index (which empties
 * its delta); a temp index is frozen by its own backend instead (insert.c),
 * and a standby can only wait for the primary to freeze (its scans do not
 * come here: they read the log instead).
 */
void
memkv_report_exhausted(Relation index, MemkvEntry *entry)
{
	const char *hint;
	uint64		ntids;
	uint64		bytes;

	memkv_entry_delta_size(entry, &ntids, &bytes);
	if (RecoveryInProgress())
		hint = "The index's delta is frozen only when the primary freezes it.  Increase memkv.shared_memory on this server, or freeze the index on the primary with memkv_freeze().";
	else if (RelationUsesLocalBuffers(index))
		hint = "Freeze the index with memkv_freeze(), or lower its freeze_threshold.  If this recurs, increase memkv.shared_memory.";
	else
	{
		memkv_request_freeze(index, entry, true);
		hint = "A background freeze of the index has been requested, which moves its delta out of shared memory; retry shortly.  If this recurs, increase memkv.shared_memory or lower freeze_threshold.";
	}
	ereport(ERROR,
			(errcode(ERRCODE_OUT_OF_MEMORY),
			 errmsg("memkv shared memory is exhausted"),
			 errdetail("%zu of %zu bytes are in use; the delta trees of index \"%s\" hold %llu bytes.",
					   memkv_arena_bytes_used(), memkv_shared->arena_size,
					   RelationGetRelationName(index),
					   (unsigned long long) bytes),
			 errhint("%s", hint)));
}
