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
#include "storage/proc.h"
#include "utils/rel.h"

#include "build.h"
#include "delta.h"
#include "freeze.h"
#include "memkv.h"
#include "memkv_guc.h"
#include "merge.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "stripe.h"

/*
 * Add the key to stripe `s`'s trees (its lock held exclusively), making
 * room as memkv_art_try_insert can.  The stripe is left valid either way:
 * on false nothing changed, and the caller may make room under every
 * stripe lock (memkv_entry_make_room) and try once more.
 */
static bool
memkv_insert_tree(MemkvEntry *entry, int s, bool isnull, const uint8 *key,
				  Size keylen, ItemPointer tid)
{
	MemkvStripe *st = &entry->stripes[s];

	st->valid = false;
	if (memkv_art_try_insert(entry, s, isnull, key, keylen, tid))
		return true;
	/* the trees are intact: only this insert fails */
	st->valid = true;
	return false;
}

/*
 * aminsert: append to the log of the key's stripe and add to its tree,
 * under that stripe's lock held exclusively, so the tree always equals a
 * prefix of the log.  Inserts of keys in other stripes go on meanwhile.
 * If anything fails in between, the stripe is left invalid and the next
 * user rebuilds its trees from its log.
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
	MemkvStripe *st;
	MemkvMetaPageData meta;
	BlockNumber blkno;
	OffsetNumber offnum;
	bool		temp = RelationUsesLocalBuffers(index);
	bool		freeze_now;
	bool		in_memory;
	bool		added = false;
	bool		made_room = false;
	uint32		hash;
	int			s;

	memkv_check_loaded();
	if (!isnull[0])
		memkv_key_bytes(values[0], &key, &keylen, &to_free);
	itup = memkv_form_log_tuple(isnull[0], key, keylen, ht_ctid);
	/* NULL keys are spread over the stripes by backend */
	hash = isnull[0] ? MEMKV_MY_PROC_NUMBER : memkv_key_hash(key, keylen);
	for (;;)
	{
		entry = memkv_open_synced_stripe(index, LW_EXCLUSIVE, &meta,
										 &in_memory, (int64) hash, &s);
		st = &entry->stripes[s];
		if (in_memory)
			added = memkv_insert_tree(entry, s, isnull[0], key, keylen,
									  ht_ctid);
		/*
		 * The entry's copy of its largest run, or the fragments of its
		 * other stripes' trees, may be in the way: make room under every
		 * stripe lock and try once more.
		 */
		if (added || made_room || entry->freezing)
			break;
		memkv_entry_release(entry);
		if (!memkv_entry_make_room(index))
		{
			entry = memkv_open_synced_stripe(index, LW_EXCLUSIVE, &meta,
											 &in_memory, (int64) hash, &s);
			st = &entry->stripes[s];
			break;
		}
		made_room = true;
	}
	if (!added)
	{
		/* no room for the delta, or for this key in it */
		if (!temp || (in_memory && st->keys.ntids + st->nulls.ntids == 0))
			memkv_report_exhausted(index, entry);
		/* a temp index: freeze its delta out of shared memory, retry */
		memkv_entry_release(entry);
		memkv_freeze_index(index, NULL, NULL, NULL, MEMKV_TRIGGER_INSERT);
		entry = memkv_open_synced_stripe(index, LW_EXCLUSIVE, &meta,
										 &in_memory, (int64) hash, &s);
		st = &entry->stripes[s];
		if (!in_memory ||
			!memkv_insert_tree(entry, s, isnull[0], key, keylen, ht_ctid))
			memkv_report_exhausted(index, entry);
	}

	/* testing aid: wait here, the key in the tree, its lock held */
	memkv_debug_pause(memkv_debug_insert_pause_lock);

	/*
	 * The trees mirror the stripe's log up to its tail page, which the
	 * sync read (resume_blkno): the append goes there.
	 */
	st->valid = false;
	memkv_log_append(index, st->resume_blkno, meta.epoch, itup,
					 &blkno, &offnum);
	st->resume_blkno = blkno;
	st->resume_offset = OffsetNumberNext(offnum);
	st->valid = true;
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
