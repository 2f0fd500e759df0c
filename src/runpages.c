/*-------------------------------------------------------------------------
 *
 * runpages.c
 *	  The page source: a frozen run's pages read as one byte stream (an
 *	  FstSource), for the run reader (runread.c) and for whole-run reads
 *	  (runcopy.c).
 *
 * A frozen run is one byte stream cut into MEMKV_FROZEN_CHUNK-byte pieces,
 * one per page, in contiguous blocks written in one epoch: the FST image,
 * then the postings image of the keys, then the postings image of the
 * NULL key (see src/README, "Frozen layer").  Pages are read under a
 * buffer share lock (in recovery) or a pin, and checked to be FROZEN pages
 * of the expected epoch, so a reader that raced with the page's reuse
 * notices instead of reading garbage.
 *
 * Callers hold what keeps the run's pages from being retired: on a
 * primary the entry lock (any mode) or the metapage lock of a freeze.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "memkv.h"
#include "page.h"
#include "runpages.h"

/*
 * Unlock and unpin whatever pages the source holds; it may be read again
 * afterwards (it pins pages anew).
 */
void
memkv_page_source_release(MemkvPageSource *ps)
{
	int			i;

	if (BufferIsValid(ps->locked))
		LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
	ps->locked = InvalidBuffer;
	/* a source read from the shared copy never pinned anything */
	if (ps->npinned == 0)
		return;
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		if (BufferIsValid(ps->pins[i]))
			ReleaseBuffer(ps->pins[i]);
		ps->pins[i] = InvalidBuffer;
		ps->pinned[i] = InvalidBlockNumber;
	}
	ps->npinned = 0;
}

/* Is this page a frozen page of our run? */
static bool
memkv_page_is_ours(MemkvPageSource *ps, Page page)
{
	MemkvPageOpaque opaque = MemkvPageGetOpaque(page);

	return MemkvPageHasOpaque(page) && opaque->page_id == MEMKV_PAGE_ID &&
		(opaque->flags & MEMKV_PAGE_FROZEN) != 0 &&
		opaque->epoch == ps->epoch;
}

/* The contents of page `idx` of the run; NULL (and failed set) if not ours. */
const uint8 *
memkv_page_source_page(MemkvPageSource *ps, uint64 idx)
{
	BlockNumber blkno = ps->start + (BlockNumber) idx;
	Buffer		buf = InvalidBuffer;
	Page		page;
	int			i;

	if (idx >= ps->npages)
	{
		ps->failed = true;
		return NULL;
	}
	/* most reads stay on the page of the previous one */
	if (ps->pinned[ps->last] == blkno && ps->locked == ps->pins[ps->last])
		return (const uint8 *) PageGetContents(BufferGetPage(ps->pins[ps->last]));
	if (ps->pinned[ps->last] == blkno && !ps->lock_pages)
		return (const uint8 *) PageGetContents(BufferGetPage(ps->pins[ps->last]));
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		if (ps->pinned[i] == blkno)
		{
			buf = ps->pins[i];
			ps->last = i;
			break;
		}
	}
	if (!BufferIsValid(buf))
	{
		int			victim = ps->next_victim;

		ps->next_victim = (ps->next_victim + 1) % MEMKV_PIN_SLOTS;
		if (BufferIsValid(ps->pins[victim]))
		{
			if (ps->locked == ps->pins[victim])
			{
				LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
				ps->locked = InvalidBuffer;
			}
			ReleaseBuffer(ps->pins[victim]);
			ps->npinned--;
		}
		ps->pins[victim] = InvalidBuffer;
		ps->pinned[victim] = InvalidBlockNumber;
		/* long reads (memkv_verify's) answer a cancel; a no-op under LWLocks */
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(ps->index, blkno);
		if (!ps->lock_pages && !memkv_page_is_ours(ps, BufferGetPage(buf)))
		{
			ReleaseBuffer(buf);
			ps->failed = true;
			return NULL;
		}
		ps->pins[victim] = buf;
		ps->pinned[victim] = blkno;
		ps->npinned++;
		ps->last = victim;
	}
	page = BufferGetPage(buf);
	if (ps->lock_pages && ps->locked != buf)
	{
		if (BufferIsValid(ps->locked))
			LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		ps->locked = buf;
		if (!memkv_page_is_ours(ps, page))
		{
			ps->failed = true;
			return NULL;
		}
	}
	return (const uint8 *) PageGetContents(page);
}

/* FstSource.read over index pages. */
const uint8_t *
memkv_page_source_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	MemkvPageSource *ps = (MemkvPageSource *) arg;
	uint64		pos = ps->base + off;
	uint64		idx = pos / MEMKV_FROZEN_CHUNK;
	Size		in = pos % MEMKV_FROZEN_CHUNK;
	Size		done = 0;

	if (in + len <= MEMKV_FROZEN_CHUNK)
	{
		const uint8 *p = memkv_page_source_page(ps, idx);

		return p ? p + in : NULL;
	}
	while (done < len)
	{
		const uint8 *p = memkv_page_source_page(ps, idx);
		Size		n = Min(len - done, MEMKV_FROZEN_CHUNK - in);

		if (p == NULL)
			return NULL;
		memcpy(buf + done, p + in, n);
		done += n;
		idx++;
		in = 0;
	}
	return buf;
}

/*
 * Raise the error for a frozen-layer page that replay reused while it was
 * being read (standby only): the query may simply be retried.
 */
void
memkv_frozen_raced(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("memkv index \"%s\" was reorganized by recovery while it was being read",
					RelationGetRelationName(index)),
			 errhint("Retry the query.")));
}

/*
 * Set up `ps` over the run `meta` describes, from byte `base` of its
 * stream on; it pins nothing yet.
 */
void
memkv_page_source_init(MemkvPageSource *ps, Relation index,
					   const MemkvMetaPageData *meta, uint64 base)
{
	int			i;

	ps->index = index;
	ps->start = meta->frozen_start;
	ps->npages = meta->frozen_npages;
	ps->epoch = meta->frozen_epoch;
	ps->base = base;
	ps->lock_pages = RecoveryInProgress();
	ps->failed = false;
	ps->locked = InvalidBuffer;
	ps->next_victim = 0;
	ps->last = 0;
	ps->npinned = 0;
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		ps->pins[i] = InvalidBuffer;
		ps->pinned[i] = InvalidBlockNumber;
	}
}
