/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  When and what to rewrite: a freeze writes the delta as a new run and
 *	  asks for a "memkv merge" worker if the policy (policy.c) has a merge
 *	  due; the worker (worker.c) runs the due merges under the merge lock;
 *	  VACUUM freezes the delta here.  Also the SQL functions
 *	  memkv_freeze() and memkv_merge().  The rewrites themselves are
 *	  freeze.c's.
 *
 * The merge lock is the heavyweight lock on page tag 1 of the index (a
 * lock tag, not block 1's contents; MEMKV_MERGE_LOCK_PAGE).  A merge
 * holds it exclusively from its pick to its retire; VACUUM holds it too,
 * around its pass over the runs' postings (vacuum.c) and around
 * amvacuumcleanup's sweep, so that no merge's unlisted pages are swept
 * and no run VACUUM reads is replaced.  Whoever holds both takes the merge lock first.  A merge
 * switches while freezes go on, and a freeze may switch during a merge:
 * each switch re-reads the directory and changes only its own runs (a
 * freeze's goes first, a merge's output where its inputs are now).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/rel.h"

#include "caller.h"
#include "freeze.h"
#include "memkv.h"
#include "merge.h"
#include "page.h"
#include "policy.h"
#include "registry.h"
#include "request.h"
#include "stripe.h"
#include "wal.h"

PG_FUNCTION_INFO_V1(memkv_freeze);
PG_FUNCTION_INFO_V1(memkv_merge);

/* The merge policy's T and K (src/README, "Merge policy"). */
#define MEMKV_MERGE_FACTOR	6
#define MEMKV_RUN_BUDGET	10

/* Runs' pages from which the space rule applies (8 MB). */
#define MEMKV_SPACE_RULE_PAGES	1024

/*
 * Runs at which a freeze merges in the foreground before writing its own
 * run: the worker could not keep up (or not start), and the directory
 * holds RUNDIR_MAX_RUNS.  Two slots are left for the freezes that come
 * while a merge runs.
 */
#define MEMKV_FOREGROUND_MERGE_RUNS	(RUNDIR_MAX_RUNS - 2)

/* Rounds of merges a merger runs before it leaves the rest to the next. */
#define MEMKV_MERGE_ROUNDS	RUNDIR_MAX_RUNS

/*
 * Reserve a run id for a merge: a switch that only bumps the generation,
 * the old generation being the id.  Run ids must be unique and below the
 * generation; a freeze takes the generation it sets aside at as its id,
 * under the freeze lock, so this takes the freeze lock too, for the
 * moment of the switch (a merge waits for a freeze in progress here, never
 * the other way round).  Caller holds the merge lock.
 */
uint64
memkv_reserve_run_id(Relation index)
{
	MemkvEntry *entry;
	Buffer		metabuf;
	MemkvDirectory dir;
	MemkvMetaPageData newmeta;
	const char *msg;
	uint64		id;
	int			s;

	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	memkv_read_directory(index, metabuf, &dir);
	id = dir.generation;
	dir.generation++;
	if (rundir_validate(&dir, RUNDIR_INVALID_BLOCK, &msg) != RUNDIR_OK)
		elog(ERROR, "memkv: new directory of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), msg);
	memkv_wal_switch(index, metabuf, &dir);
	UnlockReleaseBuffer(metabuf);
	memkv_meta_from_directory(&dir, &newmeta);
	/* the trees still mirror the logs, which did not change */
	for (s = 0; s < entry->nstripes; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		if (st->valid && st->instance_id == newmeta.instance_id &&
			st->epoch == (uint32) id)
			st->epoch = newmeta.epoch;
	}
	memkv_entry_release(entry);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	return id;
}

/*
 * The merge the policy (policy.c, src/README "Merge policy") has due
 * among meta's runs: sets *first and *count and returns true, or false if
 * none is.  The batch unit B is the index's freeze threshold (100,000 if
 * automatic freezing is off), T = 6, K = 10, the space rule at 130% once
 * the runs take 8 MB.
 */
static bool
memkv_merge_due(Relation index, const MemkvMetaPageData *meta, int *first,
				int *count)
{
	PolicyRun	runs[RUNDIR_MAX_RUNS];
	PolicyParams params;
	PolicyPick	pick;
	int64		threshold = memkv_threshold(index);
	MemkvRunTotals totals;
	int			i;

	for (i = 0; i < meta->nruns; i++)
	{
		runs[i].ntids = meta->runs[i].run_ntids;
		runs[i].nkeys = meta->runs[i].run_nkeys;
		runs[i].nbytes = (uint64) meta->runs[i].run_npages * BLCKSZ;
		runs[i].flags = 0;
	}
	params.batch = threshold > 0 ? (uint64) threshold : 100000;
	params.merge_factor = MEMKV_MERGE_FACTOR;
	params.run_budget = MEMKV_RUN_BUDGET;
	/*
	 * The space rule only where space matters: below 8 MB of runs, a run
	 * of a few hundred keys costs two pages (header and data) and would
	 * make every small index merge at every freeze.
	 */
	memkv_meta_run_totals(meta, &totals);
	params.size_amp_percent = totals.npages >= MEMKV_SPACE_RULE_PAGES ? 130 : 0;
	if (policy_pick(runs, (uint32) meta->nruns, &params, &pick) == POLICY_NONE ||
		pick.count < 2)
		return false;
	*first = (int) pick.first;
	*count = (int) pick.count;
	return true;
}

/* The worker's pick: the policy's, with a run id reserved if one is due. */
static bool
memkv_merge_pick_due(Relation index, const MemkvMetaPageData *meta,
					 int *first, int *count, uint64 *run_id)
{
	if (!memkv_merge_due(index, meta, first, count))
		return false;
	*run_id = memkv_reserve_run_id(index);
	return true;
}

/* Is a merge due in the directory as it is now? */
static bool
memkv_merge_is_due(Relation index)
{
	MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));
	int			first,
				count;
	bool		due;

	memkv_read_meta(index, meta);
	due = memkv_merge_due(index, meta, &first, &count);
	pfree(meta);
	return due;
}

