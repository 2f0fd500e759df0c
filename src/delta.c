/*-------------------------------------------------------------------------
 *
 * delta.c
 *	  The durable delta log in the index relation, and keeping the shared
 *	  delta trees in step with it.
 *
 * Every inserted (key, TID) is appended to the log chain of its key's
 * stripe, which starts at the directory's log head of that stripe and
 * ends where its chain ends.  A stripe's shared trees mirror its log up to
 * a recorded position (resume_blkno, resume_offset); memkv_sync() replays
 * whatever the log holds past that position, or rebuilds the trees from
 * the head when the log is a different one (new instance after REINDEX)
 * or the trees were evicted or left half-built by an error.
 * All writes go through GenericXLog, so a standby's log is the primary's,
 * and a standby's trees catch up the same way.
 *
 * The page kinds, the metapage and the checks every page read goes
 * through are in page.c.
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
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "wal.h"

/*
 * Entry `off` of the delta-log page `page` (block `blkno`, which passed
 * memkv_check_page), checked before any byte of it is used: a normal line
 * pointer whose item lies, aligned, between pd_upper and the special
 * space; an IndexTupleData header whose size is the item's length; a key
 * of at most MEMKV_MAX_KEY_BYTES bytes without a zero byte (none for a
 * NULL entry); a heap TID with a valid offset.  Raises the corrupted-index
 * error otherwise.  Every reader of log entries goes through this.  Caller
 * holds a lock on the buffer.
 */
IndexTuple
memkv_log_entry(Relation index, Page page, BlockNumber blkno,
				OffsetNumber off)
{
	PageHeader	phdr = (PageHeader) page;
	ItemId		iid;
	IndexTuple	itup;
	Size		len;
	Size		keylen;

	if (off < FirstOffsetNumber || off > PageGetMaxOffsetNumber(page))
		goto bad;
	iid = PageGetItemId(page, off);
	len = ItemIdGetLength(iid);
	if (!ItemIdIsNormal(iid) ||
		ItemIdGetOffset(iid) < phdr->pd_upper ||
		ItemIdGetOffset(iid) != MAXALIGN(ItemIdGetOffset(iid)) ||
		(Size) ItemIdGetOffset(iid) + len > phdr->pd_special ||
		len < sizeof(IndexTupleData) ||
		len > sizeof(IndexTupleData) + MEMKV_MAX_KEY_BYTES)
		goto bad;
	itup = (IndexTuple) PageGetItem(page, iid);
	if (IndexTupleSize(itup) != len ||
		ItemPointerGetOffsetNumberNoCheck(&itup->t_tid) == InvalidOffsetNumber)
		goto bad;
	keylen = MemkvLogTupleKeyLen(itup);
	if (MemkvLogTupleIsNull(itup) ? keylen != 0 :
		memchr(MemkvLogTupleKey(itup), 0, keylen) != NULL)
		goto bad;
	return itup;

bad:
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("delta log of index \"%s\" has a bad entry at block %u offset %u",
					RelationGetRelationName(index), blkno, off),
			 errhint("Please REINDEX it.")));
	return NULL;				/* keep the compiler quiet */
}

/* Build a log entry in palloc'd memory. */
IndexTuple
memkv_form_log_tuple(bool isnull, const uint8 *key, Size keylen,
					 ItemPointer tid)
{
	Size		size;
	IndexTuple	itup;

	if (isnull)
		keylen = 0;
	size = sizeof(IndexTupleData) + keylen;
	itup = (IndexTuple) palloc0(MAXALIGN(size));
	itup->t_tid = *tid;
	itup->t_info = size | (isnull ? INDEX_NULL_MASK : 0);
	if (keylen > 0)
		memcpy((char *) itup + sizeof(IndexTupleData), key, keylen);
	return itup;
}

/*
 * Append one entry to the tail of a stripe's delta log, WAL-logged,
 * extending the log by a page when the tail is full.  Reports where the
 * entry went.  Caller holds the stripe's lock exclusively, which
 * serializes appends to this log on a primary, and passes the tail page
 * its sync reached, the stripe's resume_blkno (the log's chain ends
 * there: the metapage does not record the tail).  The tail page is checked
 * (memkv_check_page, and that it is the chain's last) before the critical
 * section, so adding the entry cannot fail there.
 */
