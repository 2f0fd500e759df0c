/*-------------------------------------------------------------------------
 *
 * vacuum.c
 *	  VACUUM support: ambulkdelete rewrites the delta log without the dead
 *	  TIDs and removes them from the shared tree; amvacuumcleanup returns
 *	  pages that are no longer part of the log to the free space map.
 *
 * A rewrite writes the surviving entries to fresh pages tagged with the
 * next log generation, switches the metapage to them in one WAL record,
 * then marks the old pages deleted.  A crash before the switch leaves the
 * old log in force; after it, the new one.  Everything happens under the
 * index's entry lock held exclusively, so no backend of this server reads
 * or appends to the log meanwhile; a standby's readers notice the new
 * generation and rebuild (delta.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/generic_xlog.h"
#include "commands/vacuum.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "utils/rel.h"

#include "memkv.h"

typedef struct MemkvDeadState
{
	IndexBulkDeleteCallback callback;
	void	   *callback_state;
} MemkvDeadState;

/* art_delete_tids predicate: ask VACUUM whether the TID is dead. */
static bool
memkv_tid_is_dead(const ArtTid *tid, void *arg)
{
	MemkvDeadState *ds = (MemkvDeadState *) arg;
	ItemPointerData ip;

	memcpy(&ip, tid, sizeof(ip));
	return ds->callback(&ip, ds->callback_state);
}

/* State of a log rewrite. */
typedef struct MemkvRewrite
{
	Relation	index;
	uint32		generation;
	MemkvDeadState *dead;
	PGAlignedBlock page;		/* page being filled */
	Buffer		buf;			/* where it will be written (locked) */
	BlockNumber head;
	uint64		nlive;
	uint64		ndead;
} MemkvRewrite;

/* Write the page being filled into its buffer, linked to `next`. */
static void
memkv_rewrite_flush(MemkvRewrite *rw, BlockNumber next)
{
	GenericXLogState *state = GenericXLogStart(rw->index);
	Page		page = GenericXLogRegisterBuffer(state, rw->buf,
												 GENERIC_XLOG_FULL_IMAGE);

	MemkvPageGetOpaque((Page) rw->page.data)->next = next;
	memcpy(page, rw->page.data, BLCKSZ);
	GenericXLogFinish(state);
	UnlockReleaseBuffer(rw->buf);
	rw->buf = InvalidBuffer;
}

/* memkv_walk_log visitor: copy a live entry into the new log. */
static void
memkv_rewrite_visit(IndexTuple itup, void *arg)
{
	MemkvRewrite *rw = (MemkvRewrite *) arg;
	Size		size = IndexTupleSize(itup);

	if (rw->dead->callback(&itup->t_tid, rw->dead->callback_state))
	{
		rw->ndead++;
		return;
	}
	rw->nlive++;
	if (PageGetFreeSpace((Page) rw->page.data) < MAXALIGN(size))
	{
		Buffer		next = memkv_new_buffer(rw->index, rw->generation);

		memkv_rewrite_flush(rw, BufferGetBlockNumber(next));
		rw->buf = next;
		memkv_init_log_page((Page) rw->page.data, rw->generation);
	}
	if (PageAddItem((Page) rw->page.data, (Item) itup, size,
					InvalidOffsetNumber, false, false) == InvalidOffsetNumber)
		elog(ERROR, "memkv: failed to copy a log entry during VACUUM");
}

/* memkv_walk_log visitor: count dead entries. */
static void
memkv_count_dead_visit(IndexTuple itup, void *arg)
{
	MemkvRewrite *rw = (MemkvRewrite *) arg;

	if (rw->dead->callback(&itup->t_tid, rw->dead->callback_state))
		rw->ndead++;
	else
		rw->nlive++;
}

/* Mark one page deleted (WAL-logged) and tell the free space map. */
static void
memkv_delete_page(Relation index, Buffer buf)
{
	GenericXLogState *state = GenericXLogStart(index);
	Page		page = GenericXLogRegisterBuffer(state, buf, 0);

	memkv_init_log_page(page, 0);
	MemkvPageGetOpaque(page)->flags = MEMKV_PAGE_DELETED;
	GenericXLogFinish(state);
	RecordFreeIndexPage(index, BufferGetBlockNumber(buf));
}

/*
 * ambulkdelete: remove every entry whose TID the callback reports dead,
 * from the log and from the shared tree.
 */
