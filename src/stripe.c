/*-------------------------------------------------------------------------
 *
 * stripe.c
 *	  Keeping a registry entry's stripes in step with their delta logs:
 *	  finding the entry and taking its stripe locks, syncing a stripe's
 *	  trees with its log, and making room in the arena for them.
 *
 * A stripe's shared trees mirror its log up to a recorded position
 * (resume_blkno, resume_offset); memkv_sync_try() replays whatever the log
 * holds past that position, or rebuilds the trees from the head when the
 * log is a different one (new instance after REINDEX, a new epoch after a
 * switch the trees missed) or the trees were evicted or left half-built by
 * an error.  memkv_open_synced() and its variants hand a caller the entry
 * with the stripes it needs locked and current.  The log pages themselves
 * are delta.c's.  See src/README, "Stripes and inserts" and "Locking".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

#include "delta.h"
#include "limbo.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "stripe.h"

/*
 * Must stripe `st`'s trees be rebuilt from the head of the log `meta`
 * describes -- they were freed or left half-built, or mirror another log
 * -- rather than only brought up to date past their resume position?
 * For a holder of the stripe's lock (`valid` is cleared by every insert
 * while it works).
 */
static bool
memkv_stripe_stale(const MemkvStripe *st, const MemkvMetaPageData *meta)
{
	return !st->valid || !st->loaded ||
		st->instance_id != meta->instance_id || st->epoch != meta->epoch;
}

/*
 * Add one (key, TID) to the trees of stripe `stripe`, making room if the
 * arena is full: first by freeing the entry's own copy of its largest run
 * (memkv_entry_try_free_run_copy), then by evicting other indexes' trees
 * and copies.  Caller holds the stripe's lock exclusively.  Returns
 * false, with the trees unchanged, if there is still no room
 * (memkv_entry_make_room then frees a copy that was in the way).  Blocks
 * the insert replaces go to this backend's node limbo (limbo.c), not
 * back to the arena: scans may be reading them.
 */
bool
memkv_art_try_insert(MemkvEntry *entry, int stripe, bool isnull,
					 const uint8 *key, Size keylen, ItemPointer tid)
{
	MemkvStripe *st = &entry->stripes[stripe];
	ArtTree    *tree = isnull ? &st->nulls : &st->keys;
	ArtTid		atid;

	StaticAssertStmt(sizeof(ArtTid) == sizeof(ItemPointerData),
					 "ArtTid must match ItemPointerData");
	memcpy(&atid, tid, sizeof(atid));
	if (isnull)
		keylen = 0;

	for (;;)
	{
		ArtResult	r = art_insert(tree, memkv_allocator(), key, keylen,
								   &atid);

		if (r == ART_OK)
			return true;
		if (r == ART_BAD_KEY)
			elog(ERROR, "memkv: key of %zu bytes rejected by the delta tree",
				 keylen);
		if (memkv_entry_try_free_run_copy(entry, stripe))
			continue;
		if (!memkv_evict_one(entry))
			return false;
	}
}

/*
 * Replay stripe `s`'s log into its trees from its resume position to the
 * end.  Returns MEMKV_SYNC_RACED if a page turned out not to belong to
 * the stripe's epoch, which happens only in recovery when replay freed
 * and reused a page while we read it; the caller then starts over.
 */
typedef enum MemkvSyncResult
{
	MEMKV_SYNC_DONE,
	MEMKV_SYNC_RACED,			/* replay rewrote the log under us */
	MEMKV_SYNC_NO_MEMORY		/* the delta does not fit in the arena */
} MemkvSyncResult;

