/*-------------------------------------------------------------------------
 *
 * frozen.c
 *	  The frozen layer in the index relation: writing a new FST + postings
 *	  run into pages, reading it back through the FST reader, and the
 *	  "runs" (keys with their TIDs, in order) that scans and freezes merge.
 *
 * A frozen layer is one byte stream cut into MEMKV_FROZEN_CHUNK-byte
 * pieces, one per page, in contiguous blocks written in one epoch: the FST
 * image, then the postings image of the keys, then the postings image of
 * the NULL key (see src/README, "Frozen layer").  Pages are read under a
 * buffer share lock and checked to be FROZEN pages of the expected epoch,
 * so a reader that raced with the page's reuse notices instead of reading
 * garbage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fst.h"
#include "keyblocks.h"
#include "memkv.h"
#include "page.h"

/* ---------------------------------------------------------------- runs */

/*
 * Prepare an empty run whose arrays will live in the current memory
 * context.  Nothing is allocated until the first key arrives: most scans
 * never use most of their runs.
 */
void
memkv_source_init(MemkvSource *run)
{
	memset(run, 0, sizeof(MemkvSource));
	run->cxt = CurrentMemoryContext;
}

/* Empty a run, keeping its memory. */
void
memkv_source_reset(MemkvSource *run)
{
	run->keybuf_used = 0;
	run->nkeys = 0;
	run->ntids = 0;
	run->stopped = false;
}

/* Make room for `more` TIDs after the run's last one. */
void
memkv_source_reserve_tids(MemkvSource *run, uint64 more)
{
	run->tids = memkv_array_reserve(run->cxt, run->tids, &run->maxtids,
									run->ntids + more,
									sizeof(ItemPointerData), 64);
}

/* Free a run's arrays; it is empty afterwards, ready for reuse. */
void
memkv_source_free(MemkvSource *run)
{
	if (run->keybuf)
		pfree(run->keybuf);
	if (run->keys)
		pfree(run->keys);
	if (run->tids)
		pfree(run->tids);
	run->keybuf = NULL;
	run->keys = NULL;
	run->tids = NULL;
	run->keybuf_size = 0;
	run->maxkeys = 0;
	run->maxtids = 0;
	memkv_source_reset(run);
}

/* Append a key and its TIDs to a run. */
void
memkv_source_add(MemkvSource *run, const uint8 *key, Size keylen,
			  const ItemPointerData *tids, uint64 ntids)
{
	MemkvSourceKey *rk;

	run->keybuf = memkv_array_reserve(run->cxt, run->keybuf, &run->keybuf_size,
									  run->keybuf_used + keylen, 1, 1024);
	run->keys = memkv_array_reserve(run->cxt, run->keys, &run->maxkeys,
									run->nkeys + 1, sizeof(MemkvSourceKey), 64);
	memkv_source_reserve_tids(run, ntids);
	rk = &run->keys[run->nkeys++];
	rk->key_offset = run->keybuf_used;
	rk->key_len = keylen;
	rk->tid_start = run->ntids;
	rk->ntids = ntids;
	if (keylen > 0)
		memcpy(run->keybuf + run->keybuf_used, key, keylen);
	run->keybuf_used += keylen;
	if (ntids > 0)
		memcpy(run->tids + run->ntids, tids, sizeof(ItemPointerData) * ntids);
	run->ntids += ntids;
}

typedef struct MemkvCollectState
{
	MemkvSource   *run;
	uint64		target;
} MemkvCollectState;

static bool
memkv_collect_visit(const uint8_t *key, size_t keylen, const ArtTid *tids,
					uint32_t ntids, void *arg)
{
	MemkvCollectState *cs = (MemkvCollectState *) arg;

	if (cs->run->ntids >= cs->target)
	{
		cs->run->stopped = true;
		return false;
	}
	StaticAssertStmt(sizeof(ArtTid) == sizeof(ItemPointerData),
					 "ArtTid must match ItemPointerData");
	memkv_source_add(cs->run, key, keylen, (const ItemPointerData *) tids, ntids);
	return true;
}

/*
 * Append to `run` the keys of a delta tree within the bounds, in order,
 * stopping at a key boundary once `target` TIDs are collected (the run is
 * then marked stopped).  Caller holds the entry lock, or owns the tree.
 */
void
memkv_source_collect_art(MemkvSource *run, const ArtTree *tree,
					  const ArtBound *lower, const ArtBound *upper,
					  bool backward, int target)
{
	MemkvCollectState cs;

	cs.run = run;
	cs.target = target;
	art_walk(tree, memkv_allocator(), lower, upper, backward,
			 memkv_collect_visit, &cs);
}

