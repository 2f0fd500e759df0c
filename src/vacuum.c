/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  VACUUM support.  ambulkdelete freezes the delta with a filter that
 *	  leaves out dead TIDs (freeze.c), then records the runs' dead TIDs
 *	  in their dead lists (deadpages.c) without rewriting them, rewriting
 *	  only runs that became too dead; amvacuumcleanup returns every page
 *	  that belongs to no layer to the free space map and counts the
 *	  index's entries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "executor/instrument.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "deadpages.h"
#include "delta.h"
#include "freeze.h"
#include "guard.h"
#include "memkv.h"
#include "memutil.h"
#include "merge.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runpages.h"
#include "runread.h"
#include "stats.h"
#include "stripe.h"
#include "truncate.h"
#include "wal.h"

/*
 * Runs whose dead TIDs (old and new) exceed this fraction of their TIDs
 * are rewritten by ambulkdelete right after it publishes the dead lists
 * (src/README, "VACUUM").
 */
#define MEMKV_VACUUM_REWRITE_FRACTION 0.2

/* One run's pass over its postings (memkv_vacuum_tid). */
typedef struct MemkvVacuumRun
{
	IndexBulkDeleteCallback dead;
	void	   *dead_state;
	bool		have_old;		/* the run has a dead list: */
	DeadCursor	old;			/* its pairs are dead already */
	DeadPair   *pairs;			/* newly dead, ascending */
	uint64		npairs;
	uint64		maxpairs;
} MemkvVacuumRun;

/* What the switch changes in one run's directory entry. */
typedef struct MemkvVacuumNew
{
	uint64		run_id;
	BlockNumber dead_block;
	uint64		ndead;
	uint32		tag;
	uint32		npages;			/* pages of the new list */
	BlockNumber *old_blocks;	/* the list it replaces, for the retire */
	uint32		old_nblocks;
} MemkvVacuumNew;

/* MemkvTidFn: note a TID the callback reports dead and no list has yet. */
static void
memkv_vacuum_tid(void *arg, uint64 ordinal, const ItemPointerData *tid)
{
	MemkvVacuumRun *vr = (MemkvVacuumRun *) arg;
	DeadPair   *p;

	if (vr->have_old &&
		deadlist_cursor_is_dead(&vr->old, ordinal,
								ItemPointerGetBlockNumberNoCheck(tid),
								ItemPointerGetOffsetNumberNoCheck(tid)))
		return;
	if (!vr->dead((ItemPointer) tid, vr->dead_state))
		return;
	vr->pairs = memkv_array_reserve(CurrentMemoryContext, vr->pairs,
									&vr->maxpairs, vr->npairs + 1,
									sizeof(DeadPair), 1024);
	p = &vr->pairs[vr->npairs++];
	p->ordinal = ordinal;
	p->block = ItemPointerGetBlockNumberNoCheck(tid);
	p->offset = ItemPointerGetOffsetNumberNoCheck(tid);
}

/*
 * Read run meta->runs[i]'s postings, ask `dead` about every TID its dead
 * list does not name yet, and if any is dead write the run's new dead list
 * (old pairs and new) to new DEAD pages, filling *nw for the switch.
 * Returns how many TIDs became dead.  Caller holds the merge lock, so the
 * run and its list stay as they are.
 */
static uint64
memkv_vacuum_run(Relation index, const MemkvMetaPageData *meta, int i,
				 IndexBulkDeleteCallback dead, void *dead_state,
				 MemkvVacuumNew *nw)
{
	const MemkvRunDesc *run = &meta->runs[i];
	MemkvFrozen *fz = memkv_frozen_open(index, meta, i, NULL);
	const DeadList *old = memkv_frozen_dead_list(fz);
	MemkvVacuumRun vr;
	DeadPair   *all;
	uint64		nall;

	memset(&vr, 0, sizeof(vr));
	vr.dead = dead;
	vr.dead_state = dead_state;
	vr.have_old = old != NULL;
	if (old)
		deadlist_cursor_init(&vr.old, old);
	memkv_frozen_each_tid(fz, memkv_vacuum_tid, &vr);
	nw->run_id = run->run_id;
	nw->tag = run->run_tag;
	nw->ndead = run->entry.ndead;
	if (vr.npairs == 0)
	{
		memkv_frozen_close(fz);
		return 0;
	}
	nall = vr.npairs;
	all = vr.pairs;
	if (old)
	{
		DeadPair   *oldpairs = palloc_extended(sizeof(DeadPair) *
											   Max(old->npairs, 1),
											   MCXT_ALLOC_HUGE);

		all = palloc_extended(sizeof(DeadPair) * (old->npairs + vr.npairs),
							  MCXT_ALLOC_HUGE);
		deadlist_collect(old, oldpairs);
		nall = deadlist_merge(oldpairs, old->npairs, vr.pairs, vr.npairs, all);
		pfree(oldpairs);
	}
	memkv_frozen_close(fz);
	nw->old_blocks = memkv_dead_blocks(index, run, &nw->old_nblocks);
	nw->dead_block = memkv_dead_write(index, all, nall, run->run_tag,
									  &nw->npages);
	nw->ndead = nall;
	return vr.npairs;
}

