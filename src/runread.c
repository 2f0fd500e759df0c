/*-------------------------------------------------------------------------
 *
 * runread.c
 *	  Reading a frozen run: opening it (from its run memo, runmemo.c),
 *	  looking keys up and walking them in order through the slices' FST
 *	  readers or the run's key blocks, and reading their postings.
 *
 * The run is read through page sources (runpages.c), or from the entry's
 * shared copy of it (runcopy.c: every slice's stream, in order) when the
 * caller holds the entry lock and the copy is of this run.  A reader is
 * on one slice at a time: lookups go to the slice the fences name, FST
 * walks move from one slice to the next (or the previous) when a slice
 * ends.  Key blocks, next to the shared copy, cover the whole run with
 * run-wide ordinals: a walk over them crosses no slice boundary, and
 * reads each key's postings from the slice its ordinal falls in.
 * Postings are read by the slice's own ordinals; dead lists name run-wide
 * ordinals (the slice's first ordinal, from the memo, plus its own).  An
 * open reader is on no slice until its first read, and every move to a
 * slice goes through the memo, which opens a slice on its first use in
 * the backend (memkv_run_memo_slice).  A
 * MemkvFrozen is opened and closed under one entry lock (shared is
 * enough), or by a freeze under its metapage lock: either keeps the run's
 * pages from being retired meanwhile.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "fst.h"
#include "keyblocks.h"
#include "memkv.h"
#include "memutil.h"
#include "deadpages.h"
#include "page.h"
#include "registry.h"
#include "runmemo.h"
#include "runpages.h"
#include "runread.h"

struct MemkvFrozen
{
	Relation	index;
	MemkvPageSource fst_src;
	MemkvPageSource post_src;
	FstReader	reader;
	FstPostings postings;
	const RunHeader *hdr;		/* the run memo's: extents, NULL TIDs */
	MemkvRunMemo *memo;			/* the run's memo: its slices */
	uint32		slice;			/* the slice reader, postings, cursor are on,
								 * or MEMKV_NO_SLICE */
	uint64		base;			/* run-wide ordinal of its first key */
	uint64		slice_nkeys;	/* and its key count (0: no slice) */
	const uint8 *mem;			/* the run's shared copy, or NULL */
	FstCursor	cursor;
	FstAllocator alloc;
	ItemPointerData *tidbuf;	/* scratch for one key's postings */
	uint64		tidbuf_size;
	FstPostingsGroup postgrp;	/* layout of the last postings group read */
	bool		have_kb;		/* key blocks of this run are in the arena */
	KbImage		kb;
	KbIter		kbit;
	uint64		instance_id;	/* which run this is (from the metapage) */
	uint32		run_tag;		/* its pages' tag */
	BlockNumber run_header;		/* its first header page */
	const DeadList *dead;		/* the memo's dead list, or NULL */
	MemkvDeadCursor *dc;		/* and the memo's cursor on it */
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
	uint32		run_tag;
	BlockNumber run_header;
	KbIter		it;
};

/*
 * Report a frozen-layer read failure: on a standby the layer may have been
 * replaced under the reader by replay, otherwise the index is corrupt.
 */
