/*-------------------------------------------------------------------------
 *
 * runread.c
 *	  Reading a frozen run: opening it (from the run memo in rd_amcache, or
 *	  by parsing its preambles), looking keys up and walking them in
 *	  order through the FST reader or the run's key blocks, and reading
 *	  their postings.
 *
 * The run is read through page sources (runpages.c), or from the entry's
 * shared copy of it (runcopy.c) when the caller holds the entry lock and
 * the copy is of this run.  A MemkvFrozen is opened and closed under one
 * entry lock (shared is enough), or by a freeze under its metapage lock:
 * either keeps the run's pages from being retired meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "fst.h"
#include "keyblocks.h"
#include "memkv.h"
#include "memutil.h"
#include "page.h"
#include "registry.h"
#include "runpages.h"
#include "runread.h"

struct MemkvFrozen
{
	Relation	index;
	MemkvPageSource fst_src;
	MemkvPageSource post_src;
	MemkvPageSource null_src;
	FstReader	reader;
	FstPostings postings;
	FstPostings nullpost;
	FstCursor	cursor;
	FstAllocator alloc;
	ItemPointerData *tidbuf;	/* scratch for one key's postings */
	uint64		tidbuf_size;
	FstPostingsGroup postgrp;	/* layout of the last postings group read */
	bool		have_kb;		/* key blocks of this run are in the arena */
	KbImage		kb;
	KbIter		kbit;
	uint64		instance_id;	/* which run this is (from the metapage) */
	uint32		frozen_epoch;
	BlockNumber frozen_start;
};

/*
 * A scan's position in the key blocks of a frozen run, kept between
 * batches.  A batch that stopped early in the key blocks leaves the
 * iterator on the first key it did not take; the next batch starts
 * strictly after the last key taken, which is exactly there, so it need
 * not seek (a binary search over the blocks and a block decode: about 6K
 * instructions and a dozen cache misses a batch).  The iterator holds only
 * block numbers and decoded keys, so it stays valid for as long as the run
 * is the same run, wherever its key blocks are in the arena.
 */
struct MemkvFrozenPos
{
	bool		valid;			/* it is positioned as described above */
	bool		backward;		/* direction of the walk that stopped */
	uint64		instance_id;	/* the run it belongs to */
	uint32		frozen_epoch;
	BlockNumber frozen_start;
	KbIter		it;
};

static void *
memkv_fst_alloc(void *arg, size_t size)
{
	void	   *p = MemoryContextAllocHuge((MemoryContext) arg, Max(size, 1));

	memkv_advise_huge_pages(p, size);
	return p;
}

static void *
memkv_fst_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	void	   *p;

	if (ptr == NULL)
		p = MemoryContextAllocHuge((MemoryContext) arg, Max(newsize, 1));
	else
		p = repalloc_huge(ptr, Max(newsize, 1));
	memkv_advise_huge_pages(p, newsize);
	return p;
}

static void
memkv_fst_free(void *arg, void *ptr)
{
	if (ptr)
		pfree(ptr);
}

/*
 * An FstAllocator over palloc in the current memory context (huge
 * allocations allowed, big ones offered transparent huge pages), for the
 * FST reader, cursors, key blocks and the run writer.
 */
void
memkv_fst_allocator(FstAllocator *a)
{
	a->alloc = memkv_fst_alloc;
	a->realloc = memkv_fst_realloc;
	a->free = memkv_fst_free;
	a->arg = CurrentMemoryContext;
}

/*
 * Report a frozen-layer read failure: on a standby the layer may have been
 * replaced under the reader by replay, otherwise the index is corrupt.
 */
static void
memkv_frozen_failed(MemkvFrozen *fz, const char *detail)
{
	bool		raced = fz->fst_src.failed || fz->post_src.failed ||
		fz->null_src.failed;

	/* page locks are released by the error's cleanup */
	if (raced && RecoveryInProgress())
		memkv_frozen_raced(fz->index);
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("frozen layer of index \"%s\" is corrupted: %s",
					RelationGetRelationName(fz->index), detail),
			 errhint("Please REINDEX it.")));
}

/*
 * What opening a frozen layer learns from its preambles and trailers, kept
 * in the index's relcache entry (rd_amcache, one chunk) so that later
 * opens of the same layer in this backend read no page for it.
 */