/*
 * Publish the new dead lists nw[0..n) (those with a dead_block) in one
 * switch, bumping the generation, under the freeze lock (taken for that
 * moment: a freeze's switch may come between), the entry lock held
 * exclusively (no batch that read the old directory is still running)
 * and the metapage's buffer lock; then free the lists they replace.
 * Returns how many pages that freed.
 */
static BlockNumber
memkv_vacuum_switch(Relation index, MemkvVacuumNew *nw, int n)
{
	BlockNumber freed = 0;
	MemkvEntry *entry;
	Buffer		metabuf;
	MemkvDirectory dir;
	MemkvMetaPageData newmeta;
	const char *msg;
	uint32		oldepoch;
	int			k,
				s;

	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	memkv_read_directory(index, metabuf, &dir);
	for (k = 0; k < n; k++)
	{
		int			r = rundir_find_run(&dir, nw[k].run_id);

		if (nw[k].dead_block == InvalidBlockNumber)
			continue;
		if (r < 0)
			elog(ERROR, "memkv: a run of \"%s\" vanished during VACUUM",
				 RelationGetRelationName(index));
		dir.runs[r].dead_block = nw[k].dead_block;
		dir.runs[r].ndead = nw[k].ndead;
		dir.runs[r].dead_generation = dir.generation;
	}
	oldepoch = (uint32) dir.generation;
	dir.generation++;
	if (rundir_validate(&dir, RUNDIR_INVALID_BLOCK, &msg) != RUNDIR_OK)
		elog(ERROR, "memkv: new directory of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), msg);
	memkv_wal_switch_removing(index, metabuf, &dir, true);
	UnlockReleaseBuffer(metabuf);
	memkv_meta_from_directory(&dir, &newmeta);
	/* the trees still mirror the logs, which did not change */
	for (s = 0; s < entry->nstripes; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		if (st->valid && st->instance_id == newmeta.instance_id &&
			st->epoch == oldepoch)
			st->epoch = newmeta.epoch;
	}
	memkv_entry_release(entry);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	for (k = 0; k < n; k++)
		if (nw[k].old_nblocks > 0)
			freed += memkv_delete_run(index, nw[k].old_blocks,
									  nw[k].old_nblocks, nw[k].tag);
	return freed;
}

/* Run id memkv_vacuum_pick_one picks (memkv_rewrite's pick). */
static uint64 vacuum_rewrite_id;

/* A merge of the one run vacuum_rewrite_id, if it is still listed. */
static bool
memkv_vacuum_pick_one(Relation index, const MemkvMetaPageData *meta,
					  int *first, int *count, uint64 *run_id)
{
	int			i;

	for (i = 0; i < meta->nruns; i++)
	{
		if (meta->runs[i].run_id != vacuum_rewrite_id)
			continue;
		*first = i;
		*count = 1;
		*run_id = memkv_reserve_run_id(index);
		return true;
	}
	return false;
}

/*
 * ambulkdelete (src/README, "VACUUM"): freeze the delta leaving dead TIDs
 * out; then, under the merge lock, read every run's postings and give
 * each run with newly dead TIDs a new dead list, all published in one
 * switch; then rewrite (a merge of it alone, which drops its dead TIDs)
 * each run whose dead TIDs exceed MEMKV_VACUUM_REWRITE_FRACTION of its
 * TIDs.  A run is never rewritten just for a few dead TIDs.
 */
IndexBulkDeleteResult *
memkv_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));
	MemkvVacuumNew nw[RUNDIR_MAX_RUNS];
	IndexBulkDeleteResult fstats;
	uint64		rewrite[RUNDIR_MAX_RUNS];
	int			nrewrite = 0;
	int			i;
	bool		any = false;
	MemkvLayerOpReport report;
	WalUsage	wal_start;
	instr_time	t_start,
				t_end;

	memkv_check_loaded();
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	memset(&fstats, 0, sizeof(fstats));
	memkv_freeze_index(index, callback, callback_state, &fstats,
					   MEMKV_TRIGGER_VACUUM);
	stats->tuples_removed += fstats.tuples_removed;

	LockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	INSTR_TIME_SET_CURRENT(t_start);
	wal_start = pgWalUsage;
	memset(&report, 0, sizeof(report));
	report.op = "vacuum";
	report.trigger = MEMKV_TRIGGER_VACUUM;
	memkv_read_meta(index, meta);
	memkv_check_meta_blocks(index, meta, RelationGetNumberOfBlocks(index));
	report.instance_id = meta->instance_id;
	for (i = 0; i < meta->nruns; i++)
	{
		const MemkvRunDesc *run = &meta->runs[i];
		uint64		newly;

		memset(&nw[i], 0, sizeof(MemkvVacuumNew));
		nw[i].dead_block = InvalidBlockNumber;
		newly = memkv_vacuum_run(index, meta, i, callback, callback_state,
								 &nw[i]);
		stats->tuples_removed += newly;
		report.dead_tids += newly;
		report.in_frozen_keys += run->run_nkeys;
		report.in_frozen_tids += run->run_ntids - run->entry.ndead;
		report.out_tids += run->run_ntids - nw[i].ndead;
		report.pages_written += nw[i].npages;
		any |= nw[i].dead_block != InvalidBlockNumber;
		if (nw[i].ndead > 0 &&
			(double) nw[i].ndead > MEMKV_VACUUM_REWRITE_FRACTION *
			(double) run->run_ntids)
			rewrite[nrewrite++] = run->run_id;
	}
	if (any)
		report.pages_freed = memkv_vacuum_switch(index, nw, meta->nruns);
	report.out_keys = report.in_frozen_keys;
	report.bytes_written = report.pages_written * BLCKSZ;
	WalUsageAccumDiff(&report.wal, &pgWalUsage, &wal_start);
	INSTR_TIME_SET_CURRENT(t_end);
	report.elapsed_ms = INSTR_TIME_GET_MILLISEC(t_end) -
		INSTR_TIME_GET_MILLISEC(t_start);
	memkv_report_layer_op(index, &report);
	for (i = 0; i < nrewrite; i++)
	{
		vacuum_rewrite_id = rewrite[i];
		(void) memkv_rewrite(index, false, 0, 0, memkv_vacuum_pick_one, NULL,
							 NULL, NULL, MEMKV_TRIGGER_VACUUM);
	}
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	memkv_merge_if_due(index, MEMKV_TRIGGER_VACUUM);

	/* what the index holds now */
	memkv_read_meta(index, meta);
	stats->num_index_tuples = 0;
	for (i = 0; i < meta->nruns; i++)
		stats->num_index_tuples += meta->runs[i].run_ntids -
			meta->runs[i].entry.ndead;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	pfree(meta);
	memkv_guard_wait_for_scans(index);
	return stats;
}

