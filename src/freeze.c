/*-------------------------------------------------------------------------
 *
 * freeze.c
 *	  Freezing: merge the frozen FST and the delta tree into a new frozen
 *	  layer, switch the metapage to it with an empty delta log in one WAL
 *	  record, and retire the old pages.  VACUUM uses the same merge with a
 *	  filter that drops dead TIDs.  Also the SQL function memkv_freeze().
 *
 * A crash before the metapage switch leaves the old generation (the new
 * pages are unreferenced and freed by the next VACUUM); a crash after it
 * leaves the new one.  Either is whole.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlogrecord.h"
#include "access/relation.h"
#include "catalog/pg_class.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/indexfsm.h"
#include "utils/memutils.h"
#include "storage/lock.h"
#include "tcop/utility.h"
#include "utils/rel.h"

#include "caller.h"
#include "delta.h"
#include "freeze.h"
#include "memkv.h"
#include "memkv_guc.h"
#include "page.h"
#include "registry.h"
#include "runcopy.h"
#include "runpages.h"
#include "runread.h"
#include "runwrite.h"
#include "source.h"
#include "stats.h"
#include "wal.h"

PG_FUNCTION_INFO_V1(memkv_freeze);


/* Drop the TIDs the callback reports dead; returns how many it dropped. */
static uint64
memkv_filter_dead(ItemPointerData *tids, uint64 *ntids,
				  IndexBulkDeleteCallback dead, void *dead_state)
{
	uint64		i,
				n = 0;
	uint64		before = *ntids;

	if (dead == NULL)
		return 0;
	for (i = 0; i < *ntids; i++)
	{
		if (!dead(&tids[i], dead_state))
			tids[n++] = tids[i];
	}
	*ntids = n;
	return before - n;
}

/* Mark a page deleted (WAL-logged) and give it to the free space map. */
void
memkv_delete_page(Relation index, Buffer buf)
{
	memkv_wal_free(index, &buf, 1);
	RecordFreeIndexPage(index, BufferGetBlockNumber(buf));
}

/*
 * Delete the pages of a retired run, blocks[0..n) (memkv_run_blocks), in
 * WAL records of up to 33 pages.  A page that is no longer the run's
 * (tagged `tag`, flag RUN) is left alone, so that a damaged header never
 * frees live pages.  Returns how many pages it deleted.  The run must be
 * unreachable: switched out of the directory, with no batch that read the
 * old directory still running (the switch waited for the entry lock).
 */
static BlockNumber
memkv_delete_run(Relation index, const BlockNumber *blocks, uint32 n,
				 uint32 tag)
{
	Buffer		bufs[XLR_MAX_BLOCK_ID + 1];
	int			nbufs = 0;
	BlockNumber deleted = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint32		i;
	int			j;

	for (i = 0; i <= n; i++)
	{
		if (i < n && blocks[i] != MEMKV_METAPAGE_BLKNO && blocks[i] < nblocks)
		{
			Buffer		buf = ReadBuffer(index, blocks[i]);
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			if (MemkvPageHasOpaque(page) &&
				MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
				(MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_RUN) != 0 &&
				MemkvPageGetOpaque(page)->epoch == tag)
				bufs[nbufs++] = buf;
			else
				UnlockReleaseBuffer(buf);
		}
		if (nbufs > 0 && (nbufs == lengthof(bufs) || i == n))
		{
			memkv_wal_free(index, bufs, nbufs);
			for (j = 0; j < nbufs; j++)
			{
				RecordFreeIndexPage(index, BufferGetBlockNumber(bufs[j]));
				UnlockReleaseBuffer(bufs[j]);
			}
			deleted += nbufs;
			nbufs = 0;
			CHECK_FOR_INTERRUPTS();
		}
	}
	return deleted;
}

/*
 * Delete the log pages from `head` up to, not including, `stop`; returns
 * how many.
 */
