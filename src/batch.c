/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  A scan's batches (out of scan.c): the arrays a batch's TIDs and keys
 *	  are collected into, the backend-wide pool that keeps those arrays
 *	  from one scan to the next, adding keys to a batch (directly or as a
 *	  MemkvKeySink), and forming the index tuples of index-only scans.
 *
 * A batch belongs to one scan and is only touched by the backend running
 * it; nothing here takes a lock.  Filling a batch from the index's layers
 * (under the entry lock) is scan.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "batch.h"
#include "guard.h"
#include "memkv.h"
#include "memutil.h"

/*
 * Batch arrays outlive the scans that fill them.  Allocated per scan, they
 * were freed at the end of every query, and glibc gave the memory back to
 * the kernel and faulted it in again at the next one: on a prefix count of
 * 5,000 rows that was 14% of the query's time.  So they live in one
 * backend-lifetime context, and a finished scan leaves its arrays (if not
 * too big) for the next one.  Every array in that context belongs either
 * to the cache or to exactly one live scan; a scan gives its arrays back
 * at endscan or, if it never gets there (an error), when its memory
 * context goes away (a reset callback), so nothing leaks.
 */
#define MEMKV_CACHED_BATCH_BYTES	(256 * 1024)	/* per array, at most */

static MemoryContext batch_cxt = NULL;
static MemkvBatch cached_batches[2];
static bool have_cached_batches = false;

/*
 * Give a scan its batch arrays: the cached ones if there are any (while
 * there are none, cached_batches is all zeros: no arrays yet).
 */
void
memkv_batches_take(MemkvBatch *batches)
{
	int			i;

	if (batch_cxt == NULL)
		batch_cxt = AllocSetContextCreate(TopMemoryContext,
										  "memkv scan batches",
										  ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < 2; i++)
	{
		batches[i] = cached_batches[i];
		batches[i].cxt = batch_cxt;
	}
	have_cached_batches = false;
	memset(cached_batches, 0, sizeof(cached_batches));
}

/* Take back a scan's batch arrays: into the cache, or freed. */
void
memkv_batches_give_back(MemkvBatch *batches)
{
	bool		keep = !have_cached_batches;
	int			i;

	for (i = 0; i < 2; i++)
	{
		MemkvBatch *b = &batches[i];

		if (keep &&
			sizeof(MemkvBatchItem) * b->maxitems <= MEMKV_CACHED_BATCH_BYTES &&
			b->keybuf_size <= MEMKV_CACHED_BATCH_BYTES)
			cached_batches[i] = *b;
		else
		{
			if (b->items)
				pfree(b->items);
			if (b->keybuf)
				pfree(b->keybuf);
		}
		memset(b, 0, sizeof(MemkvBatch));
	}
	if (keep)
		have_cached_batches = true;
}

/* Reset callback of a scan's memory context: the arrays come back. */
void
memkv_batches_owner_gone(void *arg)
{
	MemkvBatchOwner *owner = (MemkvBatchOwner *) arg;

	if (owner->batches)
		memkv_batches_give_back(owner->batches);
	owner->batches = NULL;
}

/*
 * Empty a batch before refilling it; its arrays are kept for reuse.  They
 * are allocated when the first key arrives (a scan that finds nothing, or
 * needs one batch only, never allocates the other).
 */
void
memkv_batch_reset(MemkvBatch *batch)
{
	batch->nitems = 0;
	batch->keybuf_used = 0;
	batch->complete_forward = false;
	batch->complete_backward = false;
}

/* Make room for `more` key bytes after the batch's last key. */
void
memkv_batch_reserve_keys(MemkvBatch *batch, Size more)
{
	batch->keybuf = memkv_array_reserve(batch->cxt, batch->keybuf,
										&batch->keybuf_size,
										batch->keybuf_used + more, 1, 1024);
}

/* Append one item to a batch that has room for it. */
static inline void
memkv_batch_put_item(MemkvBatch *batch, const ItemPointerData *tid,
					 bool isnull, Size key_offset, Size keylen)
{
	MemkvBatchItem *item = &batch->items[batch->nitems++];

	/* tid may be unaligned (straight from a tree leaf) */
	memcpy(&item->tid, tid, sizeof(ItemPointerData));
	item->isnull = isnull;
	item->key_offset = key_offset;
	item->key_len = keylen;
}

