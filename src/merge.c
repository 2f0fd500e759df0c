/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  When and what to rewrite: a freeze writes the delta as a new run and
 *	  then runs the merges the policy (policy.c) has due; VACUUM rewrites
 *	  every run with the delta.  Also the SQL function memkv_freeze().  The
 *	  rewrites themselves are freeze.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/rel.h"

#include "caller.h"
#include "freeze.h"
#include "memkv.h"
#include "merge.h"
#include "page.h"
#include "policy.h"
#include "request.h"

PG_FUNCTION_INFO_V1(memkv_freeze);

/* The merge policy's T and K (src/README, "Merge policy"). */
#define MEMKV_MERGE_FACTOR	6
#define MEMKV_RUN_BUDGET	10

/* Runs' pages from which the space rule applies (8 MB). */
#define MEMKV_SPACE_RULE_PAGES	1024

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

/*
 * Freeze `index`: write its delta as a new run, first in the directory
 * (src/README, "Freezing"), then run the merges the policy has due, each
 * a rewrite of adjacent runs into one.  With `dead` (VACUUM) every run is
 * rewritten together with the delta instead, leaving out the TIDs `dead`
 * reports, and *stats is filled in: dead TIDs may be in any run, and
 * memkv 2's dead lists are not built yet.
 */
void
memkv_freeze_index(Relation index, IndexBulkDeleteCallback dead,
				   void *dead_state, IndexBulkDeleteResult *stats,
				   MemkvFreezeTrigger trigger)
{
	int			n;

	if (dead != NULL)
	{
		memkv_rewrite(index, true, 0, -1, NULL, dead, dead_state, stats,
					  trigger);
		return;
	}
	memkv_rewrite(index, true, 0, 0, NULL, NULL, NULL, stats, trigger);
	/* each merge removes at least one run, so this ends */
	for (n = 0; n < RUNDIR_MAX_RUNS; n++)
	{
		if (!memkv_rewrite(index, false, 0, 0, memkv_merge_due, NULL, NULL,
						   NULL, trigger))
			break;
	}
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
