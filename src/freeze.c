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

#include "access/generic_xlog.h"
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

#include "memkv.h"
#include "delta.h"
#include "memkv_guc.h"
#include "page.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(memkv_freeze);

/* Keys per chunk when streaming a layer into the merge. */
#define MEMKV_FREEZE_CHUNK 4096

/*
 * One input of the merge: a layer read in chunks of keys, each chunk
 * re-seeking strictly after the last key of the previous one.
 */
typedef struct MemkvMergeInput
{
	const ArtTree *tree;		/* a delta tree, or NULL */
	MemkvFrozen *frozen;		/* the frozen layer, or NULL */
	MemkvSource	run;
	Size		pos;			/* next key of run */
	bool		exhausted;		/* no chunk will follow run */
	bytea	   *after;			/* last key of the previous chunk */
} MemkvMergeInput;

static void
memkv_merge_input_init(MemkvMergeInput *in, const ArtTree *tree,
					   MemkvFrozen *frozen)
{
	memset(in, 0, sizeof(MemkvMergeInput));
	in->tree = tree;
	in->frozen = frozen;
	memkv_source_init(&in->run);
	in->exhausted = (tree == NULL && frozen == NULL);
}

/* Make in->run[in->pos] the next key if there is one; false at the end. */
static bool
memkv_merge_input_ready(MemkvMergeInput *in)
{
	ArtBound	lower;

	while (in->pos >= in->run.nkeys)
	{
		if (in->exhausted)
			return false;
		if (in->run.nkeys > 0)
		{
			MemkvSourceKey *last = &in->run.keys[in->run.nkeys - 1];

			if (in->after)
				pfree(in->after);
			in->after = palloc(VARHDRSZ + last->key_len);
			SET_VARSIZE(in->after, VARHDRSZ + last->key_len);
			memcpy(VARDATA(in->after), in->run.keybuf + last->key_offset,
				   last->key_len);
		}
		memkv_source_reset(&in->run);
		in->pos = 0;
		if (in->after)
		{
			lower.key = (const uint8 *) VARDATA(in->after);
			lower.len = VARSIZE(in->after) - VARHDRSZ;
			lower.inclusive = false;
		}
		if (in->tree)
			memkv_source_collect_art(&in->run, in->tree,
								  in->after ? &lower : NULL, NULL, false,
								  MEMKV_FREEZE_CHUNK);
		else
			memkv_frozen_collect(in->frozen, &in->run,
								 in->after ? &lower : NULL, NULL, false,
								 MEMKV_FREEZE_CHUNK);
		in->exhausted = !in->run.stopped;
	}
	return true;
}

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
	GenericXLogState *state = GenericXLogStart(index);
	Page		page = GenericXLogRegisterBuffer(state, buf, 0);

	memkv_init_log_page(page, 0);
	MemkvPageGetOpaque(page)->flags = MEMKV_PAGE_DELETED;
	GenericXLogFinish(state);
	RecordFreeIndexPage(index, BufferGetBlockNumber(buf));
}

/*
 * Delete pages [start, start + n), a retired run's region, as far as the
 * relation reaches (its reserved tail is added without WAL, so after a
 * crash or a promotion the relation may end before it).  Only frozen,
 * deleted or never-initialized pages are deleted: any other page there
 * (the log, reusing a block number the relation lost) and any page of
 * the run tagged `keep_epoch` (the new run, which may start inside the
 * old region's unlogged reserved room) is left alone, so that a damaged
 * or stale spare region never frees live pages.  Returns how many pages
 * it deleted.
 */