static BlockNumber
memkv_delete_log(Relation index, BlockNumber head, BlockNumber stop)
{
	BlockNumber blkno = head;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber visited = 0;

	while (blkno != InvalidBlockNumber && blkno != stop)
	{
		Buffer		buf;

		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= nblocks ||
			++visited > nblocks)
			memkv_chain_corrupted(index, blkno);
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		memkv_check_page(index, buf, BufferGetPage(buf), MEMKV_PAGE_LOG);
		blkno = MemkvPageGetOpaque(BufferGetPage(buf))->next;
		memkv_delete_page(index, buf);
		UnlockReleaseBuffer(buf);
	}
	return visited;
}


/* What the error cleanup of a freeze needs to find its entry. */
typedef struct MemkvFreezeCleanup
{
	Relation	index;
	MemkvEntry *entry;
} MemkvFreezeCleanup;

/*
 * Error (or FATAL exit) during a freeze: give the frozen-aside trees up
 * and mark the entry invalid, so the next user rebuilds from the log,
 * which the failed freeze has not changed (or has switched completely).
 */
static void
memkv_freeze_cleanup(int code, Datum arg)
{
	MemkvFreezeCleanup *fc = (MemkvFreezeCleanup *) DatumGetPointer(arg);
	LWLock	   *lock = memkv_entry_lock(fc->entry);
	bool		held = LWLockHeldByMeInMode(lock, LW_EXCLUSIVE);

	if (!held)
		LWLockAcquire(lock, LW_EXCLUSIVE);
	if (fc->entry->freezing)
	{
		art_free_all(&fc->entry->imm_keys, memkv_allocator());
		art_free_all(&fc->entry->imm_nulls, memkv_allocator());
		fc->entry->freezing = false;
	}
	/* users waiting for a direct-mode freeze go on (and rebuild) */
	fc->entry->freeze_direct = false;
	fc->entry->valid = false;
	if (!held)
		LWLockRelease(lock);
}

/*
 * A freeze in progress: what its phases hand on to each other.  It lives
 * on memkv_freeze_index's stack; the arrays it points to live in cxt.
 */
typedef struct MemkvFreezeState
{
	Relation	index;
	IndexBulkDeleteCallback dead;	/* VACUUM's: TIDs to leave out, or NULL */
	void	   *dead_state;
	IndexBulkDeleteResult *stats;	/* VACUUM's, or NULL */
	MemoryContext cxt;			/* the freeze's memory */
	MemkvEntry *entry;
	MemkvMetaPageData meta;		/* read at the set-aside, again at the switch */
	MemkvMetaPageData newmeta;	/* what the switch wrote */
	MemkvRunEntry newrun;		/* the new run's directory entry */
	bool		have_newrun;	/* false if no TID is left to write */
	BlockNumber *old_run_blocks;	/* the old run's pages, for the retire */
	uint32		old_run_nblocks;
	uint32		old_run_tag;
	bool		direct;			/* the delta is read from the log */
	bool		from_copy;		/* the old run is read from its shared copy */
	MemkvFrozen *frozen;		/* the old run, or NULL */
	MemkvSource	logrun;			/* direct mode: the delta's keys */
	MemkvSource	lognulls;		/* ... and its NULL key's TIDs */
	BlockNumber direct_end_blkno;	/* direct mode: the log's end */
	OffsetNumber direct_end_offset;
	MemkvFrozenWriter *w;
	uint64		removed;		/* TIDs left out as dead */
	uint64		kept;			/* TIDs the index holds afterwards */
	/* what the switch leaves for the clean-up */
	ArtTree		old_keys;
	ArtTree		old_nulls;
	BlockNumber old_log_head;
	BlockNumber boundary;
	MemkvLayerOpReport report;
	instr_time	t_start,
				t_aside,
				t_merged,
				t_written,
				t_switched,
				t_end;
} MemkvFreezeState;