typedef struct MemkvRunMemo
{
	uint64		instance_id;
	uint32		frozen_epoch;
	BlockNumber frozen_start;
	FstReader	reader;
	FstPostings postings;
	FstPostings nullpost;
} MemkvRunMemo;

/*
 * One MemkvFrozen per backend is kept for reuse, so that a scan does not
 * allocate (and free) the large struct every time: an open takes it when
 * it is free.  Nothing runs between an open and its close that could open
 * another layer, except when an error escapes in between; the (sub)
 * transaction's abort then marks the spare free again.  Anything the spare
 * pointed to outside itself belonged to the failed operation and is set
 * up afresh by the next open.
 */
static MemkvFrozen *spare_frozen = NULL;
static bool spare_frozen_busy = false;

static void
memkv_frozen_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		spare_frozen_busy = false;
}

static void
memkv_frozen_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		spare_frozen_busy = false;
}

/* A MemkvFrozen to fill in: the spare if it is free, else a new one. */
static MemkvFrozen *
memkv_frozen_alloc(void)
{
	if (spare_frozen == NULL)
	{
		spare_frozen = MemoryContextAlloc(TopMemoryContext,
										  sizeof(MemkvFrozen));
		RegisterXactCallback(memkv_frozen_xact_callback, NULL);
		RegisterSubXactCallback(memkv_frozen_subxact_callback, NULL);
	}
	if (!spare_frozen_busy)
	{
		spare_frozen_busy = true;
		return spare_frozen;
	}
	return palloc(sizeof(MemkvFrozen));
}

/*
 * Open the frozen layer described by `meta`, or return NULL if the index
 * has none.  Close it with memkv_frozen_close before releasing the entry
 * lock under which `meta` was read.
 */