static BlockNumber
memkv_delete_range(Relation index, BlockNumber start, BlockNumber n,
				   uint32 keep_epoch)
{
	BlockNumber i;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber deleted = 0;

	for (i = 0; i < n && start + i < nblocks; i++)
	{
		Buffer		buf;
		Page		page;

		if (start + i == MEMKV_METAPAGE_BLKNO)
			continue;
		buf = ReadBuffer(index, start + i);
		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		page = BufferGetPage(buf);
		if (MemkvPageIsFree(page) ||
			(MemkvPageHasOpaque(page) &&
			 MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
			 (MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_FROZEN) != 0 &&
			 MemkvPageGetOpaque(page)->epoch != keep_epoch))
		{
			memkv_delete_page(index, buf);
			deleted++;
		}
		UnlockReleaseBuffer(buf);
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

/* A log entry copied out for sorting. */
typedef struct MemkvLogItem
{
	Size		key_offset;		/* Size: the keys may pass 4 GB */
	uint32		key_len;
	ItemPointerData tid;
} MemkvLogItem;

typedef struct MemkvLogCollect
{
	MemkvLogItem *items;
	uint64		nitems;
	Size		maxitems;
	char	   *keys;
	Size		keys_used;
	Size		keys_size;
	MemkvSource   *nulls;
} MemkvLogCollect;

/* Order log items by key (bytes at `arg` + key_offset), then TID. */
static int
memkv_log_item_cmp(const void *a, const void *b, void *arg)
{
	const MemkvLogItem *x = a;
	const MemkvLogItem *y = b;
	const char *keys = (const char *) arg;
	int			c = memkv_key_cmp((const uint8 *) keys + x->key_offset,
								  x->key_len,
								  (const uint8 *) keys + y->key_offset,
								  y->key_len);

	if (c != 0)
		return c;
	return ItemPointerCompare((ItemPointer) &x->tid, (ItemPointer) &y->tid);
}

/* memkv_walk_log visitor: copy one entry out. */
static void
memkv_collect_log_visit(IndexTuple itup, void *arg)
{
	MemkvLogCollect *lc = (MemkvLogCollect *) arg;
	Size		keylen = MemkvLogTupleKeyLen(itup);
	MemkvLogItem *item;

	if (MemkvLogTupleIsNull(itup))
	{
		memkv_source_add(lc->nulls, NULL, 0, &itup->t_tid, 1);
		return;
	}
	lc->items = memkv_array_reserve(CurrentMemoryContext, lc->items,
									&lc->maxitems, lc->nitems + 1,
									sizeof(MemkvLogItem), 1024);
	lc->keys = memkv_array_reserve(CurrentMemoryContext, lc->keys,
								   &lc->keys_size, lc->keys_used + keylen,
								   1, 65536);
	item = &lc->items[lc->nitems++];
	item->key_offset = lc->keys_used;
	item->key_len = keylen;
	item->tid = itup->t_tid;
	memcpy(lc->keys + lc->keys_used, MemkvLogTupleKey(itup), keylen);
	lc->keys_used += keylen;
}

/*
 * Read the whole delta log into memory, sorted: `run` gets every non-NULL
 * key with its TIDs, `nulls` the NULL key's TIDs; *end_blkno and *end_offset
 * the position just past the last entry.  The arrays go in the current
 * memory context.  Called in a direct-mode freeze, while every user of the
 * entry waits for it, so nothing is appended; or by a scan whose delta
 * does not fit in shared memory (scan.c), holding the entry lock shared
 * (on a primary nothing is appended then either), whose `meta` may start
 * the log at a freeze's boundary.
 */
void
memkv_read_log_run(Relation index, const MemkvMetaPageData *meta,
				   MemkvSource *run, MemkvSource *nulls,
				   BlockNumber *end_blkno, OffsetNumber *end_offset)
{
	MemkvLogCollect lc;
	uint64		i;
	Buffer		buf;

	memkv_source_init(run);
	memkv_source_init(nulls);
	lc.maxitems = 1024;
	lc.items = palloc(lc.maxitems * sizeof(MemkvLogItem));
	lc.nitems = 0;
	lc.keys_size = 65536;
	lc.keys = palloc(lc.keys_size);
	lc.keys_used = 0;
	lc.nulls = nulls;
	memkv_walk_log(index, meta->log_head, meta->log_head_offset, meta->epoch,
				   memkv_collect_log_visit, &lc, NULL);

	/* a cancel must reach a sort of millions of entries */
	qsort_interruptible(lc.items, lc.nitems, sizeof(MemkvLogItem),
						memkv_log_item_cmp, lc.keys);
	for (i = 0; i < lc.nitems;)
	{
		uint64		j = i;

		CHECK_FOR_INTERRUPTS();

		/* one key: its TIDs are adjacent and sorted */
		while (j < lc.nitems && lc.items[j].key_len == lc.items[i].key_len &&
			   memcmp(lc.keys + lc.items[j].key_offset,
					  lc.keys + lc.items[i].key_offset,
					  lc.items[i].key_len) == 0)
			j++;
		memkv_source_add(run, (const uint8 *) lc.keys + lc.items[i].key_offset,
					  lc.items[i].key_len, &lc.items[i].tid, 0);
		for (; i < j; i++)
		{
			run->keys[run->nkeys - 1].ntids++;
			memkv_source_reserve_tids(run, 1);
			run->tids[run->ntids++] = lc.items[i].tid;
		}
	}
	pfree(lc.items);
	pfree(lc.keys);

	memkv_check_meta_blocks(index, meta, RelationGetNumberOfBlocks(index));
	buf = ReadBuffer(index, meta->log_tail);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	memkv_check_page(index, buf, BufferGetPage(buf), MEMKV_PAGE_LOG);
	*end_blkno = meta->log_tail;
	*end_offset = OffsetNumberNext(PageGetMaxOffsetNumber(BufferGetPage(buf)));
	UnlockReleaseBuffer(buf);
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
	MemoryContext cxt;
	MemoryContext oldcxt;
	MemkvMetaPageData meta;
	MemkvMetaPageData newmeta;
	MemkvEntry *entry;
	MemkvFreezeCleanup fc;
	uint64		removed = 0;
	uint64		kept = 0;
	bool		direct;
	bool		from_copy;
	MemkvSource	logrun;
	MemkvSource	lognulls;
	MemkvFrozen *frozen;
	ArtTree		old_keys;
	ArtTree		old_nulls;
	BlockNumber old_log_head;
	BlockNumber boundary;
	BlockNumber old_spare_start;
	uint32		old_spare_npages;
	BlockNumber new_start;
	BlockNumber direct_end_blkno = InvalidBlockNumber;
	OffsetNumber direct_end_offset = InvalidOffsetNumber;
	instr_time	t_start,
				t_aside,
				t_merged,
				t_written,
				t_switched,
				t_end;
	MemkvLayerOpReport report;
	WalUsage	wal_start = pgWalUsage;

	memset(&report, 0, sizeof(report));
	report.op = "freeze";
	report.trigger = trigger;
	INSTR_TIME_SET_CURRENT(t_start);
	LockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);
	cxt = AllocSetContextCreate(CurrentMemoryContext, "memkv freeze",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	/* phase 1: set the delta aside; new writes start at the boundary */
	entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	if (entry->freezing)
		elog(ERROR, "memkv: index \"%s\" is already being frozen",
			 RelationGetRelationName(index));
	direct = !memkv_sync_try(index, entry);
	memkv_read_meta(index, &meta);
	/* the switch keeps log_tail and retires the run and spare region */
	memkv_check_meta_blocks(index, &meta, RelationGetNumberOfBlocks(index));

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
	if (!direct && memkv_run_copy_wanted(entry, &meta) &&
		memkv_arena_bytes_used() + meta.fst_size + meta.postings_size +
		meta.nullpost_size <= memkv_shared->arena_size / 2)
		memkv_run_copy_build(index, entry, &meta);
	frozen = memkv_frozen_open(index, &meta, entry);
	report.instance_id = meta.instance_id;
	report.in_frozen_keys = meta.frozen_nkeys;
	report.in_frozen_tids = meta.frozen_ntids;
	/* read from the shared copy, which was checked against the CRC? */
	from_copy = frozen != NULL && entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == meta.instance_id &&
		entry->run_copy_epoch == meta.frozen_epoch &&
		entry->run_copy_start == meta.frozen_start;
	if (!direct)
	{
		report.in_delta_keys = entry->keys.nkeys;
		report.in_delta_tids = entry->keys.ntids + entry->nulls.ntids;
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

	fc.index = index;
	fc.entry = entry;
	PG_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));
	{
		MemkvFrozenWriter *w;
		MemkvMergeInput delta;
		MemkvMergeInput old;
		MemkvSource	nulls;
		ItemPointerData *tids = NULL;
		uint64		maxtids = 0;
		Buffer		metabuf;
		GenericXLogState *state;
		Page		page;

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

		/* phase 2: merge, without the entry lock; only we touch imm */
		if (direct)
		{
			memkv_read_log_run(index, &meta, &logrun, &lognulls,
							   &direct_end_blkno, &direct_end_offset);
			report.in_delta_keys = logrun.nkeys;
			report.in_delta_tids = logrun.ntids + lognulls.ntids;
		}
		INSTR_TIME_SET_CURRENT(t_aside);

		/*
		 * Reading the old run's pages checks their tags and the FST's
		 * structure, not every byte: check the run against its CRC first
		 * (one sequential read), so that a damaged run is an ERROR here
		 * rather than garbage sealed under the new run's checksum.
		 */
		if (frozen != NULL && !from_copy &&
			!memkv_frozen_checksum_ok(index, &meta))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("frozen layer of index \"%s\" is corrupted: its pages do not match their checksum",
							RelationGetRelationName(index)),
					 errhint("Please REINDEX it.")));
		w = memkv_frozen_writer_begin();
		memkv_frozen_writer_collect_keys(w);
		if (direct)
		{
			memkv_merge_input_init(&delta, NULL, NULL);
			delta.run = logrun;
		}
		else
			memkv_merge_input_init(&delta, &entry->imm_keys, NULL);
		memkv_merge_input_init(&old, NULL, frozen);

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
						MemoryContextAllocHuge(cxt, mul_size(maxtids, sizeof(ItemPointerData)));
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
			removed += memkv_filter_dead(tids, &n, dead, dead_state);
			memkv_sort_tids(tids, &n);
			if (n > 0)
			{
				memkv_frozen_writer_add(w, key, keylen, tids, n);
				kept += n;
			}
		}

		/* the NULL key */
		if (direct)
			nulls = lognulls;
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
		if (frozen)
			memkv_frozen_nulls(frozen, &nulls);
		{
			uint64		n = nulls.ntids;

			removed += memkv_filter_dead(nulls.tids, &n, dead, dead_state);
			memkv_sort_tids(nulls.tids, &n);
			memkv_frozen_writer_add_nulls(w, nulls.tids, n);
			kept += n;
		}
		memkv_frozen_close(frozen);
		INSTR_TIME_SET_CURRENT(t_merged);

		/* new pages at the end of the relation, not yet referenced */
		newmeta = meta;
		memkv_frozen_writer_finish(w, index, meta.epoch + 1, &newmeta, true);
		INSTR_TIME_SET_CURRENT(t_written);

		/*
		 * phase 3: switch.  The log now starts at the boundary; entries
		 * appended since phase 1 stay in it and in the fresh trees.
		 */
		entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
		Assert(entry == fc.entry);
		if (direct)
		{
			/* the log ended there: the boundary is its end */
			entry->freeze_blkno = direct_end_blkno;
			entry->freeze_offset = direct_end_offset;
		}
		memkv_read_meta(index, &meta);
		metabuf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
		LockBuffer(metabuf, BUFFER_LOCK_EXCLUSIVE);
		state = GenericXLogStart(index);
		page = GenericXLogRegisterBuffer(state, metabuf, 0);
		newmeta.epoch = meta.epoch + 1;
		newmeta.spare_start = meta.frozen_start;
		newmeta.spare_npages = meta.frozen_start != InvalidBlockNumber ?
			Max(meta.frozen_alloc, meta.frozen_npages) : 0;
		newmeta.log_head = entry->freeze_blkno;
		newmeta.log_head_offset = entry->freeze_offset;
		newmeta.log_tail = meta.log_tail;
		newmeta.freezes = meta.freezes + 1;
		memcpy(MemkvPageGetMeta(page), &newmeta, sizeof(MemkvMetaPageData));
		GenericXLogFinish(state);
		UnlockReleaseBuffer(metabuf);

		/*
		 * Take the set-aside trees out of the entry; they are freed below,
		 * after the entry lock is released, since inserts wait for it.
		 */
		old_keys = entry->imm_keys;
		old_nulls = entry->imm_nulls;
		memset(&entry->imm_keys, 0, sizeof(ArtTree));
		memset(&entry->imm_nulls, 0, sizeof(ArtTree));
		memkv_run_copy_free(entry);
		/* the new run's shared copy and key blocks, ready for scans */
		memkv_frozen_writer_install_cache(w, entry, &newmeta);
		entry->freezing = false;
		entry->freeze_direct = false;
		entry->epoch = newmeta.epoch;
		if (direct)
		{
			/* the (empty) trees mirror the log from the boundary */
			entry->instance_id = newmeta.instance_id;
			entry->resume_blkno = entry->freeze_blkno;
			entry->resume_offset = entry->freeze_offset;
			entry->valid = true;
		}
		old_log_head = meta.log_head;
		boundary = entry->freeze_blkno;
		old_spare_start = meta.spare_start;
		old_spare_npages = meta.spare_npages;
		new_start = newmeta.frozen_start;
		if (stats)
			kept += entry->keys.ntids + entry->nulls.ntids;
		memkv_entry_release(entry);
		INSTR_TIME_SET_CURRENT(t_switched);
	}
	PG_END_ENSURE_ERROR_CLEANUP(memkv_freeze_cleanup, PointerGetDatum(&fc));

	/*
	 * The switch is done; the rest is cleanup that needs no entry lock, so
	 * inserts and scans go on meanwhile.  The metapage lock, still held,
	 * keeps the next freeze and amvacuumcleanup away from these pages.
	 *
	 * No one references the set-aside trees any more: free them.
	 */
	art_free_all(&old_keys, memkv_allocator());
	art_free_all(&old_nulls, memkv_allocator());

	/*
	 * The old log up to the boundary is unreachable: free it.  None of its
	 * pages is in the free space map before we free it, so no append can
	 * link one meanwhile.  The old run becomes the spare region for the
	 * next freeze's run; what the new run did not use of the previous
	 * spare region is freed (no scan reads it: it was retired by the
	 * previous freeze).
	 */
	report.pages_freed = memkv_delete_log(index, old_log_head, boundary);
	if (old_spare_start != InvalidBlockNumber && new_start != old_spare_start)
		report.pages_freed += memkv_delete_range(index, old_spare_start,
												 old_spare_npages,
												 newmeta.frozen_epoch);
	IndexFreeSpaceMapVacuum(index);
	INSTR_TIME_SET_CURRENT(t_end);

	elog(DEBUG1, "memkv freeze of \"%s\": %llu keys, %llu TIDs; set aside %.0f ms, merge %.0f ms, write %.0f ms, switch %.0f ms, free %.0f ms",
		 RelationGetRelationName(index),
		 (unsigned long long) newmeta.frozen_nkeys,
		 (unsigned long long) newmeta.frozen_ntids,
		 INSTR_TIME_GET_MILLISEC(t_aside) - INSTR_TIME_GET_MILLISEC(t_start),
		 INSTR_TIME_GET_MILLISEC(t_merged) - INSTR_TIME_GET_MILLISEC(t_aside),
		 INSTR_TIME_GET_MILLISEC(t_written) - INSTR_TIME_GET_MILLISEC(t_merged),
		 INSTR_TIME_GET_MILLISEC(t_switched) - INSTR_TIME_GET_MILLISEC(t_written),
		 INSTR_TIME_GET_MILLISEC(t_end) - INSTR_TIME_GET_MILLISEC(t_switched));

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ExclusiveLock);

	report.out_keys = newmeta.frozen_nkeys;
	report.out_tids = newmeta.frozen_ntids;
	report.dead_tids = removed;
	report.pages_written = newmeta.frozen_npages;
	report.bytes_written = (uint64) newmeta.frozen_npages * BLCKSZ;
	WalUsageAccumDiff(&report.wal, &pgWalUsage, &wal_start);
	report.elapsed_ms = INSTR_TIME_GET_MILLISEC(t_end) -
		INSTR_TIME_GET_MILLISEC(t_start);
	memkv_report_layer_op(index, &report);

	if (stats)
	{
		stats->tuples_removed += removed;
		stats->num_index_tuples = kept;
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