/* Add TIDs under a key whose bytes are already at key_offset of keybuf. */
void
memkv_batch_add_tids(MemkvBatch *batch, bool isnull, Size key_offset,
					 Size keylen, const ItemPointerData *tids, uint64 ntids)
{
	uint64		i;

	batch->items = memkv_array_reserve(batch->cxt, batch->items,
									   &batch->maxitems, batch->nitems + ntids,
									   sizeof(MemkvBatchItem), 64);
	for (i = 0; i < ntids; i++)
		memkv_batch_put_item(batch, &tids[i], isnull, key_offset, keylen);
}

/* Add the TIDs of one key (or of the NULL key) to a batch. */
void
memkv_batch_add(MemkvBatch *batch, bool isnull, const uint8 *key, Size keylen,
				const ItemPointerData *tids, uint64 ntids)
{
	Size		offset = batch->keybuf_used;

	memkv_batch_reserve_keys(batch, keylen);
	if (keylen > 0)
		memcpy(batch->keybuf + offset, key, keylen);
	batch->keybuf_used += keylen;
	memkv_batch_add_tids(batch, isnull, offset, keylen, tids, ntids);
}

/*
 * MemkvKeySink callback adding a frozen key's TIDs to a batch.  A key
 * with one TID, with room in both arrays, is a scan's common case and
 * costs two stores and a copy.
 */
void
memkv_batch_sink_add(void *arg, const uint8 *key, Size keylen,
					 const ItemPointerData *tids, uint64 ntids)
{
	MemkvBatch *batch = (MemkvBatch *) arg;

	if (likely(ntids == 1 && batch->nitems < batch->maxitems &&
			   batch->keybuf != NULL &&
			   batch->keybuf_used + keylen <= batch->keybuf_size))
	{
		memcpy(batch->keybuf + batch->keybuf_used, key, keylen);
		memkv_batch_put_item(batch, tids, false, batch->keybuf_used, keylen);
		batch->keybuf_used += keylen;
		return;
	}
	memkv_batch_add(batch, false, key, keylen, tids, ntids);
}

/* Reverse a batch collected in descending order. */
void
memkv_batch_reverse(MemkvBatch *batch)
{
	int			i,
				j;

	for (i = 0, j = batch->nitems - 1; i < j; i++, j--)
	{
		MemkvBatchItem tmp = batch->items[i];

		batch->items[i] = batch->items[j];
		batch->items[j] = tmp;
	}
}

/*
 * A step in direction `backward` left `batch`, the scan's current one,
 * and there is nothing more in range that way.  The batch is kept, marked
 * complete that way, so that a change of direction returns to its items
 * -- unless the scan had announced it to VACUUM (guard.c): then the
 * announcement is cleared, since a scan parked at the end of its range
 * must not hold VACUUM off, and the batch is emptied, since VACUUM may
 * now remove its TIDs; a change of direction then collects the range's
 * end anew.  Returns the scan's new position in the batch (one step
 * outside it).
 */
int
memkv_batch_range_end(MemkvBatch *batch, bool backward, MemkvGuardUse *guard)
{
	if (memkv_guard_release(guard))
	{
		memkv_batch_reset(batch);
		/* reset cleared both flags: the other direction starts afresh */
	}
	if (backward)
		batch->complete_backward = true;
	else
		batch->complete_forward = true;
	return backward ? -1 : batch->nitems;
}

/* Make the scan's index tuple buffer at least `size` bytes. */
pg_noinline void
memkv_grow_itup_buf(MemkvScanOpaque so, Size size)
{
	/* zeroed once: t_tid stays zero, as index_form_tuple leaves it */
	if (so->itup_buf)
		pfree(so->itup_buf);
	so->itup_size = Max(size, 256);
	so->itup_buf = MemoryContextAllocZero(GetMemoryChunkContext(so),
										  so->itup_size);
}

/* The index tuple of the NULL key, for an index-only scan. */
pg_noinline IndexTuple
memkv_form_null_tuple(IndexScanDesc scan)
{
	MemkvScanOpaque so = (MemkvScanOpaque) scan->opaque;
	Datum		value = (Datum) 0;
	bool		isnull = true;

	if (so->last_itup)
		pfree(so->last_itup);
	so->last_itup = index_form_tuple(RelationGetDescr(scan->indexRelation),
									 &value, &isnull);
	return so->last_itup;
}