/*
 * Run the merges the policy has due, one after the other, each a whole
 * rewrite of adjacent runs into one (freeze.c), under the merge lock:
 * waiting for it if `wait`, else giving up at once if someone holds it
 * (-1).  Returns the number of merges run.  After releasing the lock it
 * looks once more, since a freeze that switched meanwhile may have found
 * the lock held and left its merge to us (memkv_request_merge).
 */
int
memkv_merge_runs(Relation index, MemkvFreezeTrigger trigger, bool wait)
{
	int			merged = 0;
	int			round;

	for (round = 0; round < 2; round++)
	{
		int			n;

		if (wait)
			LockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
		else if (!ConditionalLockPage(index, MEMKV_MERGE_LOCK_PAGE,
									  ExclusiveLock))
			return round == 0 ? -1 : merged;
		/* each merge removes at least one run, so this ends */
		for (n = 0; n < MEMKV_MERGE_ROUNDS; n++)
		{
			if (!memkv_rewrite(index, false, 0, 0, memkv_merge_pick_due, NULL,
							   NULL, NULL, trigger))
				break;
			merged++;
		}
		UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
		if (n == MEMKV_MERGE_ROUNDS || !memkv_merge_is_due(index))
			break;
	}
	return merged;
}

/*
 * A background freeze was asked for when the delta passed its threshold
 * (request.c), but by the time the worker holds the freeze lock someone
 * else -- memkv_freeze(), VACUUM, an earlier worker still busy when this
 * one was asked for -- may have frozen it, and it would write a run of the
 * few entries added since.  Is a freeze still wanted?  Always when the
 * delta no longer fits in shared memory.  Caller holds the freeze lock, so
 * no other freeze can come between this and the seal.
 */
static bool
memkv_freeze_still_due(Relation index)
{
	MemkvMetaPageData meta;
	MemkvEntry *entry;
	bool		in_memory;
	bool		due;

	entry = memkv_open_synced_try(index, LW_SHARED, &meta, &in_memory);
	due = !in_memory || memkv_freeze_wanted(index, entry);
	memkv_entry_release(entry);
	if (!due)
		elog(DEBUG1, "memkv: background freeze of \"%s\" skipped: its delta was frozen meanwhile",
			 RelationGetRelationName(index));
	return due;
}

