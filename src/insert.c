/*-------------------------------------------------------------------------
 *
 * insert.c
 *	  aminsert: one new (key, TID) goes to the durable delta log and to the
 *	  index's shared delta tree.  (The key checks it shares with CREATE
 *	  INDEX, memkv_key_bytes, are in build.c.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

#include "build.h"
#include "delta.h"
#include "freeze.h"
#include "memkv.h"
#include "merge.h"
#include "page.h"
#include "registry.h"
#include "request.h"

/*
 * An insert found no room even after freeing its own run copy and evicting
 * every other index's trees:
 * the arena may be full of free blocks too small for the allocation (it
 * splits larger blocks but never merges smaller ones; it starts afresh
 * only once nothing at all is allocated).  If this entry's own trees are
 * all that may still hold memory, and they are small, give them back --
 * which empties the arena -- and rebuild them from the log, laid out
 * afresh.  Returns true if the entry is valid again (the caller then
 * retries its insert); false leaves it invalid (the next user rebuilds
 * it).  Not while a freeze runs: its set-aside trees hold memory the
 * freeze reads without the entry lock.  Caller holds the entry lock
 * exclusively.
 */
static bool
memkv_rebuild_unfragmented(Relation index, MemkvEntry *entry)
{
	if (entry->freezing ||
		entry->keys.bytes + entry->nulls.bytes > memkv_shared->arena_size / 4 ||
		memkv_arena_bytes_used() > entry->keys.bytes + entry->nulls.bytes)
		return false;
	entry->valid = false;		/* memkv_sync_try frees the trees first */
	return memkv_sync_try(index, entry);
}

/*
 * aminsert: append to the log and add to the tree, under the index's
 * entry lock held exclusively, so the tree always equals a prefix of the
 * log.  If anything fails in between, the entry is left invalid and the
 * next user rebuilds the tree from the log.
 *
 * A temp index is frozen here, by its owner, once past its threshold (no
 * background worker can read it), and when its delta no longer fits in
 * shared memory: then the insert is retried once after the freeze.
 */
bool
memkv_insert(Relation index, Datum *values, bool *isnull,
			 ItemPointer ht_ctid, Relation heapRel,
			 IndexUniqueCheck checkUnique, bool indexUnchanged,
			 IndexInfo *indexInfo)
{
	const uint8 *key = NULL;
	Size		keylen = 0;
	text	   *to_free = NULL;
	IndexTuple	itup;
	MemkvEntry *entry;
	MemkvMetaPageData meta;
	BlockNumber blkno;
	OffsetNumber offnum;
	bool		temp = RelationUsesLocalBuffers(index);
	bool		freeze_now;
	bool		in_memory;
	bool		added = false;

	memkv_check_loaded();
	if (!isnull[0])
		memkv_key_bytes(values[0], &key, &keylen, &to_free);
	itup = memkv_form_log_tuple(isnull[0], key, keylen, ht_ctid);

	entry = memkv_open_synced_try(index, LW_EXCLUSIVE, &meta, &in_memory);
	if (in_memory)
	{
		/*
		 * The trees mirror the log up to its tail page, which the sync read
		 * (entry->resume_blkno): the append goes there.
		 */
		entry->valid = false;
		if (memkv_art_try_insert(entry, isnull[0], key, keylen, ht_ctid))
			added = true;
		else
		{
			/* the trees are intact: only this insert fails */
			entry->valid = true;
			if (memkv_rebuild_unfragmented(index, entry))
			{
				entry->valid = false;
				if (memkv_art_try_insert(entry, isnull[0], key, keylen, ht_ctid))
					added = true;
				else
					entry->valid = true;
			}
		}
	}
	if (!added)
	{
		/* no room for the delta, or for this key in it */
		if (!temp || (in_memory && entry->keys.ntids + entry->nulls.ntids == 0))
			memkv_report_exhausted(index, entry);
		/* a temp index: freeze its delta out of shared memory, retry */
		memkv_entry_release(entry);
		memkv_freeze_index(index, NULL, NULL, NULL, MEMKV_TRIGGER_INSERT);
		entry = memkv_open_synced(index, LW_EXCLUSIVE, &meta);
		entry->valid = false;
		if (!memkv_art_try_insert(entry, isnull[0], key, keylen, ht_ctid))
		{
			entry->valid = true;
			memkv_report_exhausted(index, entry);
		}
	}
	memkv_log_append(index, entry->resume_blkno, meta.epoch, itup,
					 &blkno, &offnum);
	entry->resume_blkno = blkno;
	entry->resume_offset = OffsetNumberNext(offnum);
	entry->valid = true;
	freeze_now = memkv_maybe_request_freeze(index, entry);
	memkv_entry_release(entry);

	/* a temp index past its threshold: its owner freezes it */
	if (freeze_now)
		memkv_freeze_index(index, NULL, NULL, NULL, MEMKV_TRIGGER_INSERT);

	pfree(itup);
	if (to_free)
		pfree(to_free);
	return false;
}
