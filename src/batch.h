/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  A scan's batches (batch.c): the batch array pool, adding keys to a
 *	  batch, and the index tuples of index-only scans.  MemkvBatch and
 *	  MemkvScanOpaqueData are in memkv.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BATCH_H
#define MEMKV_BATCH_H

#include "access/relscan.h"

#include "guard.h"
#include "memkv.h"

/* Who holds a scan's batch arrays, for the reset callback. */
typedef struct MemkvBatchOwner
{
	MemoryContextCallback callback;
	MemkvBatch *batches;		/* the scan's two batches; NULL once given back */
} MemkvBatchOwner;

extern void memkv_batches_take(MemkvBatch *batches);
extern void memkv_batches_give_back(MemkvBatch *batches);
extern void memkv_batches_owner_gone(void *arg);

extern void memkv_batch_reset(MemkvBatch *batch);
extern void memkv_batch_reserve_keys(MemkvBatch *batch, Size more);
extern void memkv_batch_add_tids(MemkvBatch *batch, bool isnull,
								 Size key_offset, Size keylen,
								 const ItemPointerData *tids, uint64 ntids);
extern void memkv_batch_add(MemkvBatch *batch, bool isnull, const uint8 *key,
							Size keylen, const ItemPointerData *tids,
							uint64 ntids);
extern void memkv_batch_sink_add(void *arg, const uint8 *key, Size keylen,
								 const ItemPointerData *tids, uint64 ntids);
extern void memkv_batch_reverse(MemkvBatch *batch);
extern int	memkv_batch_range_end(MemkvBatch *batch, bool backward,
								  MemkvGuardUse *guard);

extern void memkv_grow_itup_buf(MemkvScanOpaque so, Size size);
extern IndexTuple memkv_form_null_tuple(IndexScanDesc scan);

/*
 * The index tuple of a non-NULL key for an index-only scan, formed in a
 * buffer the scan reuses (valid until the next call), as index_form_tuple
 * would form it: no null bitmap, the text datum with a 4-byte header at
 * the (MAXALIGNed) data offset.  A key-per-row palloc and text copy cost
 * more than the rest of returning the row.
 *
 * Inline, here rather than in batch.c: gettuple calls it for every row of
 * an index-only scan (it was inline in scan.c before the split).
 */
static inline IndexTuple
memkv_form_key_tuple(MemkvScanOpaque so, const char *key, Size keylen)
{
	Size		hoff = IndexInfoFindDataOffset(INDEX_VAR_MASK);
	Size		size = MAXALIGN(hoff + VARHDRSZ + keylen);
	IndexTuple	itup;

	if (size > INDEX_SIZE_MASK)
		elog(ERROR, "memkv: index tuple of %zu bytes is too big", size);
	if (unlikely(size > so->itup_size))
		memkv_grow_itup_buf(so, size);
	itup = (IndexTuple) so->itup_buf;
	itup->t_info = (unsigned short) (size | INDEX_VAR_MASK);
	/* the alignment padding after the key is zero (then header and key) */
	memset(so->itup_buf + size - sizeof(uint64), 0, sizeof(uint64));
	SET_VARSIZE(so->itup_buf + hoff, VARHDRSZ + keylen);
	memcpy(VARDATA(so->itup_buf + hoff), key, keylen);
	return itup;
}

#endif							/* MEMKV_BATCH_H */