static MemkvSyncResult
memkv_sync_from_position(Relation index, MemkvEntry *entry, int s)
{
	MemkvStripe *st = &entry->stripes[s];
	BlockNumber blkno = st->resume_blkno;
	OffsetNumber off = st->resume_offset;
	BlockNumber npages = RelationGetNumberOfBlocks(index);
	BlockNumber visited = 0;

	for (;;)
	{
		Buffer		buf;
		Page		page;
		MemkvPageOpaque opaque;
		OffsetNumber maxoff;
		BlockNumber next;

		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= npages ||
			++visited > npages)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("delta log of index \"%s\" is corrupted near block %u",
							RelationGetRelationName(index), blkno),
					 errhint("Please REINDEX it.")));

		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		opaque = MemkvPageGetOpaque(page);
		if (!MemkvPageHasOpaque(page) || opaque->page_id != MEMKV_PAGE_ID ||
			(opaque->flags & MEMKV_PAGE_LOG) == 0 ||
			opaque->epoch > st->epoch)
		{
			UnlockReleaseBuffer(buf);
			if (RecoveryInProgress())
				return MEMKV_SYNC_RACED;
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("delta log of index \"%s\" is corrupted at block %u",
							RelationGetRelationName(index), blkno),
					 errhint("Please REINDEX it.")));
		}

		memkv_check_page(index, buf, page, MEMKV_PAGE_LOG);
		maxoff = PageGetMaxOffsetNumber(page);
		/* a resume position never lies past the end of its page */
		if (off > OffsetNumberNext(maxoff))
			memkv_chain_corrupted(index, blkno);
		for (; off <= maxoff; off++)
		{
			IndexTuple	itup = memkv_log_entry(index, page, blkno, off);
			Size		keylen = MemkvLogTupleKeyLen(itup);

			if (!memkv_art_try_insert(entry, s, MemkvLogTupleIsNull(itup),
									  MemkvLogTupleKey(itup), keylen,
									  &itup->t_tid))
			{
				UnlockReleaseBuffer(buf);
				return MEMKV_SYNC_NO_MEMORY;
			}
		}
		next = opaque->next;
		UnlockReleaseBuffer(buf);

		if (next == InvalidBlockNumber)
		{
			st->resume_blkno = blkno;
			st->resume_offset = off;
			return MEMKV_SYNC_DONE;
		}
		blkno = next;
		off = FirstOffsetNumber;
		st->resume_blkno = blkno;
		st->resume_offset = off;
	}
}

/*
 * Bring stripe `s`'s trees in step with its delta log: replay what was
 * appended since the last sync, or rebuild from scratch when the log is
 * not the one the trees were built from.  Caller holds the stripe's lock
 * exclusively.  Returns true with the stripe valid, or false (stripe left
 * invalid) if its delta does not fit in shared memory -- at once, without
 * reading the log, if the same log did not fit before and the arena has
 * no more room now than it had then.
 */
bool
memkv_sync_try(Relation index, MemkvEntry *entry, int s)
{
	MemkvStripe *st = &entry->stripes[s];
	int			attempt;

	for (attempt = 0;; attempt++)
	{
		MemkvMetaPageData meta;
		MemkvSyncResult r;

		memkv_read_meta(index, &meta);

		/*
		 * This log did not fit the last time, after evicting every other
		 * tree that could be: don't evict them all again (and read the
		 * whole log) for nothing, unless the arena has more room now than
		 * it had then.
		 */
		if (!st->valid && st->nomem &&
			st->nomem_instance == meta.instance_id &&
			st->nomem_epoch == meta.epoch &&
			memkv_shared->arena_size - memkv_arena_bytes_used() <=
			st->nomem_free)
			return false;

		if (memkv_stripe_stale(st, &meta))
		{
			/* scans may be reading the trees without the stripe lock */
			if (!LWLockHeldByMeInMode(memkv_runs_lock(entry), LW_EXCLUSIVE))
				elog(ERROR, "memkv: stripe %d of \"%s\" rebuilt without its runs lock",
					 s, RelationGetRelationName(index));
			st->loaded = false;
			art_free_all(&st->keys, memkv_allocator());
			art_free_all(&st->nulls, memkv_allocator());
			st->instance_id = meta.instance_id;
			st->epoch = meta.epoch;
			/* while a freeze runs, older entries are in the imm trees */
			st->resume_blkno = entry->freezing ?
				st->freeze_blkno : meta.log_head[s];
			st->resume_offset = entry->freezing ?
				st->freeze_offset : meta.log_head_offset[s];
		}
		st->valid = false;
		r = memkv_sync_from_position(index, entry, s);
		if (r == MEMKV_SYNC_DONE)
		{
			st->valid = true;
			st->loaded = true;
			st->nomem = false;
			st->synced_in_recovery = RecoveryInProgress();
			return true;
		}
		if (r == MEMKV_SYNC_NO_MEMORY)
		{
			/*
			 * Give the partial trees back; the next sync starts over.  Only
			 * under the runs lock: else (a sync past a replayed tail) the
			 * trees stay, invalid, for the next holder of it to rebuild.
			 */
			if (!LWLockHeldByMeInMode(memkv_runs_lock(entry), LW_EXCLUSIVE))
				return false;
			st->loaded = false;
			art_free_all(&st->keys, memkv_allocator());
			art_free_all(&st->nulls, memkv_allocator());
			memkv_limbo_flush();
			st->nomem = true;
			st->nomem_instance = meta.instance_id;
			st->nomem_epoch = meta.epoch;
			st->nomem_free = memkv_shared->arena_size -
				memkv_arena_bytes_used();
			return false;
		}
		if (attempt >= 1000)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("could not read a consistent delta log of index \"%s\"",
							RelationGetRelationName(index)),
					 errhint("Please REINDEX it.")));
	}
}