/*
 * Phase 1, set aside: under the entry lock, exclusive, sync the delta
 * trees with the log, read the metapage, open the old run, and set the
 * trees aside as imm_keys/imm_nulls (read-only from now on), fresh empty
 * trees taking new entries from the boundary on (entry->freeze_blkno /
 * freeze_offset).  If the delta does not fit in shared memory, mark the
 * freeze direct instead: every user of the entry then waits for the
 * freeze.  Either way entry->freezing is set and the entry lock released
 * on return.  Caller holds the metapage lock.
 */
static void
memkv_freeze_set_aside(MemkvFreezeState *fs)
{
	Relation	index = fs->index;
	MemkvEntry *entry;

	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	fs->entry = entry;
	if (entry->freezing)
		elog(ERROR, "memkv: index \"%s\" is already being frozen",
			 RelationGetRelationName(index));
	fs->direct = !memkv_sync_try(index, entry);
	memkv_read_meta(index, &fs->meta);
	/* the switch retires the log's head and the run */
	memkv_check_meta_blocks(index, &fs->meta, RelationGetNumberOfBlocks(index));

	/*
	 * Open the old frozen layer now, under the entry lock, so that it is
	 * read from the entry's shared-memory copy of the run (else from the
	 * pages, through the buffer manager, which costs the merge about a
	 * tenth of its time).  If no scan made the copy yet, make it, unless
	 * that would fill more than half of the arena, which the delta needs
	 * (and a full arena is a reason to freeze).  Phase 2 reads the layer
	 * without the lock: the copy cannot go away meanwhile, since only this
	 * freeze's switch frees the copy of a freezing entry (eviction and
	 * reassignment skip it, and scans replace a copy only when the
	 * metapage names another run).
	 */
	if (fs->meta.run_header != InvalidBlockNumber)
	{
		RunHeader  *old = memkv_run_header_read(index, &fs->meta, fs->cxt);

		fs->old_run_blocks = memkv_run_blocks(index, &fs->meta, old,
											  &fs->old_run_nblocks);
		fs->old_run_tag = fs->meta.run_tag;
		if (!fs->direct && memkv_run_copy_wanted(entry, &fs->meta) &&
			memkv_arena_bytes_used() + memkv_run_slice_bytes(old) <=
			memkv_shared->arena_size / 2)
			memkv_run_copy_build(index, entry, &fs->meta);
	}
	fs->frozen = memkv_frozen_open(index, &fs->meta, entry);
	fs->report.instance_id = fs->meta.instance_id;
	fs->report.in_frozen_keys = fs->meta.run_nkeys;
	fs->report.in_frozen_tids = fs->meta.run_ntids;
	/* read from the shared copy, which was checked against the CRC? */
	fs->from_copy = fs->frozen != NULL && entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == fs->meta.instance_id &&
		entry->run_copy_epoch == fs->meta.run_tag &&
		entry->run_copy_start == fs->meta.run_header;
	if (!fs->direct)
	{
		fs->report.in_delta_keys = entry->keys.nkeys;
		fs->report.in_delta_tids = entry->keys.ntids + entry->nulls.ntids;
		entry->imm_keys = entry->keys;
		entry->imm_nulls = entry->nulls;
		memset(&entry->keys, 0, sizeof(ArtTree));
		memset(&entry->nulls, 0, sizeof(ArtTree));
		entry->freeze_blkno = entry->resume_blkno;
		entry->freeze_offset = entry->resume_offset;
		entry->freezing = true;
		memkv_entry_release(entry);
	}
	else
	{
		/*
		 * The delta does not fit in shared memory (that is usually why we
		 * are freezing): phase 2 reads it from the log into this backend's
		 * memory instead.  Until the switch no tree can show those entries,
		 * so every user of the entry waits for this freeze, on the metapage
		 * lock we hold (memkv_open_synced), where a cancel reaches it; and
		 * we hold no entry lock through the long phase 2, so a cancel
		 * reaches us too.  Nothing is appended meanwhile.
		 */
		entry->freezing = true;
		entry->freeze_direct = true;
		memkv_entry_release(entry);
	}
}