MemkvFrozen *
memkv_frozen_open(Relation index, const MemkvMetaPageData *meta,
				  MemkvEntry *entry)
{
	MemkvFrozen *fz;
	FstSource	src;
	MemkvRunMemo *cache = (MemkvRunMemo *) index->rd_amcache;
	const uint8 *mem = NULL;
	uint64		total = meta->fst_size + meta->postings_size +
		meta->nullpost_size;

	if (meta->frozen_start == InvalidBlockNumber)
		return NULL;

	/* the run's copy in shared memory, if the caller holds the entry lock */
	if (entry && entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == meta->instance_id &&
		entry->run_copy_epoch == meta->frozen_epoch &&
		entry->run_copy_start == meta->frozen_start)
		mem = ARENA_ADDR(memkv_allocator()->base, entry->run_copy);

	fz = memkv_frozen_alloc();
	fz->index = index;
	fz->instance_id = meta->instance_id;
	fz->frozen_epoch = meta->frozen_epoch;
	fz->frozen_start = meta->frozen_start;
	memkv_fst_allocator(&fz->alloc);
	memkv_page_source_init(&fz->fst_src, index, meta, 0);
	memkv_page_source_init(&fz->post_src, index, meta, meta->fst_size);
	memkv_page_source_init(&fz->null_src, index, meta,
						   meta->fst_size + meta->postings_size);

	if (cache && cache->instance_id == meta->instance_id &&
		cache->frozen_epoch == meta->frozen_epoch &&
		cache->frozen_start == meta->frozen_start)
	{
		/* all but the reader's scratch buffer and message */
		memcpy(&fz->reader, &cache->reader, offsetof(FstReader, buf));
		fz->reader.errmsg[0] = '\0';
		memcpy(&fz->postings, &cache->postings, sizeof(FstPostings));
		memcpy(&fz->nullpost, &cache->nullpost, sizeof(FstPostings));
		fz->reader.src.arg = &fz->fst_src;
		fz->postings.src.arg = &fz->post_src;
		fz->nullpost.src.arg = &fz->null_src;
	}
	else
	{
		if (meta->frozen_npages == 0 ||
			total > (uint64) meta->frozen_npages * MEMKV_FROZEN_CHUNK ||
			(uint64) meta->frozen_start + meta->frozen_npages >
			RelationGetNumberOfBlocks(index))
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("metapage of index \"%s\" describes an impossible frozen layer",
							RelationGetRelationName(index)),
					 errhint("Please REINDEX it.")));

		src.read = memkv_page_source_read;
		src.arg = &fz->fst_src;
		src.size = meta->fst_size;
		if (fst_reader_open(&fz->reader, &src) != 0)
			memkv_frozen_failed(fz, fz->reader.errmsg);
		src.arg = &fz->post_src;
		src.size = meta->postings_size;
		if (fst_postings_open(&fz->postings, &src) != 0)
			memkv_frozen_failed(fz, fz->postings.errmsg);
		src.arg = &fz->null_src;
		src.size = meta->nullpost_size;
		if (fst_postings_open(&fz->nullpost, &src) != 0)
			memkv_frozen_failed(fz, fz->nullpost.errmsg);
		if (fz->postings.nkeys != fz->reader.nkeys || fz->nullpost.nkeys > 1)
			memkv_frozen_failed(fz, "key counts of FST and postings disagree");
		/* scans copy keys into batches and index tuples: no longer ones */
		if (fz->reader.max_key_len > MEMKV_MAX_KEY_BYTES)
			memkv_frozen_failed(fz, "its keys are longer than memkv allows");

		if (cache == NULL)
			cache = MemoryContextAlloc(index->rd_indexcxt,
									   sizeof(MemkvRunMemo));
		index->rd_amcache = cache;
		cache->instance_id = meta->instance_id;
		cache->frozen_epoch = meta->frozen_epoch;
		cache->frozen_start = meta->frozen_start;
		memcpy(&cache->reader, &fz->reader, offsetof(FstReader, buf));
		memcpy(&cache->postings, &fz->postings, sizeof(FstPostings));
		memcpy(&cache->nullpost, &fz->nullpost, sizeof(FstPostings));
	}

	/* read the shared copy instead of the pages */
	if (mem)
	{
		src.read = fst_memory_read;
		src.arg = (void *) mem;
		src.size = meta->fst_size;
		fst_reader_set_source(&fz->reader, &src);
		fz->postings.src.read = fst_memory_read;
		fz->postings.src.arg = (void *) (mem + meta->fst_size);
		fz->nullpost.src.read = fst_memory_read;
		fz->nullpost.src.arg = (void *) (mem + meta->fst_size +
										 meta->postings_size);
	}

	/* the run's key blocks, which exist only next to the shared copy */
	fz->have_kb = false;
	if (mem && entry->run_kb != ARENA_NULL)
	{
		if (kb_open(&fz->kb, ARENA_ADDR(memkv_allocator()->base,
										entry->run_kb),
					entry->run_kb_bytes) != 0 ||
			fz->kb.hdr->nkeys != fz->reader.nkeys)
			elog(ERROR, "memkv: key blocks of index \"%s\" are malformed",
				 RelationGetRelationName(index));
		kb_iter_init(&fz->kbit, &fz->kb, &fz->alloc);
		fz->have_kb = true;
	}

	fst_cursor_init(&fz->cursor, &fz->reader, &fz->alloc);
	fst_postings_group_reset(&fz->postgrp);
	fz->tidbuf_size = 64;
	fz->tidbuf = palloc(sizeof(ItemPointerData) * fz->tidbuf_size);
	return fz;
}

/* Release the pages and memory of an opened frozen layer. */
void
memkv_frozen_close(MemkvFrozen *fz)
{
	if (fz == NULL)
		return;
	memkv_page_source_release(&fz->fst_src);
	memkv_page_source_release(&fz->post_src);
	memkv_page_source_release(&fz->null_src);
	fst_cursor_free(&fz->cursor);
	if (fz->have_kb)
		kb_iter_free(&fz->kbit);
	pfree(fz->tidbuf);
	if (fz == spare_frozen)
		spare_frozen_busy = false;
	else
		pfree(fz);
}