/* Log pages read per step of the cleanup's walk, between interrupt checks. */
#define MEMKV_CLEANUP_STEP_PAGES 64

/*
 * Was this page appended to the log in `epoch`, the current one?  Such a
 * page found off the chain the cleanup walked was linked in after the walk
 * (appends take only free pages, and tag them with the current epoch).
 */
static bool
memkv_page_is_new_log(Page page, uint32 epoch)
{
	MemkvPageOpaque opaque = MemkvPageGetOpaque(page);

	return !PageIsNew(page) &&
		PageGetSpecialSize(page) == MAXALIGN(sizeof(MemkvPageOpaqueData)) &&
		opaque->page_id == MEMKV_PAGE_ID &&
		(opaque->flags & MEMKV_PAGE_LOG) != 0 &&
		opaque->epoch == epoch;
}

/*
 * Report what the truncation attempt *t did (VACUUM VERBOSE shows it, as
 * INFO; otherwise DEBUG1) and take the pages it cut off out of the free
 * pages the sweep counted in *stats (those below nswept, the sweep's view
 * of the relation).
 */
static void
memkv_vacuum_report_truncate(IndexVacuumInfo *info,
							 const MemkvTruncateResult *t,
							 BlockNumber nswept, IndexBulkDeleteResult *stats)
{
	int			elevel = Max(info->message_level, DEBUG1);
	const char *name = RelationGetRelationName(info->index);

	if (t->new_nblocks < t->old_nblocks)
	{
		BlockNumber gone = nswept > t->new_nblocks ?
			nswept - t->new_nblocks : 0;

		stats->pages_free -= Min(gone, stats->pages_free);
		stats->pages_newly_deleted = Min(stats->pages_newly_deleted,
										 stats->pages_free);
		ereport(elevel,
				(errmsg("index \"%s\": truncated %u to %u pages",
						name, t->old_nblocks, t->new_nblocks),
				 t->cut_short ?
				 errdetail("The truncation stopped early for a conflicting lock request.") : 0));
	}
	else if (t->parallel)
		ereport(elevel,
				(errmsg("index \"%s\": not truncated: VACUUM runs in parallel mode",
						name),
				 errhint("VACUUM (PARALLEL 0) truncates it.")));
	else if (t->tried && !t->locked)
		ereport(elevel,
				(errmsg("index \"%s\": not truncated: the index is in use",
						name),
				 errdetail("%u trailing pages of %u are free; truncation needs an AccessExclusiveLock on the index, taken only without waiting.",
						   t->free_tail, t->old_nblocks)));
}