/*
 * Phase 2a, read the inputs: in direct mode, read the whole delta log
 * into memory, sorted; check the old run against its CRC unless it is
 * read from the shared copy (which was checked when it was made).  Holds
 * no LWLock (a cancel reaches the log walk and the sort); caller holds
 * the metapage lock, so the old run and the log stay as they are.
 */
static void
memkv_freeze_read_inputs(MemkvFreezeState *fs)
{
	Relation	index = fs->index;

	/* testing aid: wait here while the advisory lock is held */
	if (memkv_debug_freeze_pause_lock != 0)
	{
		LOCKTAG		tag;

		/* the tag pg_advisory_lock(bigint) uses */
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, 0,
							 (uint32) memkv_debug_freeze_pause_lock, 1);
		(void) LockAcquire(&tag, ShareLock, false, false);
		LockRelease(&tag, ShareLock, false);
	}

	/* from here on without the entry lock; only we touch imm */
	if (fs->direct)
	{
		memkv_read_log_run(index, &fs->meta, &fs->logrun, &fs->lognulls,
						   &fs->direct_end_blkno, &fs->direct_end_offset);
		fs->report.in_delta_keys = fs->logrun.nkeys;
		fs->report.in_delta_tids = fs->logrun.ntids + fs->lognulls.ntids;
	}
	INSTR_TIME_SET_CURRENT(fs->t_aside);

	/*
	 * Reading the old run's pages checks their tags and the FST's
	 * structure, not every byte: check the run against its CRC first
	 * (one sequential read), so that a damaged run is an ERROR here
	 * rather than garbage sealed under the new run's checksum.
	 */
	if (fs->frozen != NULL && !fs->from_copy &&
		!memkv_frozen_checksum_ok(index, &fs->meta))
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("frozen layer of index \"%s\" is corrupted: its pages do not match their checksum",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
}

/*
 * Phase 2b, merge and write: stream a merge of the old run and the
 * set-aside delta (the trees, or in direct mode the log read into memory)
 * into a new run's writer, key by key in order, each key's TIDs sorted,
 * without duplicates and without those `dead` reports; then the NULL key;
 * then write the new run to pages (tagged with the next epoch) and fill
 * fs->newmeta.  Closes the old run.  Holds no LWLock: only this freeze
 * reads the set-aside trees, and only its switch frees the shared copy
 * it may read from; caller holds the metapage lock.
 */