/* Read every TID of `ordinal` from `p` into fz->tidbuf; returns the count. */
static inline uint64
memkv_frozen_read_postings(MemkvFrozen *fz, FstPostings *p, uint64 ordinal)
{
	FstPostingsIter it;
	uint64		n = 0;

	/* most keys have one TID: decoded a group at a time */
	if (p == &fz->postings)
	{
		int			r;

		if (fst_postings_single_decoded(&fz->postgrp, ordinal,
										(FstTid *) fz->tidbuf))
			return 1;
		r = fst_postings_single(p, &fz->postgrp, ordinal,
								(FstTid *) fz->tidbuf);

		if (r < 0)
			memkv_frozen_failed(fz, p->errmsg);
		if (r == 1)
			return 1;
	}
	if ((p == &fz->postings ?
		 fst_postings_seek_group(p, &fz->postgrp, &it, ordinal) :
		 fst_postings_seek(p, &it, ordinal)) != 0)
		memkv_frozen_failed(fz, p->errmsg);
	/* the reader bounds the count by the list's bytes (fst_postings.c) */
	if (it.count > fz->tidbuf_size)
	{
		fz->tidbuf = repalloc_huge(fz->tidbuf,
								   mul_size(sizeof(ItemPointerData), it.count));
		fz->tidbuf_size = it.count;
	}
	while (n < it.count)
	{
		int64		got;

		StaticAssertStmt(sizeof(FstTid) == sizeof(ItemPointerData),
						 "FstTid must match ItemPointerData");
		got = fst_postings_next(&it, (FstTid *) (fz->tidbuf + n),
								it.count - n);
		if (got < 0)
			memkv_frozen_failed(fz, p->errmsg);
		if (got == 0)
			break;
		n += got;
	}
	if (n != it.count)
		memkv_frozen_failed(fz, "posting list shorter than its count");
	return n;
}

/*
 * A position for memkv_frozen_collect_to to keep between calls, allocated
 * in the current memory context (a scan's).
 */
MemkvFrozenPos *
memkv_frozen_pos_create(void)
{
	MemkvFrozenPos *pos = palloc0(sizeof(MemkvFrozenPos));
	FstAllocator alloc;

	memkv_fst_allocator(&alloc);
	kb_iter_init(&pos->it, NULL, &alloc);
	return pos;
}

/* Forget the position, if any (the next walk seeks). */
void
memkv_frozen_pos_forget(MemkvFrozenPos *pos)
{
	if (pos)
		pos->valid = false;
}

void
memkv_frozen_pos_free(MemkvFrozenPos *pos)
{
	if (pos == NULL)
		return;
	kb_iter_free(&pos->it);
	pfree(pos);
}

/*
 * Hand to `sink` the frozen keys within the bounds, in order (descending
 * when `backward`), stopping at a key boundary once `target` TIDs went to
 * it (the sink is then marked stopped).
 *
 * `pos`, if not NULL, is where the walk over the key blocks stops, for the
 * next call.  `resume` promises that the bound this call starts from (the
 * lower one going forward, the upper one going backward, exclusive) is the
 * last key the previous call that used `pos` handed to its sink; the walk
 * then continues where that call stopped if it can.
 */