void
memkv_log_append(Relation index, BlockNumber tail, uint32 epoch,
				 IndexTuple itup, BlockNumber *blkno, OffsetNumber *offnum)
{
	Size		size = IndexTupleSize(itup);
	Buffer		tailbuf;

	if (tail == MEMKV_METAPAGE_BLKNO || tail == InvalidBlockNumber)
		memkv_chain_corrupted(index, tail);
	tailbuf = ReadBuffer(index, tail);
	LockBuffer(tailbuf, BUFFER_LOCK_EXCLUSIVE);
	memkv_check_page(index, tailbuf, BufferGetPage(tailbuf), MEMKV_PAGE_LOG);
	if (MemkvPageGetOpaque(BufferGetPage(tailbuf))->next != InvalidBlockNumber)
	{
		UnlockReleaseBuffer(tailbuf);
		memkv_chain_corrupted(index, tail);
	}

	if (PageGetFreeSpace(BufferGetPage(tailbuf)) >= MAXALIGN(size))
	{
		*offnum = memkv_wal_append(index, tailbuf, itup);
		*blkno = tail;
		UnlockReleaseBuffer(tailbuf);
	}
	else
	{
		Buffer		newbuf = memkv_new_buffer(index, epoch);

		*offnum = memkv_wal_append_page(index, tailbuf, newbuf, epoch, itup);
		*blkno = BufferGetBlockNumber(newbuf);
		UnlockReleaseBuffer(newbuf);
		UnlockReleaseBuffer(tailbuf);
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

		if (!st->valid ||
			st->instance_id != meta.instance_id ||
			st->epoch != meta.epoch)
		{
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
			st->nomem = false;
			st->synced_in_recovery = RecoveryInProgress();
			return true;
		}
		if (r == MEMKV_SYNC_NO_MEMORY)
		{
			/* give the partial trees back; the next sync starts over */
			art_free_all(&st->keys, memkv_allocator());
			art_free_all(&st->nulls, memkv_allocator());
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
						 int *stripe)
{
	MemkvEntry *entry = memkv_entry_lookup(index, 0, mode, hash, stripe);

	if (entry == NULL)
	{
		MemkvMetaPageData *meta = palloc(sizeof(MemkvMetaPageData));

		memkv_read_meta(index, meta);
		entry = memkv_entry_lookup(index, meta->nstripes, mode, hash, stripe);
		pfree(meta);
	}
	return entry;
}

/* The registry entry of `index`, every stripe lock held in `mode`. */
MemkvEntry *
memkv_entry_acquire(Relation index, LWLockMode mode)
{
	return memkv_entry_acquire_hash(index, mode, -1, NULL);
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
	return memkv_entry_acquire_hash(index, mode, (int64) hash, stripe);
}

/*
 * Make room in the arena for an insert or a sync of `index` that found
 * none with only its own stripe's lock: free the entry's copy of its
 * largest run (memkv_art_try_insert could not take the other stripes'
 * locks at once), and if the index's trees are all that is left in the
 * arena and they are small, free those too -- the arena, empty, starts
 * afresh, without the fragments (see memkv_rebuild_unfragmented, insert.c)
 * -- so that the next user rebuilds them from the logs.  Not while a
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
		Size		trees = 0;
		int			s;

		if (entry->run_copy != ARENA_NULL || entry->run_kb != ARENA_NULL)
		{
			memkv_entry_free_run_copy(entry);
			freed = true;
		}
		for (s = 0; s < entry->nstripes; s++)
			trees += entry->stripes[s].keys.bytes +
				entry->stripes[s].nulls.bytes;
		if (trees > 0 && trees <= memkv_shared->arena_size / 4 &&
			memkv_arena_bytes_used() <= trees)
		{
			for (s = 0; s < entry->nstripes; s++)
			{
				MemkvStripe *st = &entry->stripes[s];

				art_free_all(&st->keys, memkv_allocator());
				art_free_all(&st->nulls, memkv_allocator());
				st->valid = false;
			}
			freed = true;
		}
	}
	memkv_entry_release(entry);
	return freed;
}

/*
 * memkv_entry_acquire (hash < 0: every stripe) or _stripe (the stripe of
 * `hash`, in *stripe), but first wait out a direct-mode freeze of the
 * index: it holds the delta in its own memory only, so no tree can show
 * it and none may be synced past it until its switch.  The wait is on the
 * metapage lock the freeze holds, not on a stripe lock, so a cancel
 * interrupts it and the deadlock detector sees it.
 */
static MemkvEntry *
memkv_entry_acquire_after_freeze(Relation index, LWLockMode mode,
								 int64 hash, int *stripe)
{
	for (;;)
	{
		MemkvEntry *entry;

		if (hash < 0)
		{
			entry = memkv_entry_acquire(index, mode);
			*stripe = 0;
		}
		else
			entry = memkv_entry_acquire_stripe(index, mode, (uint32) hash,
											   stripe);
		if (!entry->freeze_direct)
			return entry;
		memkv_entry_release(entry);
		CHECK_FOR_INTERRUPTS();
		LockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
		UnlockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
	}
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
	if (memkv_sync_try(index, entry, s))
		return;
	if (!entry->freezing && entry->run_copy != ARENA_NULL &&
		!memkv_entry_holds_all(entry, LW_EXCLUSIVE))
	{
		memkv_entry_release(entry);
		(void) memkv_entry_make_room(index);
		*relocked = true;
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
 * memkv_open_synced and its variants: the entry with every stripe lock
 * (hash < 0) or the lock of hash's stripe (in *stripe) held in `mode`,
 * the stripes held synced.
 */
static MemkvEntry *
memkv_open_synced_internal(Relation index, LWLockMode mode,
						   MemkvMetaPageData *meta, bool *in_memory,
						   int64 hash, int *stripe)
{
	MemkvEntry *entry;
	bool		checked_tail = false;
	int			first;

	entry = memkv_entry_acquire_after_freeze(index, mode, hash, &first);
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
													 hash, &first);
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
		entry = memkv_entry_acquire_after_freeze(index, mode, hash, &first);
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
	return memkv_open_synced_internal(index, mode, meta, NULL, -1, NULL);
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
	return memkv_open_synced_internal(index, mode, meta, in_memory, -1, NULL);
}

/*
 * memkv_open_synced_try for one stripe: the one `hash` (memkv_key_hash of
 * a key, or any number for a NULL key) maps to, returned in *stripe, its
 * lock held in `mode`.  Inserts and point lookups use this.
 */
MemkvEntry *
memkv_open_synced_stripe(Relation index, LWLockMode mode,
						 MemkvMetaPageData *meta, bool *in_memory,
						 uint32 hash, int *stripe)
{
	return memkv_open_synced_internal(index, mode, meta, in_memory,
									  (int64) hash, stripe);
}

/*
 * Raise the error for a log page that replay freed and reused while a
 * reader without the entry lock followed the chain (standby only, where
 * the log is read instead of a delta too big for shared memory): the
 * query may simply be retried.
 */
static void
memkv_log_raced(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("memkv index \"%s\" was reorganized by recovery while its delta log was being read",
					RelationGetRelationName(index)),
			 errhint("Retry the query.")));
}

/*
 * Start a walk along the log chain from entry `head_offset` of page `head`,
 * accepting pages tagged with `epoch` or earlier.  With `track_pages`, the
 * walk marks the pages it reads in walk->in_chain (palloc'd, grown with
 * the relation), and a page read twice is a cycle.
 */
void
memkv_log_walk_start(MemkvLogWalk *walk, BlockNumber head,
					 OffsetNumber head_offset, uint32 epoch, bool track_pages)
{
	memset(walk, 0, sizeof(MemkvLogWalk));
	walk->next = head;
	walk->next_offset = head_offset;
	walk->epoch = epoch;
	walk->last = InvalidBlockNumber;
	walk->track_pages = track_pages;
}

/*
 * Go on with `walk` for at most `maxpages` pages (InvalidBlockNumber: no
 * limit), checking every page (memkv_check_page, epoch at most the walk's)
 * and every entry (memkv_log_entry) before use, and calling `visit` (if
 * not NULL) for each entry.  The walk is bounded by the relation's size,
 * so a `next` cycle is an error, not a loop.  Returns true once the page
 * read last has no `next`: the walk reached the end of the chain as it was
 * then.  A walk may be resumed under another lock hold: pages before the
 * tail never change while the metapage names the same epoch.  Caller holds
 * whatever keeps the chain's pages from being retired.
 */
bool
memkv_log_walk_pages(Relation index, MemkvLogWalk *walk, BlockNumber maxpages,
					 void (*visit) (IndexTuple itup, void *arg), void *arg)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber read = 0;

	if (walk->track_pages && walk->in_chain_len < nblocks)
	{
		if (walk->in_chain == NULL)
			walk->in_chain = palloc0(sizeof(bool) * nblocks);
		else
		{
			walk->in_chain = repalloc(walk->in_chain, sizeof(bool) * nblocks);
			memset(walk->in_chain + walk->in_chain_len, 0,
				   sizeof(bool) * (nblocks - walk->in_chain_len));
		}
		walk->in_chain_len = nblocks;
	}

	while (walk->next != InvalidBlockNumber &&
		   (maxpages == InvalidBlockNumber || read < maxpages))
	{
		BlockNumber blkno = walk->next;
		Buffer		buf;
		Page		page;
		OffsetNumber off,
					maxoff;

		/* long walks answer a cancel; a no-op under the entry lock */
		CHECK_FOR_INTERRUPTS();
		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= nblocks ||
			++walk->visited > nblocks ||
			(walk->track_pages && walk->in_chain[blkno]))
			memkv_chain_corrupted(index, blkno);
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (RecoveryInProgress() &&
			(!MemkvPageHasOpaque(page) ||
			 MemkvPageGetOpaque(page)->page_id != MEMKV_PAGE_ID ||
			 (MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_LOG) == 0 ||
			 MemkvPageGetOpaque(page)->epoch > walk->epoch))
		{
			/* replay freed and reused the page under us: retry the query */
			UnlockReleaseBuffer(buf);
			memkv_log_raced(index);
		}
		memkv_check_page(index, buf, page, MEMKV_PAGE_LOG);
		if (MemkvPageGetOpaque(page)->epoch > walk->epoch)
			memkv_chain_corrupted(index, blkno);
		if (walk->track_pages)
			walk->in_chain[blkno] = true;
		maxoff = PageGetMaxOffsetNumber(page);
		off = walk->next_offset;
		if (off > OffsetNumberNext(maxoff))
			memkv_chain_corrupted(index, blkno);
		for (; off <= maxoff; off++)
		{
			IndexTuple	itup = memkv_log_entry(index, page, blkno, off);

			walk->count++;
			if (visit)
				visit(itup, arg);
		}
		walk->last = blkno;
		walk->last_end = off;
		walk->next = MemkvPageGetOpaque(page)->next;
		walk->next_offset = FirstOffsetNumber;
		UnlockReleaseBuffer(buf);
		read++;
	}
	return walk->next == InvalidBlockNumber;
}

/*
 * Walk the log chain from entry `head_offset` of page `head` in one go
 * (memkv_log_walk_pages with no limit).  For each entry call `visit` (if
 * not NULL); mark chain pages in `in_chain` (if not NULL, as long as the
 * relation's size when this is called).  Returns the number of entries.
 */
uint64
memkv_walk_log(Relation index, BlockNumber head, OffsetNumber head_offset,
			   uint32 epoch,
			   void (*visit) (IndexTuple itup, void *arg), void *arg,
			   bool *in_chain)
{
	MemkvLogWalk walk;

	memkv_log_walk_start(&walk, head, head_offset, epoch, in_chain != NULL);
	if (in_chain)
	{
		/* the caller's array: the walk does not grow it */
		walk.in_chain = in_chain;
		walk.in_chain_len = RelationGetNumberOfBlocks(index);
	}
	(void) memkv_log_walk_pages(index, &walk, InvalidBlockNumber, visit, arg);
	return walk.count;
}

/*
 * Delete the log pages from `head` up to, not including, `stop`; returns
 * how many.
 */
BlockNumber
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