static void
memkv_freeze_merge_write(MemkvFreezeState *fs)
{
	MemkvEntry *entry = fs->entry;
	MemkvFrozenWriter *w;
	MemkvMergeInput delta;
	MemkvMergeInput old;
	MemkvSource	nulls;
	ItemPointerData *tids = NULL;
	uint64		maxtids = 0;

	w = memkv_frozen_writer_begin();
	fs->w = w;
	memkv_frozen_writer_collect_keys(w);
	if (fs->direct)
	{
		memkv_merge_input_init(&delta, NULL, NULL);
		delta.run = fs->logrun;
	}
	else
		memkv_merge_input_init(&delta, &entry->imm_keys, NULL);
	memkv_merge_input_init(&old, NULL, fs->frozen);

	for (;;)
	{
		bool		have_d = memkv_merge_input_ready(&delta);
		bool		have_o = memkv_merge_input_ready(&old);
		MemkvSourceKey *dk = have_d ? &delta.run.keys[delta.pos] : NULL;
		MemkvSourceKey *ok = have_o ? &old.run.keys[old.pos] : NULL;
		const uint8 *key;
		Size		keylen;
		int			c;
		uint64		n = 0;

		CHECK_FOR_INTERRUPTS();
		if (!have_d && !have_o)
			break;
		if (dk && ok)
			c = memkv_key_cmp((const uint8 *) delta.run.keybuf + dk->key_offset,
							  dk->key_len,
							  (const uint8 *) old.run.keybuf + ok->key_offset,
							  ok->key_len);
		else
			c = dk ? -1 : 1;
		if (c > 0)
			dk = NULL;
		else if (c < 0)
			ok = NULL;

		if (dk)
		{
			key = (const uint8 *) delta.run.keybuf + dk->key_offset;
			keylen = dk->key_len;
		}
		else
		{
			key = (const uint8 *) old.run.keybuf + ok->key_offset;
			keylen = ok->key_len;
		}

		/* the key's TIDs from both layers */
		{
			uint64		need = (dk ? dk->ntids : 0) + (ok ? ok->ntids : 0);

			if (need > maxtids)
			{
				maxtids = Max(need, 64);
				tids = tids ? repalloc_huge(tids, mul_size(maxtids, sizeof(ItemPointerData))) :
					MemoryContextAllocHuge(fs->cxt, mul_size(maxtids, sizeof(ItemPointerData)));
			}
		}
		if (dk)
		{
			memcpy(tids, delta.run.tids + dk->tid_start,
				   dk->ntids * sizeof(ItemPointerData));
			n = dk->ntids;
			delta.pos++;
		}
		if (ok)
		{
			memcpy(tids + n, old.run.tids + ok->tid_start,
				   ok->ntids * sizeof(ItemPointerData));
			n += ok->ntids;
			old.pos++;
		}
		fs->removed += memkv_filter_dead(tids, &n, fs->dead, fs->dead_state);
		memkv_sort_tids(tids, &n);
		if (n > 0)
		{
			memkv_frozen_writer_add(w, key, keylen, tids, n);
			fs->kept += n;
		}
	}

	/* the NULL key */
	if (fs->direct)
		nulls = fs->lognulls;
	else
	{
		const ArtTid *atids;
		uint32		nnull = art_lookup(&entry->imm_nulls, memkv_allocator(),
									   (const uint8 *) "", 0, &atids);

		memkv_source_init(&nulls);
		if (nnull > 0)
			memkv_source_add(&nulls, NULL, 0, (const ItemPointerData *) atids,
						  nnull);
	}
	if (fs->frozen)
		memkv_frozen_nulls(fs->frozen, &nulls);
	{
		uint64		n = nulls.ntids;

		fs->removed += memkv_filter_dead(nulls.tids, &n, fs->dead,
										 fs->dead_state);
		memkv_sort_tids(nulls.tids, &n);
		memkv_frozen_writer_add_nulls(w, nulls.tids, n);
		fs->kept += n;
	}
	memkv_frozen_close(fs->frozen);
	INSTR_TIME_SET_CURRENT(fs->t_merged);

	/*
	 * The new run, on free pages or new blocks, not yet referenced.  Its
	 * id is the current generation, which the switch then bumps (ids stay
	 * below the generation, and no other switch runs meanwhile: we hold
	 * the metapage lock).  Nothing left to write, no run.
	 */
	fs->have_newrun = fs->kept > 0;
	if (fs->have_newrun)
		memkv_frozen_writer_finish(w, fs->index, fs->meta.generation,
								   &fs->newrun);
	INSTR_TIME_SET_CURRENT(fs->t_written);
}

/*
 * Phase 3, switch: under the entry lock, exclusive, write the metapage in
 * one WAL record -- the new run, epoch + 1, the old run as the spare
 * region, the log head moved to the boundary -- take the set-aside trees
 * out of the entry (into fs, for the clean-up), replace the old run's
 * shared copy by the new run's, and end the entry's freezing state.  The
 * entry lock is released on return; the metapage lock is still held.
 */