/*
 * Sync every stripe of an entry whose locks are all held exclusively
 * (memkv_sync_try on each); false as soon as one does not fit.
 */
bool
memkv_sync_all_try(Relation index, MemkvEntry *entry)
{
	int			s;

	for (s = 0; s < entry->nstripes; s++)
		if (!memkv_sync_try(index, entry, s))
			return false;
	return true;
}

/*
 * Does stripe `s`'s log hold entries past the stripe's resume position,
 * or is it a different log altogether?
 */
static bool
memkv_log_has_more(Relation index, MemkvStripe *st)
{
	Buffer		buf;
	Page		page;
	MemkvPageOpaque opaque;
	bool		more;

	if (st->resume_blkno == MEMKV_METAPAGE_BLKNO ||
		st->resume_blkno >= RelationGetNumberOfBlocks(index))
		return true;
	buf = ReadBuffer(index, st->resume_blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	opaque = MemkvPageGetOpaque(page);
	more = !MemkvPageHasOpaque(page) ||
		opaque->page_id != MEMKV_PAGE_ID ||
		(opaque->flags & MEMKV_PAGE_LOG) == 0 ||
		opaque->epoch > st->epoch ||
		opaque->next != InvalidBlockNumber ||
		PageGetMaxOffsetNumber(page) >= st->resume_offset;
	UnlockReleaseBuffer(buf);
	return more;
}

/*
 * The registry entry of `index` (memkv_entry_lookup), given one with the
 * directory's stripe count if it has none, with every stripe lock (hash <
 * 0) or the lock of hash's stripe (in *stripe) held in `mode`.
 */
static MemkvEntry *
memkv_entry_acquire_hash(Relation index, LWLockMode mode, int64 hash,
						 int *stripe, bool runs_only)
{
	MemkvEntry *entry = memkv_entry_lookup(index, 0, mode, hash, stripe,
										   runs_only);

	if (entry == NULL)
	{
		MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));

		memkv_read_meta(index, meta);
		entry = memkv_entry_lookup(index, meta->nstripes, mode, hash, stripe,
								   runs_only);
		pfree(meta);
	}
	return entry;
}

/* The registry entry of `index`, every stripe lock held in `mode`. */
MemkvEntry *
memkv_entry_acquire(Relation index, LWLockMode mode)
{
	return memkv_entry_acquire_hash(index, mode, -1, NULL, false);
}

/*
 * The registry entry of `index` with only its runs lock held in `mode`:
 * enough to change the run copy and its key blocks, which scans read
 * under the runs lock and inserts do not read at all.
 */
MemkvEntry *
memkv_entry_acquire_runs(Relation index, LWLockMode mode)
{
	return memkv_entry_acquire_hash(index, mode, -1, NULL, true);
}

/*
 * The registry entry of `index` with the lock of one stripe held in
 * `mode`: hash mod the index's stripe count (memkv_key_hash of a key, or
 * the backend's number for a NULL key), returned in *stripe.
 */
MemkvEntry *
memkv_entry_acquire_stripe(Relation index, LWLockMode mode, uint32 hash,
						   int *stripe)
{
	return memkv_entry_acquire_hash(index, mode, (int64) hash, stripe, false);
}

/*
 * Make room in the arena for an insert or a sync of `index` that found
 * none with only its own stripe's lock: free the entry's copy of its
 * largest run (memkv_art_try_insert could not take the other stripes'
 * locks at once), and if the index's trees are all that is left in the
 * arena and they are small, free those too -- so that the next user
 * rebuilds them from the logs: the arena splits larger free blocks but
 * never merges smaller ones, and only an empty arena starts afresh,
 * without the fragments that made the allocation fail.  Not while a
 * freeze runs (it reads both without the locks).  Takes and releases
 * every stripe lock; the caller holds none.  Returns true if anything was
 * freed.
 */
