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
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "memkv.h"

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

/*
 * amvacuumcleanup: freeze, if ambulkdelete did not; then every page that
 * is not the metapage, on the log chain or in the frozen run is free: make
 * sure it is marked deleted and in the free space map.  Also counts the
 * index's entries.
 */
IndexBulkDeleteResult *
memkv_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	MemkvEntry *entry;
	MemkvMetaPageData meta;
	BlockNumber nblocks;
	BlockNumber blkno;
	bool	   *in_use;
	uint64		count;

	if (info->analyze_only)
		return stats;
	memkv_check_loaded();
	if (stats == NULL)
	{
		/* no bulkdelete ran, so nothing was frozen yet: do it now */
		bool		has_delta;

		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));
		entry = memkv_open_synced(index, LW_SHARED, &meta);
		has_delta = entry->keys.ntids + entry->nulls.ntids > 0;
		memkv_entry_release(entry);
		if (has_delta)
			memkv_freeze_index(index, NULL, NULL, NULL,
							   MEMKV_TRIGGER_VACUUM_CLEANUP);
	}

	/* hold off freezes (whose new pages are not in the metapage yet) */
	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	/* and appends, which could link a page we are about to free */
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	memkv_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	memkv_check_meta_blocks(index, &meta, nblocks);
	in_use = palloc0(sizeof(bool) * nblocks);
	count = memkv_walk_log(index, meta.log_head, meta.log_head_offset,
						   meta.epoch, NULL, NULL, in_use);
	if (meta.frozen_start != InvalidBlockNumber)
	{
		for (blkno = meta.frozen_start;
			 blkno < meta.frozen_start + Max(meta.frozen_alloc, meta.frozen_npages) &&
			 blkno < nblocks;
			 blkno++)
			in_use[blkno] = true;
		count += meta.frozen_ntids;
	}
	/* the previous run is kept for the next freeze */
	if (meta.spare_start != InvalidBlockNumber)
	{
		for (blkno = meta.spare_start;
			 blkno < meta.spare_start + meta.spare_npages && blkno < nblocks;
			 blkno++)
			in_use[blkno] = true;
	}

	stats->pages_free = 0;
	for (blkno = MEMKV_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		if (in_use[blkno])
			continue;
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (MemkvPageIsFree(page))
			RecordFreeIndexPage(index, blkno);
		else
		{
			/* left over by a freeze that crashed before its switch */
			memkv_delete_page(index, buf);
			stats->pages_newly_deleted++;
		}
		UnlockReleaseBuffer(buf);
		stats->pages_free++;
	}
	memkv_entry_release(entry);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	pfree(in_use);

	IndexFreeSpaceMapVacuum(index);
	stats->num_pages = nblocks;
	stats->pages_deleted = stats->pages_free;
	stats->num_index_tuples = count;
	stats->estimated_count = false;
	return stats;
}