IndexBulkDeleteResult *
memkv_bulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
				 IndexBulkDeleteCallback callback, void *callback_state)
{
	Relation	index = info->index;
	MemkvEntry *entry;
	MemkvMetaPageData meta;
	MemkvDeadState ds;
	MemkvRewrite rw;
	BlockNumber oldblk;
	Buffer		metabuf;
	GenericXLogState *state;
	Page		metapage;
	BlockNumber tail;

	memkv_check_loaded();
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	ds.callback = callback;
	ds.callback_state = callback_state;
	memset(&rw, 0, sizeof(rw));
	rw.index = index;
	rw.dead = &ds;

	entry = memkv_open_synced(index, LW_EXCLUSIVE);
	memkv_read_meta(index, &meta);

	/* first pass: is there anything to remove? */
	memkv_walk_log(index, meta.log_head, meta.log_generation,
				   memkv_count_dead_visit, &rw, NULL);
	if (rw.ndead == 0)
	{
		memkv_entry_release(entry);
		stats->num_index_tuples = rw.nlive;
		stats->num_pages = RelationGetNumberOfBlocks(index);
		return stats;
	}

	/* second pass: copy the survivors into a new generation */
	entry->valid = false;
	rw.generation = meta.log_generation + 1;
	rw.nlive = rw.ndead = 0;
	rw.buf = memkv_new_buffer(index, rw.generation);
	rw.head = BufferGetBlockNumber(rw.buf);
	memkv_init_log_page((Page) rw.page.data, rw.generation);
	memkv_walk_log(index, meta.log_head, meta.log_generation,
				   memkv_rewrite_visit, &rw, NULL);
	tail = BufferGetBlockNumber(rw.buf);
	memkv_rewrite_flush(&rw, InvalidBlockNumber);

	/* switch the metapage to the new log */
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	state = GenericXLogStart(index);
	metapage = GenericXLogRegisterBuffer(state, metabuf, 0);
	MemkvPageGetMeta(metapage)->log_generation = rw.generation;
	MemkvPageGetMeta(metapage)->log_head = rw.head;
	MemkvPageGetMeta(metapage)->log_tail = tail;
	GenericXLogFinish(state);
	UnlockReleaseBuffer(metabuf);

	/* the old pages are free now: no reader of this server can be on them */
	oldblk = meta.log_head;
	while (oldblk != InvalidBlockNumber)
	{
		Buffer		buf = ReadBuffer(index, oldblk);

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		memkv_check_page(index, buf, BufferGetPage(buf), MEMKV_PAGE_LOG);
		oldblk = MemkvPageGetOpaque(BufferGetPage(buf))->next;
		memkv_delete_page(index, buf);
		UnlockReleaseBuffer(buf);
		stats->pages_newly_deleted++;
		stats->pages_deleted++;
	}

	/* the tree loses the same TIDs, and then mirrors the new log */
	art_delete_tids(&entry->keys, memkv_allocator(), memkv_tid_is_dead, &ds);
	art_delete_tids(&entry->nulls, memkv_allocator(), memkv_tid_is_dead, &ds);
	{
		Buffer		buf = ReadBuffer(index, tail);

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		entry->resume_blkno = tail;
		entry->resume_offset =
			OffsetNumberNext(PageGetMaxOffsetNumber(BufferGetPage(buf)));
		UnlockReleaseBuffer(buf);
	}
	entry->generation = rw.generation;
	entry->valid = true;
	memkv_entry_release(entry);

	stats->tuples_removed += rw.ndead;
	stats->num_index_tuples = rw.nlive;
	stats->num_pages = RelationGetNumberOfBlocks(index);
	return stats;
}

/*
 * amvacuumcleanup: every page that is not the metapage or part of the
 * current log is free; make sure it is marked deleted and in the free
 * space map.  Also counts the index's entries.
 */
IndexBulkDeleteResult *
memkv_vacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
	Relation	index = info->index;
	MemkvEntry *entry;
	MemkvMetaPageData meta;
	BlockNumber nblocks;
	BlockNumber blkno;
	bool	   *in_chain;
	uint64		count;

	if (info->analyze_only)
		return stats;
	memkv_check_loaded();
	if (stats == NULL)
		stats = (IndexBulkDeleteResult *) palloc0(sizeof(IndexBulkDeleteResult));

	/* hold off appends, which could link a page we are about to free */
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	memkv_read_meta(index, &meta);
	nblocks = RelationGetNumberOfBlocks(index);
	in_chain = palloc0(sizeof(bool) * nblocks);
	count = memkv_walk_log(index, meta.log_head, meta.log_generation,
						   NULL, NULL, in_chain);

	stats->pages_free = 0;
	for (blkno = MEMKV_METAPAGE_BLKNO + 1; blkno < nblocks; blkno++)
	{
		Buffer		buf;
		Page		page;

		if (in_chain[blkno])
			continue;
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (PageIsNew(page) ||
			(MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
			 (MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_DELETED)))
			RecordFreeIndexPage(index, blkno);
		else
		{
			/* left over by a rewrite that crashed before its switch */
			memkv_delete_page(index, buf);
			stats->pages_newly_deleted++;
		}
		UnlockReleaseBuffer(buf);
		stats->pages_free++;
	}
	memkv_entry_release(entry);
	pfree(in_chain);

	IndexFreeSpaceMapVacuum(index);
	stats->num_pages = nblocks;
	stats->pages_deleted = stats->pages_free;
	stats->num_index_tuples = count;
	stats->estimated_count = false;
	return stats;
}