bool
memkv_entry_make_room(Relation index)
{
	MemkvEntry *entry = memkv_entry_acquire(index, LW_EXCLUSIVE);
	bool		freed = false;

	if (!entry->freezing)
	{
		uint64		ntids;
		uint64		trees;
		int			s;

		if (entry->run_copy != ARENA_NULL || entry->run_kb != ARENA_NULL)
		{
			memkv_entry_free_run_copy(entry);
			freed = true;
		}
		/* nodes this backend replaced count as in use until given back */
		memkv_limbo_flush();
		memkv_entry_delta_size(entry, &ntids, &trees);
		if (trees > 0 && trees <= memkv_shared->arena_size / 4 &&
			memkv_arena_bytes_used() <= trees)
		{
			for (s = 0; s < entry->nstripes; s++)
			{
				MemkvStripe *st = &entry->stripes[s];

				art_free_all(&st->keys, memkv_allocator());
				art_free_all(&st->nulls, memkv_allocator());
				st->valid = false;
				st->loaded = false;
			}
			freed = true;
		}
	}
	memkv_entry_release(entry);
	return freed;
}

/*
 * memkv_entry_acquire (hash < 0: every stripe) or _stripe (the stripe of
 * `hash`, in *stripe), or with `runs_only` just the runs lock (shared;
 * *stripe is still set), but first wait out a direct-mode freeze of the
 * index: it holds the delta in its own memory only, so no tree can show
 * it and none may be synced past it until its switch.  The wait is on the
 * metapage lock the freeze holds, not on a stripe lock, so a cancel
 * interrupts it and the deadlock detector sees it.
 */
static MemkvEntry *
memkv_entry_acquire_after_freeze(Relation index, LWLockMode mode,
								 int64 hash, int *stripe, bool runs_only)
{
	for (;;)
	{
		MemkvEntry *entry;

		entry = memkv_entry_acquire_hash(index, mode, hash, stripe,
										 runs_only);
		if (!entry->freeze_direct)
			return entry;
		memkv_entry_release(entry);
		CHECK_FOR_INTERRUPTS();
		LockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
		UnlockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
	}
}

/* memkv_stripe_stale against the directory as it is now. */
static bool
memkv_stripe_needs_rebuild(Relation index, const MemkvStripe *st)
{
	MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));
	bool		rebuild;

	memkv_read_meta(index, meta);
	rebuild = memkv_stripe_stale(st, meta);
	pfree(meta);
	return rebuild;
}

/*
 * May a scan batch read stripe `st`'s trees holding only the entry's runs
 * lock (shared) and its guard?  Yes on a primary if they hold the log
 * `meta` describes (`loaded`: only changed under the runs lock held
 * exclusively) and were not synced while replay appended (then only the
 * stripe's lock may bring in what the log holds past them).  An insert
 * under way does not matter: its transaction has not committed, so
 * whether its key is there yet changes no answer.
 */
static bool
memkv_stripe_readable(const MemkvStripe *st, const MemkvMetaPageData *meta)
{
	return st->loaded && !st->synced_in_recovery &&
		st->instance_id == meta->instance_id && st->epoch == meta->epoch;
}

/* Are stripes [first, first + count) all readable so, and is this a primary? */
static bool
memkv_stripes_readable(MemkvEntry *entry, int first, int count,
					   const MemkvMetaPageData *meta)
{
	int			s;

	if (RecoveryInProgress())
		return false;
	for (s = first; s < first + count; s++)
		if (!memkv_stripe_readable(&entry->stripes[s], meta))
			return false;
	return true;
}

/*
 * Sync stripe `s` of an entry whose lock on it is held exclusively.  If
 * its delta does not fit in shared memory: first free the entry's copy of
 * its largest run if there is one (that needs every stripe lock, so the
 * caller's are released and *relocked set: the caller starts over);
 * then, with `in_memory`, set *in_memory to false and ask for a freeze
 * (the caller reads the log instead); without it, raise the shared-memory
 * error.
 */