/*
 * Freeze `index`: write its delta as a new run, first in the directory
 * (src/README, "Freezing"), then ask for a merge worker if the policy has
 * a merge due.  A temp index, which no worker can read, is merged here
 * instead; so is any index whose directory is nearly full (the worker
 * could not start or keep up), before the freeze adds its run.  With
 * `dead` (VACUUM) the TIDs it reports are left out of the new run and
 * *stats is filled in; the runs' dead TIDs are vacuum.c's (dead lists).
 */
void
memkv_freeze_index(Relation index, IndexBulkDeleteCallback dead,
				   void *dead_state, IndexBulkDeleteResult *stats,
				   MemkvFreezeTrigger trigger)
{
	MemkvMetaPageData *meta;

	meta = palloc(sizeof(MemkvMetaPageData));
	memkv_read_meta(index, meta);
	if (meta->nruns >= MEMKV_FOREGROUND_MERGE_RUNS)
		(void) memkv_merge_runs(index, trigger, true);
	pfree(meta);

	/*
	 * A background freeze re-checks, under the freeze lock (which
	 * memkv_rewrite takes again: a heavyweight lock counts its holds),
	 * that the delta is still worth one.
	 */
	if (trigger == MEMKV_TRIGGER_WORKER)
	{
		LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
		if (!memkv_freeze_still_due(index))
		{
			UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
			return;
		}
	}
	memkv_rewrite(index, true, 0, 0, NULL, dead, dead_state, stats, trigger);
	if (trigger == MEMKV_TRIGGER_WORKER)
		UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);

	/* VACUUM asks for merges once it has written the runs' dead lists */
	if (dead == NULL)
		memkv_merge_if_due(index, trigger);
}

/*
 * If the policy has a merge due, start a merge worker for it (a temp
 * index, which no worker can read, is merged here).  Caller holds neither
 * the merge lock nor the freeze lock.
 */
void
memkv_merge_if_due(Relation index, MemkvFreezeTrigger trigger)
{
	if (!memkv_merge_is_due(index))
		return;
	if (RelationUsesLocalBuffers(index))
		(void) memkv_merge_runs(index, trigger, true);
	else
		memkv_request_merge(index);
}

/*
 * memkv_freeze(index regclass) returns void: freeze the index now.  Only
 * the table's owner (or a superuser) may, and not in a read-only
 * transaction or during recovery; the checks come before any lock.
 */
Datum
memkv_freeze(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index;

	PreventCommandDuringRecovery("memkv_freeze()");
	PreventCommandIfReadOnly("memkv_freeze()");
	index = memkv_open_for_caller(relid, RowExclusiveLock, MEMKV_CALLER_OWNER);
	memkv_freeze_index(index, NULL, NULL, NULL, MEMKV_TRIGGER_SQL);
	memkv_close_for_caller(index, RowExclusiveLock);
	PG_RETURN_VOID();
}

/* How many runs memkv_merge_pick_all picked last. */
static int	merge_all_picked = 0;

/* memkv_merge's pick: every run, if there are two or more. */
static bool
memkv_merge_pick_all(Relation index, const MemkvMetaPageData *meta,
					 int *first, int *count, uint64 *run_id)
{
	merge_all_picked = 0;
	if (meta->nruns < 2)
		return false;
	*first = 0;
	*count = meta->nruns;
	*run_id = memkv_reserve_run_id(index);
	merge_all_picked = meta->nruns;
	return true;
}

/*
 * memkv_merge(index regclass) returns integer: merge all the index's runs
 * into one now, in this backend, and return how many runs were merged (0
 * if there were fewer than two).  The delta is left alone (memkv_freeze
 * writes it).  Waits for a merge in progress (the merge lock); freezes go
 * on meanwhile, and runs they add after the pick stay as they are.  Same
 * checks as memkv_freeze.
 */
Datum
memkv_merge(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index;
	int			merged = 0;

	PreventCommandDuringRecovery("memkv_merge()");
	PreventCommandIfReadOnly("memkv_merge()");
	index = memkv_open_for_caller(relid, RowExclusiveLock, MEMKV_CALLER_OWNER);
	LockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	if (memkv_rewrite(index, false, 0, 0, memkv_merge_pick_all, NULL, NULL,
					  NULL, MEMKV_TRIGGER_SQL))
		merged = merge_all_picked;
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	memkv_close_for_caller(index, RowExclusiveLock);
	PG_RETURN_INT32(merged);
}