/*
 * amvacuumcleanup: freeze, if ambulkdelete did not; then every page that
 * is not the metapage, on a log chain, in a run or in a run's dead list is
 * free: make sure it is marked deleted and in the free space map; then,
 * if enough trailing pages are free, truncate the relation (truncate.c).
 * Also counts the index's entries.
 *
 * The merge lock and the freeze lock are held, in that order (no merge or
 * freeze can retire or write pages meanwhile, so every page that no run
 * or log owns was left by a writer that crashed); inserts go on, and may
 * link a free page into the log after the walk: each page is judged under
 * its buffer lock, and a log page of the current epoch is left alone.  The
 * truncation takes AccessExclusiveLock on the index only if it can without
 * waiting.  The walk and the page loop check for interrupts.
 */
IndexBulkDeleteResult *
memkv_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	MemkvEntry *entry;
	MemkvMetaPageData meta;
	MemkvLogWalk walk;
	BlockNumber nblocks;
	BlockNumber blkno;
	bool	   *in_use;
	uint64		count;
	int			r;
	MemkvTruncateResult trunc;

	if (info->analyze_only)
		return stats;
	memkv_check_loaded();
	if (stats == NULL)
	{
		/* no bulkdelete ran, so nothing was frozen yet: do it now */
		bool		has_delta;
		uint64		ndelta;
		bool		in_memory;

		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		entry = memkv_open_synced_try(index, LW_SHARED, &meta, &in_memory);
		/* a delta too big for shared memory is frozen from the log */
		memkv_entry_delta_size(entry, &ndelta, NULL);
		has_delta = !in_memory || ndelta > 0;
		memkv_entry_release(entry);
		if (has_delta)
			memkv_freeze_index(index, NULL, NULL, NULL,
							   MEMKV_TRIGGER_VACUUM_CLEANUP);
	}

	/* hold off merges and freezes (their new pages are not listed yet) */
	LockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	memkv_read_meta(index, &meta);
	/* the metapage's pointers must lie inside the relation */
	memkv_check_meta_blocks(index, &meta, RelationGetNumberOfBlocks(index));
	count = 0;
	in_use = NULL;
	nblocks = 0;
	for (r = 0; r < meta.nstripes; r++)
	{
		memkv_log_walk_start(&walk, meta.log_head[r], meta.log_head_offset[r],
							 meta.epoch, true);
		/* one page map for every stripe's chain */
		walk.in_chain = in_use;
		walk.in_chain_len = nblocks;
		do
		{
			CHECK_FOR_INTERRUPTS();
		} while (!memkv_log_walk_pages(index, &walk, MEMKV_CLEANUP_STEP_PAGES,
									   NULL, NULL));
		count += walk.count;
		in_use = walk.in_chain;
		nblocks = walk.in_chain_len;
	}
	/* pages past the walks' view of the relation are not ours to judge */
	for (r = 0; r < meta.nruns; r++)
	{
		RunHeader  *hdr = memkv_run_header_read(index, &meta.runs[r],
												CurrentMemoryContext);
		uint32		nrun;
		BlockNumber *blocks = memkv_run_blocks(index, &meta.runs[r], hdr,
											   &nrun);
		uint32		i;

		for (i = 0; i < nrun; i++)
		{
			if (blocks[i] < nblocks)
				in_use[blocks[i]] = true;
		}
		pfree(blocks);
		pfree(hdr);
		count += meta.runs[r].run_ntids - meta.runs[r].entry.ndead;
	}

	stats->pages_free = 0;
	for (blkno = MEMKV_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		if (in_use[blkno])
			continue;
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (MemkvPageIsFree(page))
			RecordFreeIndexPage(index, blkno);
		else if (memkv_page_is_new_log(page, meta.epoch))
		{
			/* appended since the walk: in use after all */
			UnlockReleaseBuffer(buf);
			continue;
		}
		else
		{
			/* left over by a freeze or merge that crashed before its switch */
			memkv_delete_page(index, buf);
			stats->pages_newly_deleted++;
		}
		UnlockReleaseBuffer(buf);
		stats->pages_free++;
	}
	memkv_truncate_tail(index, in_use, nblocks, &trunc);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	pfree(in_use);

	IndexFreeSpaceMapVacuum(index);
	memkv_vacuum_report_truncate(info, &trunc, nblocks, stats);
	stats->num_pages = trunc.new_nblocks;
	stats->pages_deleted = stats->pages_free;
	stats->num_index_tuples = count;
	stats->estimated_count = false;
	return stats;
}