static void
memkv_sync_or_report(Relation index, MemkvEntry *entry, int s,
					 bool *in_memory, bool *relocked)
{
	bool		all = memkv_entry_holds_all(entry, LW_EXCLUSIVE);

	/*
	 * A rebuild frees the trees, which scans read without the stripe
	 * lock: it needs the runs lock too, so it takes every lock of the
	 * entry (a restart, an eviction or a failed insert: rare).
	 */
	if (!all && memkv_stripe_needs_rebuild(index, &entry->stripes[s]))
	{
		MemkvEntry *whole;
		bool		again = false;
		int			first;

		memkv_entry_release(entry);
		whole = memkv_entry_acquire_after_freeze(index, LW_EXCLUSIVE, -1,
												 &first, false);
		if (s < whole->nstripes)
			memkv_sync_or_report(index, whole, s, in_memory, &again);
		if (!again)
			memkv_entry_release(whole);
		*relocked = true;
		return;
	}
	if (memkv_sync_try(index, entry, s))
		return;
	if (!entry->freezing &&
		(entry->run_copy != ARENA_NULL || entry->run_kb != ARENA_NULL))
	{
		if (!all)
		{
			memkv_entry_release(entry);
			(void) memkv_entry_make_room(index);
			*relocked = true;
			return;
		}
		/* the copy is in the way, and every lock is ours: free it here */
		memkv_entry_free_run_copy(entry);
		if (memkv_sync_try(index, entry, s))
			return;
	}
	if (in_memory == NULL)
		memkv_report_exhausted(index, entry);
	memkv_request_freeze(index, entry, true);
	*in_memory = false;
}

/*
 * Is stripe `s` of the entry (its lock held) current with the log `meta`
 * describes?  On a primary only a backend holding the stripe's lock
 * appends, and it updates the trees too; only stripes synced while replay
 * was appending (on a standby, or before a promotion) can be behind, which
 * a look at the tail page tells, unless the caller just synced
 * (`checked_tail`).
 */
static bool
memkv_stripe_current(Relation index, MemkvStripe *st,
					 const MemkvMetaPageData *meta, bool checked_tail)
{
	return st->valid &&
		st->instance_id == meta->instance_id &&
		st->epoch == meta->epoch &&
		(checked_tail ||
		 (!st->synced_in_recovery && !RecoveryInProgress()) ||
		 !memkv_log_has_more(index, st));
}

/*
 * Take the locks of stripes [first, first + count) of `entry` shared
 * again, in stripe order, for a scan batch that holds the entry's runs
 * lock and let them go to read the runs, and check that those stripes'
 * trees still agree with `meta` (read under them before) -- unless the
 * batch may read them without (memkv_stripe_readable), as on a primary.  No seal or
 * switch can have come in between (both take the runs lock), but an
 * insert that failed half-way leaves its stripe invalid until the next
 * lock holder rebuilds it.  Returns false, holding no stripe lock, if a
 * stripe is not current: the caller starts its batch over.
 */
bool
memkv_stripes_relock(Relation index, MemkvEntry *entry, int first, int count,
					 const MemkvMetaPageData *meta)
{
	int			s;

	Assert(LWLockHeldByMe(memkv_runs_lock(entry)));
	/* on a primary, usually no stripe lock at all (see memkv_fill) */
	if (memkv_stripes_readable(entry, first, count, meta))
		return true;
	for (s = first; s < first + count; s++)
		LWLockAcquire(memkv_stripe_lock(entry, s), LW_SHARED);
	for (s = first; s < first + count; s++)
	{
		if (!memkv_stripe_current(index, &entry->stripes[s], meta, false))
		{
			memkv_entry_release_stripes(entry);
			return false;
		}
	}
	return true;
}

/*
 * memkv_open_synced and its variants: the entry with every stripe lock
 * (hash < 0) or the lock of hash's stripe (in *stripe) held in `mode`,
 * the stripes held synced.
 */