/* Is key k of run `src` inside `b`, taken as a lower (or upper) bound? */
static bool
memkv_source_key_past(const MemkvSource *src, int k, const ArtBound *b, bool lower)
{
	const MemkvSourceKey *rk = &src->keys[k];
	int			c = memkv_key_cmp((const uint8 *) src->keybuf + rk->key_offset,
								  rk->key_len, b->key, b->len);

	if (lower)
		return c > 0 || (c == 0 && b->inclusive);
	return c < 0 || (c == 0 && b->inclusive);
}

/*
 * memkv_source_collect_art for a sorted run in backend memory (the delta as
 * read from the log, scan.c): append to `run` the keys of `src` within
 * the bounds, in order, stopping at a key boundary once `target` TIDs are
 * collected (the run is then marked stopped).  A binary search finds the
 * first key.
 */
void
memkv_source_collect_run(MemkvSource *run, const MemkvSource *src,
					  const ArtBound *lower, const ArtBound *upper,
					  bool backward, int target)
{
	int			lo = 0,
				hi = src->nkeys;
	int			k;

	if (!backward)
	{
		/* the first key at or after the lower bound */
		while (lower && lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (memkv_source_key_past(src, mid, lower, true))
				hi = mid;
			else
				lo = mid + 1;
		}
		for (k = lo; k < src->nkeys; k++)
		{
			if (upper && !memkv_source_key_past(src, k, upper, false))
				break;
			if (run->ntids >= (uint64) target)
			{
				run->stopped = true;
				break;
			}
			memkv_source_add(run, (const uint8 *) src->keybuf + src->keys[k].key_offset,
						  src->keys[k].key_len, src->tids + src->keys[k].tid_start,
						  src->keys[k].ntids);
		}
	}
	else
	{
		/* one past the last key at or before the upper bound */
		while (upper && lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (memkv_source_key_past(src, mid, upper, false))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!upper)
			lo = src->nkeys;
		for (k = lo - 1; k >= 0; k--)
		{
			if (lower && !memkv_source_key_past(src, k, lower, true))
				break;
			if (run->ntids >= (uint64) target)
			{
				run->stopped = true;
				break;
			}
			memkv_source_add(run, (const uint8 *) src->keybuf + src->keys[k].key_offset,
						  src->keys[k].key_len, src->tids + src->keys[k].tid_start,
						  src->keys[k].ntids);
		}
	}
}

/* qsort comparator for heap TIDs. */
static int
memkv_tid_cmp(const void *a, const void *b)
{
	return ItemPointerCompare((ItemPointer) a, (ItemPointer) b);
}

/* Sort TIDs ascending and drop duplicates. */
void
memkv_sort_tids(ItemPointerData *tids, uint64 *ntids)
{
	uint64		i,
				n = 0;

	if (*ntids < 2)
		return;
	qsort(tids, *ntids, sizeof(ItemPointerData), memkv_tid_cmp);
	for (i = 0; i < *ntids; i++)
	{
		if (n == 0 || !ItemPointerEquals(&tids[n - 1], &tids[i]))
			tids[n++] = tids[i];
	}
	*ntids = n;
}

/* ------------------------------------------------------ page byte source */

/*
 * An FstSource over part of a frozen run: bytes [base, base + size) of the
 * run's stream.  It keeps up to MEMKV_PIN_SLOTS of the run's pages pinned
 * until memkv_page_source_release, since an FST walk hops between a few
 * pages.  On a primary, frozen pages are immutable while anyone can read
 * them (they are retired only under the entry lock held exclusively, or by
 * the next freeze, which waits for this one), so a pin is all a reader
 * needs.  In recovery, replay may rewrite a page at any time: the page in
 * use is share-locked, and its tag re-checked each time it is locked.
 */
#define MEMKV_PIN_SLOTS 16

typedef struct MemkvPageSource
{
	Relation	index;
	BlockNumber start;
	uint32		npages;
	uint32		epoch;
	uint64		base;
	bool		lock_pages;		/* in recovery */
	bool		failed;
	int			last;			/* slot of the page returned last */
	Buffer		locked;			/* share-locked buffer, if lock_pages */
	int			next_victim;
	int			npinned;		/* valid entries of pins[] */
	Buffer		pins[MEMKV_PIN_SLOTS];
	BlockNumber pinned[MEMKV_PIN_SLOTS];
} MemkvPageSource;

static void
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
static const uint8 *
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
static const uint8_t *
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

