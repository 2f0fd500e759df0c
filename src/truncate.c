/*-------------------------------------------------------------------------
 *
 * truncate.c
 *	  Relation truncation: at the end of amvacuumcleanup's sweep, give the
 *	  index's free tail back to the file system, under an
 *	  AccessExclusiveLock on the index that is only ever taken without
 *	  waiting (src/README, "Relation truncation").
 *
 * The sweep (vacuum.c) knows which pages the directory reaches -- the log
 * chains it walked and the listed runs with their dead lists -- and has
 * marked every other page free.  Here the relation's trailing free pages
 * are counted; if there are enough, the lock is tried for a short while,
 * the tail is counted again under it (an insert may have taken a free
 * page or extended the relation in between) and cut off with
 * RelationTruncate, which WAL-logs the truncation and truncates the free
 * space map too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/storage.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/wait_event.h"

#include "page.h"
#include "truncate.h"

/*
 * The tail must be at least this many pages, and at least 1/16 of the
 * relation, to be worth the lock (heap uses 1000 pages or 1/16).
 */
#define MEMKV_TRUNCATE_MIN_PAGES	8
#define MEMKV_TRUNCATE_FRACTION		16

/*
 * How often and how long to try the lock: 10 tries 50 ms apart, half a
 * second at most, while the merge and freeze locks are held (heap waits
 * up to 5 s, but holds nothing else meanwhile).
 */
#define MEMKV_TRUNCATE_LOCK_TRIES	10
#define MEMKV_TRUNCATE_LOCK_WAIT_MS 50

/* Pages the tail count reads between interrupt and lock-waiter checks. */
#define MEMKV_TRUNCATE_CHECK_PAGES	64

/*
 * Is block blkno free: not on a walked chain or in a run (in_use, which
 * covers the blocks below nwalked), and DELETED or never initialized?  A
 * block at or past nwalked was added after the sweep's walk; only an
 * insert can have added it (the caller holds the merge and freeze locks),
 * and an insert links only pages it has laid out as log pages, so its
 * contents alone tell.  Takes the buffer's share lock for the look.
 */
static bool
memkv_tail_page_is_free(Relation index, BlockNumber blkno,
						const bool *in_use, BlockNumber nwalked)
{
	Buffer		buf;
	bool		free_page;

	if (blkno < nwalked && in_use[blkno])
		return false;
	buf = ReadBuffer(index, blkno);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	free_page = MemkvPageIsFree(BufferGetPage(buf));
	UnlockReleaseBuffer(buf);
	return free_page;
}

/*
 * The first block of the relation's free tail, for a relation of nblocks
 * blocks: counting back from its end while pages are free, never down to
 * the metapage.  With watch_waiters (the caller holds the
 * AccessExclusiveLock), stops early when another backend waits for a lock
 * on the index, setting *cut_short: the pages counted so far are the tail
 * then, so the waiter is held up only briefly (as heap truncation does).
 */
static BlockNumber
memkv_free_tail_start(Relation index, const bool *in_use,
					  BlockNumber nwalked, BlockNumber nblocks,
					  bool watch_waiters, bool *cut_short)
{
	BlockNumber start = nblocks;
	uint32		n = 0;

	while (start > MEMKV_METAPAGE_BLKNO + 1)
	{
		if (++n % MEMKV_TRUNCATE_CHECK_PAGES == 0)
		{
			CHECK_FOR_INTERRUPTS();
			if (watch_waiters &&
				LockHasWaitersRelation(index, AccessExclusiveLock))
			{
				*cut_short = true;
				break;
			}
		}
		if (!memkv_tail_page_is_free(index, start - 1, in_use, nwalked))
			break;
		start--;
	}
	return start;
}

/*
 * Try to take AccessExclusiveLock on the index without ever queueing for
 * it: MEMKV_TRUNCATE_LOCK_TRIES conditional tries, MEMKV_TRUNCATE_LOCK_WAIT_MS
 * apart.  Any other backend with the index open (a scan, an insert, a
 * cursor, a freeze or merge worker: they all hold at least AccessShareLock
 * on it) makes every try fail.  Returns whether the lock is held.
 */
static bool
memkv_truncate_lock(Relation index)
{
	int			tries;

	for (tries = 0; tries < MEMKV_TRUNCATE_LOCK_TRIES; tries++)
	{
		if (ConditionalLockRelation(index, AccessExclusiveLock))
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 MEMKV_TRUNCATE_LOCK_WAIT_MS, WAIT_EVENT_VACUUM_TRUNCATE);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * Truncate the index's free tail if it is long enough, filling *res.
 * in_use[0..nwalked) marks the pages the sweep found in use (chains, runs,
 * dead lists); every other page below nwalked that is not free was left
 * alone by the sweep because an insert linked it in since.
 *
 * Caller holds the merge lock and the freeze lock (no run, dead list or
 * log chain can be replaced or freed meanwhile) and the RowExclusiveLock
 * VACUUM holds on its indexes; no buffer lock or pin.  The
 * AccessExclusiveLock taken here is released before returning (it is
 * WAL-logged, so a standby takes it too, until the transaction ends).
 */
void
memkv_truncate_tail(Relation index, const bool *in_use, BlockNumber nwalked,
					MemkvTruncateResult *res)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber start;
	bool		cut_short = false;

	memset(res, 0, sizeof(MemkvTruncateResult));
	res->old_nblocks = nblocks;
	res->new_nblocks = nblocks;

	/* phase 1: is the tail long enough to be worth the lock? */
	start = memkv_free_tail_start(index, in_use, nwalked, nblocks, false,
								  &cut_short);
	res->free_tail = nblocks - start;
	if (res->free_tail < Max(MEMKV_TRUNCATE_MIN_PAGES,
							 nblocks / MEMKV_TRUNCATE_FRACTION))
		return;

	/*
	 * While VACUUM vacuums other indexes of the table with parallel
	 * workers, the leader, which does memkv's (not parallel) part, is in
	 * parallel mode: taking AccessExclusiveLock would assign an xid for
	 * its WAL record, which parallel mode forbids.
	 */
	if (IsInParallelMode())
	{
		res->parallel = true;
		return;
	}
	res->tried = true;

	/* phase 2: the lock, without queueing */
	if (!memkv_truncate_lock(index))
		return;
	res->locked = true;

	/*
	 * phase 3: count again under the lock (inserts may have taken free
	 * pages or extended the relation before it was granted; none can now)
	 * and cut the tail off.
	 */
	nblocks = RelationGetNumberOfBlocks(index);
	res->old_nblocks = nblocks;
	start = memkv_free_tail_start(index, in_use, nwalked, nblocks, true,
								  &cut_short);
	res->cut_short = cut_short;
	if (start < nblocks)
	{
		RelationTruncate(index, start);
		res->new_nblocks = start;
	}
	else
		res->new_nblocks = nblocks;
	UnlockRelation(index, AccessExclusiveLock);
}