static void
memkv_freeze_switch(MemkvFreezeState *fs)
{
	Relation	index = fs->index;
	MemkvEntry *entry;
	Buffer		metabuf;
	MemkvDirectory dir;
	const char *msg;

	/*
	 * The log now starts at the boundary; entries appended since phase 1
	 * stay in it and in the fresh trees.
	 */
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	Assert(entry == fs->entry);
	if (fs->direct)
	{
		/* the log ended there: the boundary is its end */
		entry->freeze_blkno = fs->direct_end_blkno;
		entry->freeze_offset = fs->direct_end_offset;
	}
	metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
	memkv_read_directory(index, metabuf, &dir);
	if (dir.generation != fs->meta.generation ||
		dir.instance_id != fs->meta.instance_id)
		elog(ERROR, "memkv: directory of \"%s\" changed during a freeze",
			 RelationGetRelationName(index));
	dir.nruns = 0;
	if (fs->have_newrun && !rundir_add_run(&dir, &fs->newrun))
		elog(ERROR, "memkv: directory of \"%s\" is full",
			 RelationGetRelationName(index));
	dir.stripes[0].log_head = entry->freeze_blkno;
	dir.stripes[0].log_head_offset = entry->freeze_offset;
	dir.generation++;
	dir.freeze_count++;
	dir.last_freeze = GetCurrentTimestamp();
	if (rundir_validate(&dir, RUNDIR_INVALID_BLOCK, &msg) != RUNDIR_OK)
		elog(ERROR, "memkv: new directory of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), msg);
	memkv_wal_switch(index, metabuf, &dir);
	UnlockReleaseBuffer(metabuf);
	memkv_meta_from_directory(&dir, &fs->newmeta);

	/*
	 * Take the set-aside trees out of the entry; they are freed below,
	 * after the entry lock is released, since inserts wait for it.
	 */
	fs->old_keys = entry->imm_keys;
	fs->old_nulls = entry->imm_nulls;
	memset(&entry->imm_keys, 0, sizeof(ArtTree));
	memset(&entry->imm_nulls, 0, sizeof(ArtTree));
	memkv_entry_free_run_copy(entry);
	/* the new run's shared copy and key blocks, ready for scans */
	if (fs->have_newrun)
		memkv_frozen_writer_install_cache(fs->w, entry, &fs->newmeta);
	entry->freezing = false;
	entry->freeze_direct = false;
	entry->epoch = fs->newmeta.epoch;
	if (fs->direct)
	{
		/* the (empty) trees mirror the log from the boundary */
		entry->instance_id = fs->newmeta.instance_id;
		entry->resume_blkno = entry->freeze_blkno;
		entry->resume_offset = entry->freeze_offset;
		entry->valid = true;
	}
	fs->old_log_head = fs->meta.log_head;
	fs->boundary = entry->freeze_blkno;
	if (fs->stats)
		fs->kept += entry->keys.ntids + entry->nulls.ntids;
	memkv_entry_release(entry);
	INSTR_TIME_SET_CURRENT(fs->t_switched);
}

/*
 * After the switch, clean up: free the set-aside trees, retire
 * the old log pages before the boundary and what the new run did not use
 * of the previous spare region.  Needs no entry lock, so inserts and scans
 * go on meanwhile; caller holds the metapage lock, which keeps the next
 * freeze and amvacuumcleanup away from these pages.
 */
static void
memkv_freeze_retire(MemkvFreezeState *fs)
{
	/* no one references the set-aside trees any more: free them */
	art_free_all(&fs->old_keys, memkv_allocator());
	art_free_all(&fs->old_nulls, memkv_allocator());

	/*
	 * The old log up to the boundary is unreachable: free it.  None of its
	 * pages is in the free space map before we free it, so no append can
	 * link one meanwhile.  So is the old run: every batch that read the
	 * old directory ended before the switch got the entry lock.
	 */
	fs->report.pages_freed = memkv_delete_log(fs->index, fs->old_log_head,
											  fs->boundary);
	if (fs->old_run_blocks)
		fs->report.pages_freed += memkv_delete_run(fs->index,
												   fs->old_run_blocks,
												   fs->old_run_nblocks,
												   fs->old_run_tag);
	IndexFreeSpaceMapVacuum(fs->index);
	INSTR_TIME_SET_CURRENT(fs->t_end);
}

/*
 * Merge the frozen layer and the delta of `index` into a new frozen
 * layer.  With `dead`, TIDs it reports dead are left out (VACUUM), and
 * *stats is filled in.  `trigger` says who asked, for the figures and the
 * log line memkv_report_layer_op makes of the freeze once it is done.
 *
 * Inserts and scans go on meanwhile: the entry lock is held exclusively
 * only to set the delta trees aside (phase 1) and to switch to the new
 * layer (phase 3).  In between, new entries go to fresh trees and on
 * the log past the boundary; scans read the old frozen layer, the trees
 * set aside, and the fresh ones.  Freezes of one index are serialized by
 * a heavyweight lock on its metapage.  In direct mode (the delta does not
 * fit in shared memory) inserts and scans wait for the whole freeze, on
 * that heavyweight lock (see memkv_open_synced); no LWLock is held across
 * the merge either way.
 */
void
memkv_freeze_index(Relation index, IndexBulkDeleteCallback dead,
				   void *dead_state, IndexBulkDeleteResult *stats,
				   MemkvFreezeTrigger trigger)
{
	MemoryContext oldcxt;
	MemkvFreezeState fs;
	MemkvFreezeCleanup fc;
	WalUsage	wal_start = pgWalUsage;

	memset(&fs, 0, sizeof(fs));
	fs.index = index;
	fs.dead = dead;
	fs.dead_state = dead_state;
	fs.stats = stats;
	fs.direct_end_blkno = InvalidBlockNumber;
	fs.direct_end_offset = InvalidOffsetNumber;
	fs.report.op = "freeze";
	fs.report.trigger = trigger;
	INSTR_TIME_SET_CURRENT(fs.t_start);
	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	fs.cxt = AllocSetContextCreate(CurrentMemoryContext, "memkv freeze",
								   ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(fs.cxt);

	memkv_freeze_set_aside(&fs);

	fc.index = index;
	fc.entry = fs.entry;
	PG_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));
	{
		memkv_freeze_read_inputs(&fs);
		memkv_freeze_merge_write(&fs);
		memkv_freeze_switch(&fs);
	}
	PG_END_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));

	memkv_freeze_retire(&fs);

	elog(DEBUG1, "memkv freeze of \"%s\": %llu keys, %llu TIDs; set aside %.0f ms, merge %.0f ms, write %.0f ms, switch %.0f ms, free %.0f ms",
		 RelationGetRelationName(index),
		 (unsigned long long) fs.newmeta.run_nkeys,
		 (unsigned long long) fs.newmeta.run_ntids,
		 INSTR_TIME_GET_MILLISEC(fs.t_aside) - INSTR_TIME_GET_MILLISEC(fs.t_start),
		 INSTR_TIME_GET_MILLISEC(fs.t_merged) - INSTR_TIME_GET_MILLISEC(fs.t_aside),
		 INSTR_TIME_GET_MILLISEC(fs.t_written) - INSTR_TIME_GET_MILLISEC(fs.t_merged),
		 INSTR_TIME_GET_MILLISEC(fs.t_switched) - INSTR_TIME_GET_MILLISEC(fs.t_written),
		 INSTR_TIME_GET_MILLISEC(fs.t_end) - INSTR_TIME_GET_MILLISEC(fs.t_switched));

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(fs.cxt);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);

	fs.report.out_keys = fs.newmeta.run_nkeys;
	fs.report.out_tids = fs.newmeta.run_ntids;
	fs.report.dead_tids = fs.removed;
	fs.report.pages_written = fs.newmeta.run_npages;
	fs.report.bytes_written = (uint64) fs.newmeta.run_npages * BLCKSZ;
	WalUsageAccumDiff(&fs.report.wal, &pgWalUsage, &wal_start);
	fs.report.elapsed_ms = INSTR_TIME_GET_MILLISEC(fs.t_end) -
		INSTR_TIME_GET_MILLISEC(fs.t_start);
	memkv_report_layer_op(index, &fs.report);

	if (stats)
	{
		stats->tuples_removed += fs.removed;
		stats->num_index_tuples = fs.kept;
		stats->num_pages = RelationGetNumberOfBlocks(index);
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
