/*-------------------------------------------------------------------------
 *
 * delta.c
 *	  The durable delta log in the index relation, and keeping the shared
 *	  delta trees in step with it.
 *
 * Every inserted (key, TID) is appended to the log chain of its key's
 * stripe, which starts at the directory's log head of that stripe and
 * ends where its chain ends.  This file holds the log's pages: checking
 * and forming entries, appending one, walking a chain, freeing one.
 * Keeping a stripe's shared trees in step with its log is stripe.c's.
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
