/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  VACUUM support.  ambulkdelete freezes the index with a filter that
 *	  leaves out dead TIDs (freeze.c), so both layers lose them at once;
 *	  amvacuumcleanup returns every page that belongs to neither layer to
 *	  the free space map and counts the index's entries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/vacuum.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "delta.h"
#include "freeze.h"
#include "memkv.h"
#include "merge.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runpages.h"
#include "stripe.h"
#include "wal.h"

/*
 * ambulkdelete: rewrite the index without the TIDs the callback reports
 * dead.
 */
IndexBulkDeleteResult *
memkv_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	memkv_check_loaded();
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
	memkv_freeze_index(info->index, callback, callback_state, stats,
					   MEMKV_TRIGGER_VACUUM);
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
 * amvacuumcleanup: freeze, if ambulkdelete did not; then every page that
 * is not the metapage, on the log chain or in the run is free: make
 * sure it is marked deleted and in the free space map.  Also counts the
 * index's entries.
 *
 * The merge lock and the freeze lock are held, in that order (no merge or
 * freeze can retire or write pages meanwhile, so every page that no run
 * or log owns was left by a writer that crashed); inserts go on, and may link a free page into the log after
 * the walk: each page is judged under its buffer lock, and a log page of
 * the current epoch is left alone.  The walk and the page loop check for
 * interrupts.
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
		count += meta.runs[r].run_ntids;
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
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ExclusiveLock);
	pfree(in_use);

	IndexFreeSpaceMapVacuum(index);
	stats->num_pages = nblocks;
	stats->pages_deleted = stats->pages_free;
	stats->num_index_tuples = count;
	stats->estimated_count = false;
	return stats;
}