static MemkvEntry *
memkv_open_synced_internal(Relation index, LWLockMode mode,
						   MemkvMetaPageData *meta, bool *in_memory,
						   int64 hash, int *stripe, bool lock_free)
{
	MemkvEntry *entry;
	bool		checked_tail = false;
	int			first;

	/* a scan batch on a primary: the runs lock alone, if that will do */
	if (lock_free && mode == LW_SHARED && !RecoveryInProgress())
	{
		entry = memkv_entry_acquire_after_freeze(index, LW_SHARED, hash,
												 &first, true);
		memkv_read_meta(index, meta);
		if (memkv_stripes_readable(entry, first,
								   hash < 0 ? entry->nstripes : 1, meta))
		{
			/* the checks above before any load of the trees */
			pg_read_barrier();
			if (in_memory)
				*in_memory = true;
			if (stripe)
				*stripe = first;
			return entry;
		}
		memkv_entry_release(entry);
	}

	entry = memkv_entry_acquire_after_freeze(index, mode, hash, &first, false);
	if (in_memory)
		*in_memory = true;
	for (;;)
	{
		int			count = hash < 0 ? entry->nstripes : 1;
		bool		current = true;
		bool		relocked = false;
		int			s;

		memkv_read_meta(index, meta);
		for (s = first; s < first + count && current; s++)
			current = memkv_stripe_current(index, &entry->stripes[s], meta,
										   checked_tail);
		if (current)
			break;

		if (mode == LW_EXCLUSIVE)
		{
			for (s = first; s < first + count && !relocked; s++)
			{
				if (!memkv_stripe_current(index, &entry->stripes[s], meta,
										  false))
					memkv_sync_or_report(index, entry, s, in_memory,
										 &relocked);
				if (in_memory && !*in_memory)
					break;
			}
			if (!relocked)
			{
				memkv_read_meta(index, meta);
				break;
			}
		}
		else
		{
			/* sync under the same stripes held exclusively */
			memkv_entry_release(entry);
			entry = memkv_entry_acquire_after_freeze(index, LW_EXCLUSIVE,
													 hash, &first, false);
			count = hash < 0 ? entry->nstripes : 1;
			for (s = first; s < first + count && !relocked; s++)
			{
				memkv_read_meta(index, meta);
				if (!memkv_stripe_current(index, &entry->stripes[s], meta,
										  false))
					memkv_sync_or_report(index, entry, s, in_memory,
										 &relocked);
				if (in_memory && !*in_memory)
					break;
			}
			if (!relocked)
				memkv_entry_release(entry);
		}
		/* start over in `mode` (the run copy was dropped, or synced) */
		entry = memkv_entry_acquire_after_freeze(index, mode, hash, &first,
												 false);
		if (in_memory && !*in_memory)
		{
			memkv_read_meta(index, meta);
			break;
		}
		if (!relocked)
			checked_tail = true;
	}
	if (stripe)
		*stripe = first;
	return entry;
}

/*
 * Return the index's registry entry with every stripe lock held in
 * `mode`, with trees that hold everything the delta logs held when this
 * was called, and in *meta the metapage those trees agree with (open the
 * frozen layer from it, so that both layers describe the same moment).
 * Raises the shared-memory error if the delta does not fit.
 */
MemkvEntry *
memkv_open_synced(Relation index, LWLockMode mode, MemkvMetaPageData *meta)
{
	return memkv_open_synced_internal(index, mode, meta, NULL, -1, NULL,
									  false);
}

/*
 * memkv_open_synced for readers that can do without the trees: if the
 * delta does not fit in shared memory, return the entry locked in `mode`
 * all the same, with *in_memory false; its trees are then not to be used,
 * and the caller reads the delta from the logs starting at the
 * metapage's heads (or, while the entry is freezing, at the stripes'
 * boundaries: the set-aside trees hold what comes before).  A freeze has
 * been asked for (on a primary).
 */
MemkvEntry *
memkv_open_synced_try(Relation index, LWLockMode mode,
					  MemkvMetaPageData *meta, bool *in_memory)
{
	return memkv_open_synced_internal(index, mode, meta, in_memory, -1, NULL,
									  false);
}

/*
 * memkv_open_synced_try for one stripe: the one `hash` (memkv_key_hash of
 * a key, or any number for a NULL key) maps to, returned in *stripe, its
 * lock held in `mode`; or, for hash -1, every stripe (*stripe is then 0).
 * Inserts and point lookups read one stripe; scans use this either way.
 * Shared, on a primary, it usually takes no stripe lock: only the runs
 * lock, the stripes being readable without (memkv_stripe_readable); the
 * caller reads the trees inside its guard (memkv_guard_tree_enter).
 */
MemkvEntry *
memkv_open_synced_stripe(Relation index, LWLockMode mode,
						 MemkvMetaPageData *meta, bool *in_memory,
						 int64 hash, int *stripe)
{
	*stripe = 0;
	return memkv_open_synced_internal(index, mode, meta, in_memory, hash,
									  stripe, mode == LW_SHARED);
}