void
memkv_frozen_collect_to(MemkvFrozen *fz, MemkvKeySink *sink,
						const ArtBound *lower, const ArtBound *upper,
						bool backward, int target, MemkvFrozenPos *pos,
						bool resume)
{
	FstCursor  *c = &fz->cursor;
	KbIter	   *kbit = pos ? &pos->it : &fz->kbit;
	int64		inside_block = -1;	/* a block wholly within the stop bound */
	FstSeekOp	op;
	const ArtBound *bound;
	int			r;

	/* an equality needs no cursor: one exact lookup */
	if (lower && upper && lower->inclusive && upper->inclusive &&
		lower->len == upper->len &&
		memcmp(lower->key, upper->key, lower->len) == 0)
	{
		uint64		ordinal;
		uint64		n;

		if (pos)
			pos->valid = false;
		r = fst_lookup(&fz->reader, lower->key, lower->len, &ordinal);
		if (r < 0)
			memkv_frozen_failed(fz, fz->reader.errmsg);
		if (r == 1)
		{
			n = memkv_frozen_read_postings(fz, &fz->postings, ordinal);
			sink->add(sink->arg, lower->key, lower->len, fz->tidbuf, n);
			sink->ntids += n;
		}
		return;
	}

	if (!backward)
	{
		op = lower ? (lower->inclusive ? FST_SEEK_GE : FST_SEEK_GT) :
			FST_SEEK_FIRST;
		bound = lower;
	}
	else
	{
		op = upper ? (upper->inclusive ? FST_SEEK_LE : FST_SEEK_LT) :
			FST_SEEK_LAST;
		bound = upper;
	}

	/*
	 * Walk the key blocks if the run has them (a key costs a memcpy), else
	 * the FST (a key costs a walk over its nodes).  A walk of the same run
	 * in the same direction that stopped at the bound continues where it
	 * is.
	 */
	if (fz->have_kb)
	{
		if (pos && pos->valid && resume && pos->backward == backward &&
			(op == FST_SEEK_GT || op == FST_SEEK_LT) &&
			pos->instance_id == fz->instance_id &&
			pos->frozen_epoch == fz->frozen_epoch &&
			pos->frozen_start == fz->frozen_start && kbit->positioned)
		{
			/* same image content; only the address may differ */
			kbit->kb = &fz->kb;
			r = 1;
		}
		else
		{
			if (pos)
				kb_iter_set_image(kbit, &fz->kb);
			r = kb_iter_seek(kbit, op, bound ? bound->key : NULL,
							 bound ? bound->len : 0);
		}
	}
	else
		r = fst_cursor_seek(c, op, bound ? bound->key : NULL,
							bound ? bound->len : 0);
	if (pos)
		pos->valid = false;

	while (r == 1)
	{
		const ArtBound *stop = backward ? lower : upper;
		const uint8 *key = fz->have_kb ? kbit->key : c->key;
		Size		keylen = fz->have_kb ? kbit->keylen : c->keylen;
		uint64		ordinal = fz->have_kb ? kbit->ordinal : c->ordinal;
		uint64		n;

		/*
		 * In the key blocks, if the block's farthest key in scan order is
		 * within the stop bound, so are all keys the walk meets before it
		 * leaves the block: one comparison per block instead of per key.
		 */
		if (stop && fz->have_kb && kbit->block != inside_block)
		{
			const uint8_t *edge;
			size_t		edgelen;
			int			cmp;

			kb_iter_block_edge(kbit, backward, &edge, &edgelen);
			cmp = memkv_key_cmp(edge, edgelen, stop->key, stop->len);
			if (backward ? (cmp > 0 || (cmp == 0 && stop->inclusive))
				: (cmp < 0 || (cmp == 0 && stop->inclusive)))
				inside_block = kbit->block;
		}
		if (stop && !(fz->have_kb && kbit->block == inside_block))
		{
			int			cmp = memkv_key_cmp(key, keylen, stop->key, stop->len);

			if (backward ? (cmp < 0 || (cmp == 0 && !stop->inclusive))
				: (cmp > 0 || (cmp == 0 && !stop->inclusive)))
				break;
		}
		if (sink->ntids >= (uint64) target)
		{
			sink->stopped = true;
			if (pos && fz->have_kb)
			{
				pos->valid = true;
				pos->backward = backward;
				pos->instance_id = fz->instance_id;
				pos->frozen_epoch = fz->frozen_epoch;
				pos->frozen_start = fz->frozen_start;
			}
			break;
		}
		n = memkv_frozen_read_postings(fz, &fz->postings, ordinal);
		sink->add(sink->arg, key, keylen, fz->tidbuf, n);
		sink->ntids += n;
		if (fz->have_kb)
			r = backward ? kb_iter_prev(kbit) : kb_iter_next(kbit);
		else
			r = backward ? fst_cursor_prev(c) : fst_cursor_next(c);
	}
	if (r < 0)
		memkv_frozen_failed(fz, fz->have_kb ? "malformed key blocks" :
							c->errmsg);
}

/*
 * Check the frozen layer's FST and postings structurally (fst_verify):
 * returns true, or false with a message in errbuf (FST_ERRMSG_LEN bytes).
 */
bool
memkv_frozen_check(MemkvFrozen *fz, char *errbuf)
{
	FstVerifyInfo info;

	return fst_verify(&fz->reader, &fz->postings, &fz->alloc, &info,
					  errbuf) == 0;
}

/*
 * The frozen NULL key's TIDs: returns how many (0 if the run has none) and
 * points *tids at them, in the layer's scratch buffer (valid until its next
 * read).
 */
uint64
memkv_frozen_null_tids(MemkvFrozen *fz, const ItemPointerData **tids)
{
	uint64		n;

	if (fz->nullpost.nkeys == 0)
		return 0;
	n = memkv_frozen_read_postings(fz, &fz->nullpost, 0);
	*tids = fz->tidbuf;
	return n;
}