/* -------------------------------------------------------- frozen reader */

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

static void
memkv_fst_allocator(FstAllocator *a)
{
	a->alloc = memkv_fst_alloc;
	a->realloc = memkv_fst_realloc;
	a->free = memkv_fst_free;
	a->arg = CurrentMemoryContext;
}

/*
 * Raise the error for a frozen-layer page that replay reused while it was
 * being read (standby only): the query may simply be retried.
 */
static void
memkv_frozen_raced(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("memkv index \"%s\" was reorganized by recovery while it was being read",
					RelationGetRelationName(index)),
			 errhint("Retry the query.")));
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

static void
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

/* MemkvKeySink callback appending to a MemkvSource. */
static void
memkv_source_sink_add(void *arg, const uint8 *key, Size keylen,
				   const ItemPointerData *tids, uint64 ntids)
{
	memkv_source_add((MemkvSource *) arg, key, keylen, tids, ntids);
}

/*
 * Append to `run` the frozen keys within the bounds, in order (descending
 * when `backward`), stopping at a key boundary once the run holds `target`
 * TIDs (the run is then marked stopped).
 */
void
memkv_frozen_collect(MemkvFrozen *fz, MemkvSource *run, const ArtBound *lower,
					 const ArtBound *upper, bool backward, int target)
{
	MemkvKeySink sink;

	sink.add = memkv_source_sink_add;
	sink.arg = run;
	sink.ntids = run->ntids;
	sink.stopped = false;
	memkv_frozen_collect_to(fz, &sink, lower, upper, backward, target, NULL,
							false);
	if (sink.stopped)
		run->stopped = true;
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

/* Append the frozen NULL key's TIDs (if any) to `run`; returns how many. */
uint64
memkv_frozen_nulls(MemkvFrozen *fz, MemkvSource *run)
{
	uint64		n;

	if (fz->nullpost.nkeys == 0)
		return 0;
	n = memkv_frozen_read_postings(fz, &fz->nullpost, 0);
	if (n > 0)
		memkv_source_add(run, NULL, 0, fz->tidbuf, n);
	return n;
}

/* ------------------------------------------------- shared-memory copy */

static ArenaPtr memkv_accelerator_alloc(Size size);

/*
 * Would a copy of the frozen run in shared memory help this scan?  True if
 * the index has a run and the entry holds no copy of it yet (and none
 * failed for lack of room).  Caller holds the entry lock.
 */
bool
memkv_run_copy_wanted(MemkvEntry *entry, const MemkvMetaPageData *meta)
{
	if (meta->frozen_start == InvalidBlockNumber)
		return false;
	if (entry->run_copy_instance == meta->instance_id &&
		entry->run_copy_epoch == meta->frozen_epoch &&
		entry->run_copy_start == meta->frozen_start)
		return entry->run_copy == ARENA_NULL && !entry->run_copy_failed;
	return true;
}

/* Free the entry's copy of a frozen run.  Entry lock held exclusively. */
void
memkv_run_copy_free(MemkvEntry *entry)
{
	if (entry->run_copy != ARENA_NULL)
		memkv_arena_free_big(entry->run_copy, entry->run_copy_bytes);
	if (entry->run_kb != ARENA_NULL)
		memkv_arena_free_big(entry->run_kb, entry->run_kb_bytes);
	entry->run_kb = ARENA_NULL;
	entry->run_kb_bytes = 0;
	entry->run_kb_failed = false;
	entry->run_copy = ARENA_NULL;
	entry->run_copy_bytes = 0;
	entry->run_copy_instance = 0;
	entry->run_copy_epoch = 0;
	entry->run_copy_start = InvalidBlockNumber;
	entry->run_copy_failed = false;
}

/*
 * Read the whole byte stream of the run `meta` describes, page by page,
 * copying it to `dst` unless that is NULL, and check it against the run's
 * checksum.  Returns true if it matches.  False if it does not, or if a
 * page is not the run's: then *bad_block is that page's block number
 * (InvalidBlockNumber for a mismatch).
 */
static bool
memkv_frozen_read_run(Relation index, const MemkvMetaPageData *meta,
					  uint8 *dst, BlockNumber *bad_block)
{
	uint64		total = meta->fst_size + meta->postings_size +
		meta->nullpost_size;
	MemkvPageSource ps;
	pg_crc32c	crc;
	uint64		idx;

	*bad_block = InvalidBlockNumber;
	/* the metapage's fields were checked, but not against the size */
	if ((uint64) meta->frozen_start + meta->frozen_npages >
		RelationGetNumberOfBlocks(index))
	{
		*bad_block = meta->frozen_start + meta->frozen_npages - 1;
		return false;
	}
	INIT_CRC32C(crc);
	memkv_page_source_init(&ps, index, meta, 0);
	for (idx = 0; idx * MEMKV_FROZEN_CHUNK < total; idx++)
	{
		const uint8 *src = memkv_page_source_page(&ps, idx);
		Size		n = Min(MEMKV_FROZEN_CHUNK, total - idx * MEMKV_FROZEN_CHUNK);

		if (src == NULL)
		{
			memkv_page_source_release(&ps);
			*bad_block = meta->frozen_start + (BlockNumber) idx;
			return false;
		}
		if (dst)
			memcpy(dst + idx * MEMKV_FROZEN_CHUNK, src, n);
		COMP_CRC32C(crc, src, n);
	}
	memkv_page_source_release(&ps);
	FIN_CRC32C(crc);
	return EQ_CRC32C(crc, meta->frozen_crc);
}

/*
 * Check a run against its checksum by reading all its pages; false if
 * they do not match it (or a page is not the run's).  For memkv_verify.
 * In recovery a page that is not the run's was reused by replay since the
 * caller read the metapage: that is the serialization error scans raise,
 * not a mismatch.
 */
bool
memkv_frozen_checksum_ok(Relation index, const MemkvMetaPageData *meta)
{
	BlockNumber bad_block;

	if (meta->frozen_start == InvalidBlockNumber ||
		memkv_frozen_read_run(index, meta, NULL, &bad_block))
		return true;
	if (bad_block != InvalidBlockNumber && RecoveryInProgress())
		memkv_frozen_raced(index);
	return false;
}

/*
 * Copy the frozen run described by `meta` into the arena, replacing any
 * older copy, and check the copy against the run's checksum: a mismatch
 * is an ERROR (on a primary the pages of a current run never change).  If
 * the copy would leave less than half of the arena free, remember that
 * (for this run) and leave scans to read the pages.  Entry lock held
 * exclusively.
 *
 * Reading the pages can fail with an ERROR (the buffer manager refuses a
 * damaged page).  So the block is recorded in the entry before the first
 * page is read, under no run's name: until the copy is complete and
 * checked no scan uses it.  An ERROR frees it on its way out, so that it
 * does not count against other indexes' copies (the half-the-arena rule);
 * should anything else end the read, the next build (or an eviction)
 * frees it with the entry's other memory.  Nothing leaks.
 */
void
memkv_run_copy_build(Relation index, MemkvEntry *entry,
						 const MemkvMetaPageData *meta)
{
	uint64		total = meta->fst_size + meta->postings_size +
		meta->nullpost_size;
	ArenaPtr	p;
	uint8	   *dst;
	BlockNumber bad_block;
	bool		ok;

	if (!memkv_run_copy_wanted(entry, meta))
		return;
	memkv_run_copy_free(entry);
	p = total < ARENA_MAX_ALLOC ?
		memkv_accelerator_alloc(Max(total, 1)) : ARENA_NULL;
	if (p == ARENA_NULL)
	{
		entry->run_copy_instance = meta->instance_id;
		entry->run_copy_epoch = meta->frozen_epoch;
		entry->run_copy_start = meta->frozen_start;
		entry->run_copy_failed = true;
		return;
	}
	/* recorded, under no run's name, before anything can fail */
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	PG_TRY();
	{
		ok = memkv_frozen_read_run(index, meta, dst, &bad_block);
	}
	PG_CATCH();
	{
		/* give the block back now (the entry lock is still held) */
		memkv_run_copy_free(entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!ok)
	{
		memkv_run_copy_free(entry);
		/* in recovery, replay moved on or rewrote pages: no copy this time */
		if (RecoveryInProgress())
			return;
		if (bad_block != InvalidBlockNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("frozen layer of index \"%s\" is corrupted: block %u is not one of its pages",
							RelationGetRelationName(index), bad_block),
					 errhint("Please REINDEX it.")));
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("frozen layer of index \"%s\" is corrupted: its pages do not match their checksum",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
	}
	/* complete and checked: scans of this run may use it now */
	entry->run_copy_instance = meta->instance_id;
	entry->run_copy_epoch = meta->frozen_epoch;
	entry->run_copy_start = meta->frozen_start;
}

/*
 * Arena space for a scan accelerator (a run's copy, its key blocks): only
 * if the arena stays at most half full, since the delta trees need the
 * rest.  ARENA_NULL if not.
 */
static ArenaPtr
memkv_accelerator_alloc(Size size)
{
	if (memkv_arena_bytes_used() + size > memkv_shared->arena_size / 2)
		return ARENA_NULL;
	return memkv_arena_alloc_big(size);
}

/*
 * Would key blocks help?  True if the entry holds the shared copy of the
 * run `meta` describes but no key blocks for it (and none failed for lack
 * of room).  Caller holds the entry lock.
 */
bool
memkv_run_kb_wanted(MemkvEntry *entry, const MemkvMetaPageData *meta)
{
	return entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == meta->instance_id &&
		entry->run_copy_epoch == meta->frozen_epoch &&
		entry->run_copy_start == meta->frozen_start &&
		entry->run_kb == ARENA_NULL && !entry->run_kb_failed;
}

/*
 * A backend-local copy of the FST image of the run in the entry's shared
 * copy, so that key blocks can be built from it without holding the entry
 * lock.  Caller holds the entry lock (shared is enough) and has checked
 * memkv_run_kb_wanted.
 */
uint8 *
memkv_frozen_fst_copy(MemkvEntry *entry, const MemkvMetaPageData *meta)
{
	uint8	   *copy = palloc_extended(Max(meta->fst_size, 1), MCXT_ALLOC_HUGE);

	memcpy(copy, ARENA_ADDR(memkv_allocator()->base, entry->run_copy),
		   meta->fst_size);
	return copy;
}

/*
 * Raise the corruption error for a copy of a frozen run that does not
 * read as an FST.  The copy matched the run's checksum, so the run itself
 * is damaged (or was written wrong).
 */
static void
memkv_frozen_copy_corrupted(Relation index, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("frozen layer of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), detail),
			 errhint("Please REINDEX it.")));
}

/*
 * Build the key blocks of an FST image (from memkv_frozen_fst_copy) in
 * backend memory, by one walk over the FST: about half a second per
 * million path-like keys, so no lock may be held.  Returns the image and
 * its size, or NULL if the key blocks would pass 4 GB.
 */
uint8 *
memkv_run_kb_make(Relation index, const uint8 *fst, Size fst_size,
					 Size *size)
{
	FstAllocator alloc;
	FstSource	src;
	FstReader	reader;
	FstCursor	cursor;
	KbBuilder  *b;
	uint8	   *image;
	uint64		n = 0;
	int			r;

	memkv_fst_allocator(&alloc);
	src.read = fst_memory_read;
	src.arg = (void *) fst;
	src.size = fst_size;
	if (fst_reader_open(&reader, &src) != 0)
		memkv_frozen_copy_corrupted(index, reader.errmsg);
	fst_cursor_init(&cursor, &reader, &alloc);
	b = kb_builder_create(&alloc);
	for (r = fst_cursor_seek(&cursor, FST_SEEK_FIRST, NULL, 0); r == 1;
		 r = fst_cursor_next(&cursor))
	{
		if ((++n & 0xffff) == 0)
			CHECK_FOR_INTERRUPTS();
		if (kb_builder_add(b, cursor.key, cursor.keylen) != 0)
		{
			kb_builder_destroy(b);
			fst_cursor_free(&cursor);
			return NULL;
		}
	}
	if (r < 0)
		memkv_frozen_copy_corrupted(index, cursor.errmsg);
	fst_cursor_free(&cursor);
	*size = kb_builder_size(b);
	image = palloc_extended(*size, MCXT_ALLOC_HUGE);
	kb_builder_finish(b, image);
	kb_builder_destroy(b);
	return image;
}

/*
 * Copy key blocks made by memkv_run_kb_make from the run `meta`
 * describes into the arena, if the entry still holds that run's copy (key
 * blocks always belong to the copy next to them) and no key blocks, and if they
 * leave at least half of the arena free (the delta needs it).  Otherwise
 * (no room) remember not to try again for this run.  Frees `image`.
 * Entry lock held exclusively.
 */
void
memkv_run_kb_install(MemkvEntry *entry, const MemkvMetaPageData *meta,
						uint8 *image, Size size)
{
	ArenaPtr	p;

	if (memkv_run_kb_wanted(entry, meta))
	{
		p = image ? memkv_accelerator_alloc(size) : ARENA_NULL;
		if (p == ARENA_NULL)
			entry->run_kb_failed = true;
		else
		{
			memcpy(ARENA_ADDR(memkv_allocator()->base, p), image, size);
			entry->run_kb = p;
			entry->run_kb_bytes = size;
		}
	}
	if (image)
		pfree(image);
}

/* -------------------------------------------------------- frozen writer */

typedef struct MemkvImage
{
	uint8	   *data;
	uint64		len;
	uint64		size;
} MemkvImage;

struct MemkvFrozenWriter
{
	FstAllocator alloc;
	MemkvImage	fst;
	MemkvImage	postings;
	MemkvImage	nullpost;
	FstBuilder *builder;
	FstPostingsWriter *pw;
	ItemPointerData *nulls;
	uint64		nnulls;
	uint64		nkeys;
	uint64		ntids;
	KbBuilder  *kb;				/* key blocks for the shared copy, or NULL */
};

/* FstSinkFn: append to an in-memory image. */
static int
memkv_image_sink(void *arg, const uint8_t *data, size_t len)
{
	MemkvImage *img = (MemkvImage *) arg;

	if (img->len + len > img->size)
	{
		uint64		newsize = Max(img->size * 2, 8192);

		while (img->len + len > newsize)
			newsize *= 2;
		img->data = img->data ? repalloc_huge(img->data, newsize) :
			MemoryContextAllocHuge(CurrentMemoryContext, newsize);
		img->size = newsize;
	}
	memcpy(img->data + img->len, data, len);
	img->len += len;
	return 0;
}

/* Start writing a new frozen layer; keys follow in ascending order. */
MemkvFrozenWriter *
memkv_frozen_writer_begin(void)
{
	MemkvFrozenWriter *w = palloc0(sizeof(MemkvFrozenWriter));
	FstBuildOptions opts;

	memset(&opts, 0, sizeof(opts));
	/*
	 * The builder's registry: up to 2 MB (fst_build.c).  More finds more
	 * shared suffixes (1M npm names: 10.26 B/key of FST at 2 MB, 10.01 at
	 * 8 MB) but misses in cache: 8 MB builds 4-19% slower.
	 */
	opts.registry_bytes = (size_t) Min(maintenance_work_mem, 2 * 1024) * 1024;
	/* packing then need not walk the whole image first (fst_pack.c) */
	opts.pack_map = true;
	memkv_fst_allocator(&w->alloc);
	w->builder = fst_builder_create(&w->alloc, memkv_image_sink, &w->fst,
									&opts);
	w->pw = fst_postings_writer_create(&w->alloc, memkv_image_sink,
									   &w->postings);
	return w;
}

/*
 * Also build the key blocks of the new run as its keys go by (about 26
 * bytes per path-like key of backend memory), for
 * memkv_frozen_writer_install_cache.
 */
void
memkv_frozen_writer_collect_keys(MemkvFrozenWriter *w)
{
	if (w->kb == NULL)
		w->kb = kb_builder_create(&w->alloc);
}

/* Add the next key (ascending) with its TIDs (sorted, no duplicates). */
void
memkv_frozen_writer_add(MemkvFrozenWriter *w, const uint8 *key, Size keylen,
						ItemPointerData *tids, uint64 ntids)
{
	if (w->kb && kb_builder_add(w->kb, key, keylen) != 0)
	{
		/* over 4 GB of key blocks: the run goes without */
		kb_builder_destroy(w->kb);
		w->kb = NULL;
	}
	if (fst_builder_add(w->builder, key, keylen) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	if (fst_postings_add(w->pw, (const FstTid *) tids, ntids) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	w->nkeys++;
	w->ntids += ntids;
}

/* Set the TIDs of the NULL key (sorted, no duplicates). */
void
memkv_frozen_writer_add_nulls(MemkvFrozenWriter *w, ItemPointerData *tids,
							  uint64 ntids)
{
	w->nulls = tids;
	w->nnulls = ntids;
}

/*
 * May a new run of `npages` pages be written into the spare region that
 * *meta names?  Only if the region is that big, lies inside the relation,
 * and every one of those pages is free or a retired run's (a frozen page
 * of another epoch than the current run's).
 *
 * The room reserved after a run is added to the relation without WAL, so
 * after a promotion (or a crash that lost the file's tail) the relation
 * can end inside a spare region, and log appends then extend it into the
 * region's block numbers: such pages are live and must not be written
 * over.  The run then goes to new blocks at the end of the relation
 * instead, and the region is retired as usual (memkv_delete_range leaves
 * live pages alone).  No other backend can put a page there meanwhile:
 * spare pages are not in the free space map, and extension only adds
 * blocks past the end.  Caller holds the metapage lock (no other freeze
 * or cleanup); takes and releases share locks on the region's pages.
 */
static bool
memkv_spare_region_usable(Relation index, const MemkvMetaPageData *meta,
						  uint64 npages)
{
	uint64		i;

	if (meta->spare_start == InvalidBlockNumber ||
		npages > meta->spare_npages ||
		(uint64) meta->spare_start + npages > RelationGetNumberOfBlocks(index))
		return false;
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = ReadBuffer(index, meta->spare_start + (BlockNumber) i);
		Page		page;
		bool		usable;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		usable = MemkvPageIsFree(page) ||
			(MemkvPageHasOpaque(page) &&
			 MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
			 MemkvPageGetOpaque(page)->flags == MEMKV_PAGE_FROZEN &&
			 (meta->frozen_start == InvalidBlockNumber ||
			  MemkvPageGetOpaque(page)->epoch != meta->frozen_epoch));
		UnlockReleaseBuffer(buf);
		if (!usable)
		{
			elog(DEBUG1, "memkv: block %u of the spare region of \"%s\" is in use; the new run goes to the end of the relation",
				 meta->spare_start + (BlockNumber) i,
				 RelationGetRelationName(index));
			return false;
		}
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * Finish the images and write them to contiguous pages -- the spare region
 * *meta names if it is big enough, else new blocks at the end of the
 * relation -- tagged with `epoch` and WAL-logged as full pages.  Fills the
 * frozen-layer fields of *meta; the caller switches the metapage and
 * updates the spare region.
 */
void
memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index, uint32 epoch,
						   MemkvMetaPageData *meta, bool reserve)
{
	FstInfo		info;
	FstPostingsInfo pinfo;
	FstPostingsWriter *nw;
	uint64		total;
	uint64		npages;
	uint64		i;
	BlockNumber start = InvalidBlockNumber;
	bool		needLock = !RELATION_IS_LOCAL(index);
	bool		use_spare;
	uint64		alloc;
	pg_crc32c	crc;

	if (fst_builder_finish(w->builder, &info) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	/* re-encode the whole FST in the packed format (see fst_pack.c) */
	if (w->fst.len > 0)
	{
		MemkvImage	packed = {0};
		char		err[FST_ERRMSG_LEN];
		FstPackMap *map = fst_builder_take_pack_map(w->builder);

		if (fst_pack(w->fst.data, w->fst.len, map, &w->alloc,
					 memkv_image_sink, &packed, &info, err) != 0)
			elog(ERROR, "memkv: FST packing failed: %s", err);
		fst_pack_map_free(&w->alloc, map);
		pfree(w->fst.data);
		w->fst = packed;
	}
	if (fst_postings_finish(w->pw, &pinfo) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	nw = fst_postings_writer_create(&w->alloc, memkv_image_sink, &w->nullpost);
	if ((w->nnulls > 0 && fst_postings_add(nw, (const FstTid *) w->nulls,
										   w->nnulls) != 0) ||
		fst_postings_finish(nw, NULL) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(nw));

	total = w->fst.len + w->postings.len + w->nullpost.len;
	npages = (total + MEMKV_FROZEN_CHUNK - 1) / MEMKV_FROZEN_CHUNK;

	/*
	 * Into the spare region (the run before the current one) if it is big
	 * enough and free, else into new blocks at the end of the relation.
	 */
	use_spare = memkv_spare_region_usable(index, meta, npages);
	if (needLock && !use_spare)
		LockRelationForExtension(index, ExclusiveLock);
	INIT_CRC32C(crc);
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = use_spare ?
		ReadBuffer(index, meta->spare_start + (BlockNumber) i) :
		ReadBuffer(index, P_NEW);
		Page		page;
		MemkvPageOpaque opaque;
		uint64		off = i * MEMKV_FROZEN_CHUNK;
		Size		n = Min(MEMKV_FROZEN_CHUNK, total - off);
		Size		done = 0;
		char	   *dst;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		/*
		 * memkv_spare_region_usable found every page of the region free
		 * or a retired run's; checked again, under the exclusive lock,
		 * right before the page is overwritten.
		 */
		if (use_spare && !MemkvPageIsFree(BufferGetPage(buf)))
		{
			memkv_check_page(index, buf, BufferGetPage(buf), MEMKV_PAGE_FROZEN);
			if (meta->frozen_start != InvalidBlockNumber &&
				MemkvPageGetOpaque(BufferGetPage(buf))->epoch == meta->frozen_epoch)
				memkv_page_corrupted(index, BufferGetBlockNumber(buf));
		}
		if (i == 0)
			start = BufferGetBlockNumber(buf);
		else if (BufferGetBlockNumber(buf) != start + i)
			elog(ERROR, "memkv: frozen layer of \"%s\" is not contiguous",
				 RelationGetRelationName(index));
		page = BufferGetPage(buf);

		START_CRIT_SECTION();
		PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
		opaque = MemkvPageGetOpaque(page);
		opaque->next = InvalidBlockNumber;
		opaque->epoch = epoch;
		opaque->flags = MEMKV_PAGE_FROZEN;
		opaque->page_id = MEMKV_PAGE_ID;
		dst = PageGetContents(page);
		/* copy bytes [off, off + n) of the three images laid end to end */
		while (done < n)
		{
			uint64		pos = off + done;
			MemkvImage *img;
			uint64		ioff;
			Size		take;

			if (pos < w->fst.len)
				img = &w->fst, ioff = pos;
			else if (pos < w->fst.len + w->postings.len)
				img = &w->postings, ioff = pos - w->fst.len;
			else
				img = &w->nullpost, ioff = pos - w->fst.len - w->postings.len;
			take = Min(n - done, img->len - ioff);
			memcpy(dst + done, img->data + ioff, take);
			COMP_CRC32C(crc, img->data + ioff, take);
			done += take;
		}
		((PageHeader) page)->pd_lower = (dst + n) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
	}
	/*
	 * With `reserve` (freezes, not CREATE INDEX), new blocks get a quarter
	 * more room than the run needs, zeroed, so that when this region is
	 * the spare one the next-but-one run (a little bigger, as the index
	 * grows) still fits in it.
	 */
	alloc = npages;
	if (use_spare)
		alloc = meta->spare_npages;
	else if (reserve)
	{
		for (; alloc < npages + npages / 4 + 1; alloc++)
		{
			Buffer		buf = ReadBuffer(index, P_NEW);

			if (BufferGetBlockNumber(buf) != start + alloc)
				elog(ERROR, "memkv: frozen layer of \"%s\" is not contiguous",
					 RelationGetRelationName(index));
			ReleaseBuffer(buf);
		}
	}
	if (needLock && !use_spare)
		UnlockRelationForExtension(index, ExclusiveLock);

	meta->frozen_start = start;
	meta->frozen_alloc = (uint32) alloc;
	meta->frozen_npages = (uint32) npages;
	meta->frozen_epoch = epoch;
	meta->fst_size = w->fst.len;
	meta->postings_size = w->postings.len;
	meta->nullpost_size = w->nullpost.len;
	meta->frozen_nkeys = w->nkeys;
	meta->frozen_ntids = w->ntids + w->nnulls;
	meta->last_freeze = GetCurrentTimestamp();
	FIN_CRC32C(crc);
	meta->frozen_crc = crc;
}

/*
 * After memkv_frozen_writer_finish, give the entry a shared copy of the new
 * run (the run `meta` now describes) and, if the writer collected them,
 * its key blocks, so that the first scans after a freeze need not build
 * them.  Each goes in only if the arena stays at most half full.  Entry
 * lock held exclusively, with no copy installed (memkv_run_copy_free).
 */
void
memkv_frozen_writer_install_cache(MemkvFrozenWriter *w, MemkvEntry *entry,
								  const MemkvMetaPageData *meta)
{
	uint64		total = w->fst.len + w->postings.len + w->nullpost.len;
	ArenaPtr	p;
	uint8	   *dst;

	Assert(entry->run_copy == ARENA_NULL);
	if (meta->frozen_start == InvalidBlockNumber)
		return;
	p = memkv_accelerator_alloc(Max(total, 1));
	if (p == ARENA_NULL)
		return;
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	if (w->fst.len > 0)
		memcpy(dst, w->fst.data, w->fst.len);
	if (w->postings.len > 0)
		memcpy(dst + w->fst.len, w->postings.data, w->postings.len);
	if (w->nullpost.len > 0)
		memcpy(dst + w->fst.len + w->postings.len, w->nullpost.data,
			   w->nullpost.len);
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	entry->run_copy_instance = meta->instance_id;
	entry->run_copy_epoch = meta->frozen_epoch;
	entry->run_copy_start = meta->frozen_start;
	entry->run_copy_failed = false;

	if (w->kb)
	{
		Size		size = kb_builder_size(w->kb);

		p = memkv_accelerator_alloc(size);
		if (p != ARENA_NULL)
		{
			kb_builder_finish(w->kb, ARENA_ADDR(memkv_allocator()->base, p));
			entry->run_kb = p;
			entry->run_kb_bytes = size;
		}
	}
}