static void
memkv_frozen_failed(MemkvFrozen *fz, const char *detail)
{
	bool		raced = fz->fst_src.failed || fz->post_src.failed;

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
 * MemkvFrozen structs are kept for reuse (memutil.c's spares), so that a
 * scan does not allocate (and free) the large struct for every run every
 * time: an open takes a free one.  Nothing runs between an open and its
 * close that could open more than the directory's runs, except when an
 * error escapes in between; the (sub)transaction's abort then marks them
 * all free again.  Anything a spare pointed to outside itself belonged to
 * the failed operation and is set up afresh by the next open.
 */
static MemkvSpares spare_frozen = {sizeof(MemkvFrozen)};

/* fz->slice of a MemkvFrozen on no slice yet */
#define MEMKV_NO_SLICE	PG_UINT32_MAX

/*
 * Put fz's reader, postings and cursor on slice s, reading its pages or
 * the shared copy if fz has one; the memo opens the slice if this backend
 * has not yet (memkv_run_memo_slice: its corruption ERROR leaves fz where
 * it was).  The cursor is left unpositioned.
 */
static void
memkv_frozen_use_slice(MemkvFrozen *fz, uint32 s)
{
	const MemkvSliceMemo *sm;

	if (s == fz->slice)
		return;
	sm = memkv_run_memo_slice(fz->index, fz->memo, s);
	if (fz->slice != MEMKV_NO_SLICE)
	{
		memkv_page_source_release(&fz->fst_src);
		memkv_page_source_release(&fz->post_src);
		fst_cursor_free(&fz->cursor);
	}
	fz->slice = s;
	fz->base = sm->first_ordinal;
	fz->slice_nkeys = sm->nkeys;
	memkv_slice_sources_init(fz->index, fz->hdr, fz->run_tag, s,
							 &fz->post_src, &fz->fst_src);
	/* all but the reader's scratch buffer and message */
	memkv_run_memo_reader(fz->memo, s, &fz->reader);
	memcpy(&fz->postings, &sm->postings, sizeof(FstPostings));
	fz->reader.src.arg = &fz->fst_src;
	fz->postings.src.arg = &fz->post_src;
	/* the pages every lookup reads, from the memo's copies if it has room */
	if (!fz->mem &&
		!memkv_run_memo_slice_mem(fz->index, fz->memo, s, &fz->post_src,
								  &fz->fst_src))
		memkv_frozen_failed(fz, "a page of its top region or postings table could not be read");

	/* read the shared copy instead of the pages */
	if (fz->mem)
	{
		const RunSlice *slice = &fz->hdr->slices[s];
		const uint8 *stream = fz->mem + sm->stream_off;
		FstSource	src;

		src.read = fst_memory_read;
		src.arg = (void *) (stream + slice->postings_bytes);
		src.size = slice->leaf_bytes + slice->top_bytes;
		fst_reader_set_source(&fz->reader, &src);
		fz->postings.src.read = fst_memory_read;
		fz->postings.src.arg = (void *) stream;
	}
	fst_cursor_init(&fz->cursor, &fz->reader, &fz->alloc);
	fst_postings_group_reset(&fz->postgrp);
}

/*
 * Put fz on the slice holding run-wide ordinal `ordinal` (of a key-block
 * walk, which covers the whole run) and return the slice's own ordinal of
 * it.  A walk stays on one slice for long, so the current one is tried
 * first; otherwise a binary search over the memo's slices' first
 * ordinals (known before the slices are opened).  An ordinal
 * beyond the run's keys is the corruption ERROR (the key blocks were
 * checked against the run's key count when it was opened).
 */
static inline uint64
memkv_frozen_slice_ordinal(MemkvFrozen *fz, uint64 ordinal)
{
	const MemkvSliceMemo *slices = fz->memo->slices;
	uint32		lo,
				hi;

	if (likely(ordinal >= fz->base && ordinal - fz->base < fz->slice_nkeys))
		return ordinal - fz->base;
	if (ordinal >= fz->memo->nkeys)
		memkv_frozen_failed(fz, "key block ordinal beyond the run's keys");
	/* the last slice whose first ordinal is at or before `ordinal` */
	lo = 0;
	hi = fz->hdr->nslices;
	while (hi - lo > 1)
	{
		uint32		mid = lo + (hi - lo) / 2;

		if (slices[mid].first_ordinal <= ordinal)
			lo = mid;
		else
			hi = mid;
	}
	memkv_frozen_use_slice(fz, lo);
	return ordinal - fz->base;
}

/*
 * Move fz's walk to the next slice (the previous one when `backward`), if
 * there is one, fz does not walk key blocks, and the walk's stop bound
 * (NULL: none) does not lie before that slice: keys of slice s are at or
 * after its fence and before slice s + 1's.  False if the walk is over.
 */
static bool
memkv_frozen_step_slice(MemkvFrozen *fz, bool backward, const ArtBound *stop)
{
	const RunSlice *fence;
	int			cmp;

	if (fz->have_kb ||
		(backward ? fz->slice == 0 : fz->slice + 1 >= fz->hdr->nslices))
		return false;
	/* the fence between this slice and the one the walk would enter */
	fence = &fz->hdr->slices[backward ? fz->slice : fz->slice + 1];
	if (stop)
	{
		cmp = memkv_key_cmp(stop->key, stop->len, fence->fence,
							fence->fence_len);
		if (backward ? cmp >= 0 : (cmp < 0 || (cmp == 0 && !stop->inclusive)))
			return false;
	}
	memkv_frozen_use_slice(fz, backward ? fz->slice - 1 : fz->slice + 1);
	return true;
}

/*
 * Open run meta->runs[i].  It is read from the entry's shared copy if the
 * caller holds the entry lock and the copy is of this run, else from its
 * pages.  Close it with memkv_frozen_close before
 * releasing the entry lock under which `meta` was read.
 */
MemkvFrozen *
memkv_frozen_open(Relation index, const MemkvMetaPageData *meta, int i,
				  MemkvEntry *entry)
{
	const MemkvRunDesc *run = &meta->runs[i];
	MemkvFrozen *fz;
	MemkvRunMemo *cache = memkv_run_memo_get(index, meta, i);

	fz = memkv_spare_take(&spare_frozen);
	fz->index = index;
	fz->instance_id = run->instance_id;
	fz->run_tag = run->run_tag;
	fz->run_header = run->run_header;
	fz->hdr = cache->hdr;
	fz->memo = cache;
	fz->dead = cache->dead ? cache->dead->list : NULL;
	fz->dc = &cache->dc;
	memkv_fst_allocator(&fz->alloc);

	/* the run's copy in shared memory, if the caller holds the entry lock */
	fz->mem = NULL;
	if (entry && entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == run->instance_id &&
		entry->run_copy_epoch == run->run_tag &&
		entry->run_copy_start == run->run_header)
		fz->mem = ARENA_ADDR(memkv_allocator()->base, entry->run_copy);
	/* no slice yet: the first read picks (and, if need be, opens) one */
	fz->slice = MEMKV_NO_SLICE;
	fz->base = 0;
	fz->slice_nkeys = 0;
	fz->fst_src.failed = false;
	fz->post_src.failed = false;

	/*
	 * The run's key blocks, which exist only next to the shared copy: of
	 * every slice, so they hold the run's key count.
	 */
	fz->have_kb = false;
	if (fz->mem && entry->run_kb != ARENA_NULL)
	{
		if (kb_open(&fz->kb, ARENA_ADDR(memkv_allocator()->base,
										entry->run_kb),
					entry->run_kb_bytes) != 0 ||
			fz->kb.hdr->nkeys != fz->memo->nkeys)
			elog(ERROR, "memkv: key blocks of index \"%s\" are malformed",
				 RelationGetRelationName(index));
		kb_iter_init(&fz->kbit, &fz->kb, &fz->alloc);
		fz->have_kb = true;
	}

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
	if (fz->slice != MEMKV_NO_SLICE)
	{
		memkv_page_source_release(&fz->fst_src);
		memkv_page_source_release(&fz->post_src);
		fst_cursor_free(&fz->cursor);
	}
	if (fz->have_kb)
		kb_iter_free(&fz->kbit);
	pfree(fz->tidbuf);
	memkv_spare_give(&spare_frozen, fz);
}

/* Read every TID of `ordinal` from `p` into fz->tidbuf, dead or not. */
static inline uint64
memkv_frozen_read_raw(MemkvFrozen *fz, FstPostings *p, uint64 ordinal)
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
 * Drop from fz->tidbuf[0..n) the TIDs of `ordinal` that the run's dead
 * list names; returns how many are left.  Queries in ascending order (a
 * forward walk) move the cursor forward, O(1) each; others search.
 */
static uint64
memkv_frozen_drop_dead(MemkvFrozen *fz, uint64 ordinal, uint64 n)
{
	DeadCursor *c = &fz->dc->cur;
	uint64		i,
				kept = 0;

	/*
	 * The cursor is on the first pair at or after the last query (or on
	 * the first pair, before any query): a key after that query's ordinal
	 * and before the cursor's has no dead TID.  So a forward walk asks the
	 * list once per key that has one, not per TID.
	 */
	if ((ordinal > fz->dc->last || c->at_start) &&
		(!c->valid || ordinal < c->cur.ordinal))
		return n;
	fz->dc->last = ordinal;
	for (i = 0; i < n; i++)
	{
		ItemPointer tid = &fz->tidbuf[i];

		if (!deadlist_cursor_is_dead(c, ordinal,
									 ItemPointerGetBlockNumberNoCheck(tid),
									 ItemPointerGetOffsetNumberNoCheck(tid)))
			fz->tidbuf[kept++] = *tid;
	}
	return kept;
}

/*
 * Read every TID of `ordinal` (of the current slice) from `p` into
 * fz->tidbuf; returns the count.  Without `raw`, the TIDs the run's dead
 * list names (by run-wide ordinal) are left out.
 */
#define memkv_frozen_read_postings(fz, p, ordinal) \
	memkv_frozen_read_tids((fz), (p), (ordinal), false)

static inline uint64
memkv_frozen_read_tids(MemkvFrozen *fz, FstPostings *p, uint64 ordinal,
					   bool raw)
{
	uint64		n = memkv_frozen_read_raw(fz, p, ordinal);

	if (unlikely(fz->dead != NULL) && !raw)
		n = memkv_frozen_drop_dead(fz, fz->base + ordinal, n);
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
 * May run meta->runs[i] hold `key`?  Its filter says (runbloom.c: the
 * memo's copy of it, or one block of its pages); true if it has none.
 * Exact lookups ask before they open the run (fill.c), so that a run the
 * filter rules out costs neither the open nor a source in the merge.
 * Same caller rules as memkv_frozen_open.
 */
bool
memkv_run_may_hold(Relation index, const MemkvMetaPageData *meta, int i,
				   const ArtBound *key)
{
	MemkvRunMemo *m = memkv_run_memo_get(index, meta, i);

	return memkv_run_filter_may_hold(index, m->hdr, meta->runs[i].run_tag,
									 memkv_run_memo_filter(index, m),
									 key->key, key->len);
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

	/* an equality needs no cursor: one exact lookup (the filter: fill.c) */
	if (lower && upper && lower->inclusive && upper->inclusive &&
		lower->len == upper->len &&
		memcmp(lower->key, upper->key, lower->len) == 0)
	{
		uint64		ordinal;
		uint64		n;

		if (pos)
			pos->valid = false;
		memkv_frozen_use_slice(fz, runhdr_slice_for_key(fz->hdr, lower->key,
														lower->len));
		r = fst_lookup(&fz->reader, lower->key, lower->len, &ordinal);
		if (r < 0)
			memkv_frozen_failed(fz, fz->reader.errmsg);
		if (r == 1)
		{
			n = memkv_frozen_read_postings(fz, &fz->postings, ordinal);
			if (n > 0)			/* not if they are all dead */
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
			pos->run_tag == fz->run_tag &&
			pos->run_header == fz->run_header && kbit->positioned)
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
	{
		/* the slice the bound falls in, else the run's first or last */
		memkv_frozen_use_slice(fz, bound ?
							   runhdr_slice_for_key(fz->hdr, bound->key,
													bound->len) :
							   backward ? fz->hdr->nslices - 1 : 0);
		r = fst_cursor_seek(c, op, bound ? bound->key : NULL,
							bound ? bound->len : 0);
	}
	if (pos)
		pos->valid = false;

	for (;;)
	{
		const ArtBound *stop = backward ? lower : upper;
		const uint8 *key;
		Size		keylen;
		uint64		ordinal;
		uint64		n;

		/* the slice has no more keys this way: on to the next one */
		if (r == 0 && memkv_frozen_step_slice(fz, backward, stop))
		{
			r = fst_cursor_seek(c, backward ? FST_SEEK_LAST : FST_SEEK_FIRST,
								NULL, 0);
			continue;
		}
		if (r != 1)
			break;
		key = fz->have_kb ? kbit->key : c->key;
		keylen = fz->have_kb ? kbit->keylen : c->keylen;

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
				pos->run_tag = fz->run_tag;
				pos->run_header = fz->run_header;
			}
			break;
		}
		/* a key-block ordinal is run-wide: its slice's postings hold it */
		ordinal = fz->have_kb ?
			memkv_frozen_slice_ordinal(fz, kbit->ordinal) : c->ordinal;
		n = memkv_frozen_read_postings(fz, &fz->postings, ordinal);
		if (n > 0)				/* not if they are all dead */
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
 * Check each slice's FST and postings structurally (fst_verify), and that
 * the header's split of its FST bytes agrees with the FST's own top start
 * (a version 3 image: leaf bytes end where the top region starts; older
 * ones: no top bytes): returns true, or false with a message in errbuf
 * (FST_ERRMSG_LEN bytes) -- also when a slice does not open (the memo's
 * checks of memkv_run_memo_slice, which scans raise as an ERROR; then
 * *unopened is set, and no walk of the run can pass that slice).  Each
 * slice's FST version and top region are reported at DEBUG1.  The order
 * of keys across slices is the walk's to check (verify.c).
 */
bool
memkv_frozen_check(MemkvFrozen *fz, char *errbuf, bool *unopened)
{
	FstVerifyInfo info;
	uint32		s;

	for (s = 0; s < fz->hdr->nslices; s++)
	{
		const RunSlice *slice = &fz->hdr->slices[s];
		bool		split_ok;
		bool		raced;
		const char *failed;

		/* a slice that cannot be opened is reported, not raised */
		failed = memkv_run_memo_slice_try(fz->index, fz->memo, s, &raced);
		*unopened = failed != NULL;
		if (failed)
		{
			if (raced && RecoveryInProgress())
				memkv_frozen_raced(fz->index);
			snprintf(errbuf, FST_ERRMSG_LEN, "slice %u: %s", s, failed);
			return false;
		}
		memkv_frozen_use_slice(fz, s);
		/* the pages themselves, not the memo's copies of some */
		fz->fst_src.mem = NULL;
		fz->post_src.mem = NULL;
		elog(DEBUG1, "memkv: run %llu slice %u: FST version %u, top region %llu of %llu bytes",
			 (unsigned long long) fz->hdr->run_id, s,
			 (unsigned) fz->reader.version,
			 (unsigned long long) (fz->reader.nodes_end - fz->reader.top_start),
			 (unsigned long long) (slice->leaf_bytes + slice->top_bytes));
		split_ok = fz->reader.version == FST_VERSION_TOP ?
			slice->leaf_bytes == fz->reader.top_start :
			slice->top_bytes == 0;
		if (!split_ok)
			snprintf(errbuf, FST_ERRMSG_LEN,
					 "the run header's leaf bytes (%llu) do not end where the FST's top region starts (%llu)",
					 (unsigned long long) slice->leaf_bytes,
					 (unsigned long long) fz->reader.top_start);
		if (!split_ok ||
			fst_verify(&fz->reader, &fz->postings, &fz->alloc, &info,
					   errbuf) != 0)
		{
			if (fz->hdr->nslices > 1)
			{
				char		msg[FST_ERRMSG_LEN];

				snprintf(msg, sizeof(msg), "slice %u: %s", s, errbuf);
				strlcpy(errbuf, msg, FST_ERRMSG_LEN);
			}
			return false;
		}
	}
	return true;
}

/* Fill fz->tidbuf with the NULL key's TIDs, dead or not; returns how many. */
static uint64
memkv_frozen_null_raw(MemkvFrozen *fz)
{
	uint64		n = fz->hdr->nnulls;
	uint64		i;

	if (n > fz->tidbuf_size)
	{
		fz->tidbuf = repalloc_huge(fz->tidbuf, mul_size(n, sizeof(ItemPointerData)));
		fz->tidbuf_size = n;
	}
	for (i = 0; i < n; i++)
	{
		ItemPointerSetBlockNumber(&fz->tidbuf[i], fz->hdr->nulls[i].block);
		ItemPointerSetOffsetNumber(&fz->tidbuf[i], fz->hdr->nulls[i].offset);
	}
	return n;
}

/*
 * The frozen NULL key's live TIDs (those its dead list does not name):
 * returns how many (0 if the run has none) and points *tids at them, in
 * the layer's scratch buffer (valid until its next read).
 */
uint64
memkv_frozen_null_tids(MemkvFrozen *fz, const ItemPointerData **tids)
{
	uint64		n = memkv_frozen_null_raw(fz);

	if (n > 0 && unlikely(fz->dead != NULL))
		n = memkv_frozen_drop_dead(fz, fz->memo->nkeys, n);
	*tids = fz->tidbuf;
	return n;
}

/*
 * Call fn on every TID of the run, dead-listed or not, in (ordinal, TID)
 * order: each key's postings by ordinal, then the NULL key's (ordinal
 * nkeys).  Reads only the postings, not the FST (VACUUM, memkv_verify).
 */
void
memkv_frozen_each_tid(MemkvFrozen *fz, MemkvTidFn fn, void *arg)
{
	uint32		s;
	uint64		o,
				i,
				n;

	for (s = 0; s < fz->hdr->nslices; s++)
	{
		memkv_frozen_use_slice(fz, s);
		for (o = 0; o < fz->slice_nkeys; o++)
		{
			if ((o & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			n = memkv_frozen_read_tids(fz, &fz->postings, o, true);
			for (i = 0; i < n; i++)
				fn(arg, fz->base + o, &fz->tidbuf[i]);
		}
	}
	n = memkv_frozen_null_raw(fz);
	for (i = 0; i < n; i++)
		fn(arg, fz->memo->nkeys, &fz->tidbuf[i]);
}

/* The run's dead list as its memo holds it, or NULL if it has none. */
const DeadList *
memkv_frozen_dead_list(MemkvFrozen *fz)
{
	return fz->dead;
}
