/*-------------------------------------------------------------------------
 *
 * runwrite.c
 *	  Writing a new run: its FST (with a top region over page-sized leaf
 *	  units, src/README "Run layout") and postings are built in backend
 *	  memory as keys arrive in order, a slice at a time; a slice is closed when
 *	  its plain FST image reaches the slice limit, or the writer's memory
 *	  would pass its budget of maintenance_work_mem / 2 when packing it
 *	  (src/README, "CREATE INDEX and memory"), then packed and written to
 *	  free pages or new blocks, and its memory freed.  A run that is not
 *	  the index's bottom one gets a membership filter (runbloom.c), built
 *	  in memory as keys arrive and written after the last slice.  The
 *	  header pages (runhdr.h version 3: extents, slices with their key
 *	  counts and fences, the filter's place, NULL TIDs) follow, all
 *	  WAL-logged as full pages.  A one-slice run's shared copy and key
 *	  blocks may be installed for scans.
 *
 * Used by CREATE INDEX (build.c, buildspill.c), freezes, merges and
 * VACUUM's rewrites (freeze.c).  A freeze adds keys and calls
 * memkv_frozen_writer_finish holding the metapage lock (no other freeze
 * or VACUUM sweep runs meanwhile, which could take the pages of slices
 * already written for unreferenced ones) and no entry lock, and
 * memkv_frozen_writer_install_cache under the entry lock held
 * exclusively.  The new run is referenced by nothing until the caller
 * switches the metapage to it.
 *
 * All the writer's memory is in its own memory context; its peak size,
 * sampled at every allocation, is reported at DEBUG1 by
 * memkv_frozen_writer_finish.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

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
#include "memkv_guc.h"
#include "memutil.h"
#include "page.h"
#include "registry.h"
#include "runbloom.h"
#include "runcopy.h"
#include "runpages.h"
#include "runread.h"
#include "runwrite.h"
#include "runwrite_int.h"

/* Note the writer's context's size if it is the largest so far. */
static inline void
memkv_writer_note_peak(MemkvFrozenWriter *w)
{
	Size		now = MemoryContextMemAllocated(w->cxt, true);

	if (now > w->peak)
		w->peak = now;
}

/*
 * The writer's FstAllocator: the plain one in w->cxt, each allocation
 * followed by a look at the context's size, so that the peak includes
 * fst_pack's and the builder's transient arrays.
 */
static void *
memkv_writer_alloc(void *arg, size_t size)
{
	MemkvFrozenWriter *w = (MemkvFrozenWriter *) arg;
	void	   *p = w->inner.alloc(w->inner.arg, size);

	memkv_writer_note_peak(w);
	return p;
}

static void *
memkv_writer_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	MemkvFrozenWriter *w = (MemkvFrozenWriter *) arg;
	void	   *p = w->inner.realloc(w->inner.arg, ptr, oldsize, newsize);

	memkv_writer_note_peak(w);
	return p;
}

static void
memkv_writer_free(void *arg, void *ptr)
{
	MemkvFrozenWriter *w = (MemkvFrozenWriter *) arg;

	w->inner.free(w->inner.arg, ptr);
}

/* FstSinkFn: append to an in-memory image. */
static int
memkv_image_sink(void *arg, const uint8_t *data, size_t len)
{
	MemkvImage *img = (MemkvImage *) arg;

	if (img->len + len > img->size)
	{
		uint64		newsize = Max(img->size * 2, 8192);

		/* a slice's image: doubling past the limit would waste up to half */
		if (img->cap > 0 && newsize > img->cap && img->len + len <= img->cap)
			newsize = img->cap;
		while (img->len + len > newsize)
			newsize *= 2;
		img->data = img->data ? repalloc_huge(img->data, newsize) :
			MemoryContextAllocHuge(CurrentMemoryContext, newsize);
		img->size = newsize;
		memkv_writer_note_peak(img->owner);
	}
	memcpy(img->data + img->len, data, len);
	img->len += len;
	return 0;
}

/*
 * Start a slice whose fence is fence[0..fence_len) (empty for slice 0): a
 * new FST builder and postings writer.  In w->cxt.
 */
void
memkv_frozen_writer_start_slice(MemkvFrozenWriter *w, const uint8 *fence,
								Size fence_len)
{
	w->fst.cap = w->slice_limit + MEMKV_SLICE_SLACK;
	w->fst.owner = w;
	w->postings.owner = w;
	w->fence = NULL;
	w->fence_len = fence_len;
	if (fence_len > 0)
	{
		w->fence = palloc(fence_len);
		memcpy(w->fence, fence, fence_len);
	}
	w->builder = fst_builder_create(&w->alloc, memkv_image_sink, &w->fst,
									&w->opts);
	w->pw = fst_postings_writer_create(&w->alloc, memkv_image_sink,
									   &w->postings);
	w->slice_nkeys = 0;
}

/*
 * Start writing a new run `run_id` of `index`; keys follow in ascending
 * order.  Slices are written as they fill, so the caller must already
 * hold what a finish needs (see the file's header).  The writer's memory
 * is a child context of the current one.
 */
MemkvFrozenWriter *
memkv_frozen_writer_begin(Relation index, uint64 run_id)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "memkv run writer",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemkvFrozenWriter *w = palloc0(sizeof(MemkvFrozenWriter));

	w->cxt = cxt;
	w->index = index;
	w->run_id = run_id;
	w->tag = (uint32) run_id;
	/* src/README, "CREATE INDEX and memory" */
	w->budget = Max((Size) maintenance_work_mem * 1024 / 2,
					MEMKV_WRITER_MIN_BUDGET);
	/*
	 * The builder's registry: up to 2 MB (fst_build.c), and a quarter of
	 * the budget at most.  More finds more shared suffixes (1M npm names:
	 * 10.26 B/key of FST at 2 MB, 10.01 at 8 MB) but misses in cache: 8 MB
	 * builds 4-19% slower.
	 */
	w->opts.registry_bytes = Min(w->budget / 4, 2 * 1024 * 1024);
	/* packing then need not walk the whole image first (fst_pack.c) */
	w->opts.pack_map = true;
	/*
	 * Leaf units of a page's worth of stream under a top region, suffixes
	 * shared only within two units' bytes (src/README, "Run layout"): a
	 * lookup reads the slice's few shared top pages and about one page of
	 * leaf unit, which rarely points to a (cold) page far below it.
	 */
	w->opts.unit_bytes = memkv_debug_unit_bytes >= 0 ?
		(uint64) memkv_debug_unit_bytes : MEMKV_RUN_CHUNK;
	w->opts.share_window = memkv_debug_share_window >= 0 ?
		(uint64) memkv_debug_share_window : 2 * w->opts.unit_bytes;
	w->slice_limit = memkv_debug_slice_bytes > 0 ?
		(uint64) memkv_debug_slice_bytes :
		(uint64) w->budget / MEMKV_WRITER_PER_IMAGE_BYTE;
	w->maxslices = 8;
	w->slices = palloc(sizeof(RunSlice) * w->maxslices);
	w->maxextents = 8;
	w->extents = palloc(sizeof(RunExtent) * w->maxextents);
	w->prevsize = 256;
	w->prev = palloc(w->prevsize);
	memkv_fst_allocator(&w->inner);
	w->alloc.alloc = memkv_writer_alloc;
	w->alloc.realloc = memkv_writer_realloc;
	w->alloc.free = memkv_writer_free;
	w->alloc.arg = w;
	memkv_frozen_writer_start_slice(w, NULL, 0);
	MemoryContextSwitchTo(old);
	return w;
}

/*
 * Also build the key blocks of the new run as its keys go by (about 26
 * bytes per path-like key of backend memory, within the writer's budget:
 * given up rather than let it pass), for memkv_frozen_writer_install_cache.
 */
void
memkv_frozen_writer_collect_keys(MemkvFrozenWriter *w)
{
	/*
	 * Installed only with the copy of a run of one slice, whose images
	 * the writer still holds; a run of several gets both at its first
	 * range scan (runcopy.c)
	 */
	if (w->kb == NULL && w->nslices == 0)
		w->kb = kb_builder_create(&w->alloc);
}

/*
 * For a rewrite of runs meta->runs[first .. first + ninputs) (newest
 * first) and delta_keys keys of the delta into one run: give the new run
 * a membership filter (runfilter.h) of memkv_filter_bits() bits per key
 * unless it will be the bottom (oldest) run of the index -- the rewrite
 * takes in the oldest run, or there is no run yet -- where most lookups
 * of present keys end anyway (src/README, "Per-run filter").  Sized for
 * the inputs' keys (duplicates across them only lower its false
 * positives), held in backend memory until the finish writes it after the
 * last slice.  None either if filters are off (memkv.debug_filter_bits =
 * 0), the header version written has no filter, or it would take more
 * than a quarter of the writer's budget (about 1.25 bytes a key at 10
 * bits: 6.7M keys at the default maintenance_work_mem).  Call before the
 * first key.
 */
void
memkv_frozen_writer_want_filter(MemkvFrozenWriter *w,
								const MemkvMetaPageData *meta, int first,
								int ninputs, uint64 delta_keys)
{
	RunFilterParams p;
	uint64		expected_keys = delta_keys;
	int			i;

	Assert(w->nkeys == 0);
	if (first + ninputs >= meta->nruns)
		return;					/* the bottom run */
	for (i = first; i < first + ninputs; i++)
		expected_keys += meta->runs[i].run_nkeys;
	if (memkv_debug_header_version < RUNHDR_VERSION ||
		!runfilter_size(expected_keys, memkv_filter_bits(), MEMKV_RUN_CHUNK,
						memkv_filter_block_offset(), &p) ||
		(uint64) p.nblocks * RUNFILTER_BLOCK_BYTES > w->budget / 4)
		return;
	w->filter = MemoryContextAllocExtended(w->cxt,
										   (Size) p.nblocks * RUNFILTER_BLOCK_BYTES,
										   MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	w->filter_params = p;
}

/*
 * Finish the current slice's images and pack its FST (see fst_pack.c):
 * the moment the writer holds the most (the plain image, its pack map,
 * the packed image and fst_pack's arrays).
 * Returns the slice's stream bytes: the postings image, then the FST
 * image; *top_start is where the FST's top region starts (fst.h, "TOP
 * REGION"), or the image's end if it has none.  In w->cxt.
 */
static uint64
memkv_frozen_writer_finish_images(MemkvFrozenWriter *w, uint64 *top_start)
{
	FstInfo		info;
	FstPostingsInfo pinfo;

	if (fst_builder_finish(w->builder, &info) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	if (fst_postings_finish(w->pw, &pinfo) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	/* re-encode the whole FST in the packed format (see fst_pack.c) */
	if (w->fst.len > 0)
	{
		MemkvImage	packed = {0};
		char		err[FST_ERRMSG_LEN];
		FstPackMap *map = fst_builder_take_pack_map(w->builder);

		packed.cap = w->fst.cap;
		packed.owner = w;

		if (fst_pack(w->fst.data, w->fst.len, map, &w->alloc,
					 memkv_image_sink, &packed, &info, err) != 0)
			elog(ERROR, "memkv: FST packing failed: %s", err);
		fst_pack_map_free(&w->alloc, map);
		pfree(w->fst.data);
		w->fst = packed;
	}
	if (info.top_start < FST_PREAMBLE_SIZE || info.top_start > w->fst.len)
		elog(ERROR, "memkv: FST build gave a top region start of %llu in an image of %llu bytes",
			 (unsigned long long) info.top_start,
			 (unsigned long long) w->fst.len);
	/* an image without a top region (version 2) is all leaf bytes */
	*top_start = w->opts.unit_bytes > 0 ? info.top_start : w->fst.len;
	fst_builder_destroy(w->builder);
	fst_postings_writer_destroy(w->pw);
	w->builder = NULL;
	w->pw = NULL;
	return w->postings.len + w->fst.len;
}

/*
 * Note that logical page w->npages is block blkno: extends the last
 * extent if blkno follows it, else starts another.  In w->cxt.
 */
static void
memkv_frozen_writer_add_page(MemkvFrozenWriter *w, BlockNumber blkno)
{
	RunExtent  *last = w->nextents > 0 ? &w->extents[w->nextents - 1] : NULL;

	if (last && last->start + last->length == blkno)
		last->length++;
	else
	{
		if (w->nextents == w->maxextents)
		{
			w->maxextents *= 2;
			w->extents = repalloc_huge(w->extents,
									   sizeof(RunExtent) * w->maxextents);
		}
		last = &w->extents[w->nextents++];
		last->start = blkno;
		last->length = 1;
		last->lpage = (uint32) w->npages;
	}
	w->npages++;
}

/* memkv_frozen_writer_add_page as a MemkvRunPageFn. */
static void
memkv_frozen_writer_note_page(void *arg, BlockNumber blkno)
{
	memkv_frozen_writer_add_page((MemkvFrozenWriter *) arg, blkno);
}

/*
 * Write the current slice's stream (postings image, then FST image) to
 * `npages` new data pages -- free pages from the free space map, else new
 * blocks -- tagged with the run's tag, WAL-logged as full pages, as the
 * run's next logical pages.  Returns the stream's CRC-32C.
 */
static uint32
memkv_frozen_writer_write_slice(MemkvFrozenWriter *w, uint64 npages)
{
	uint64		total = w->postings.len + w->fst.len;
	pg_crc32c	c;
	uint64		i;

	INIT_CRC32C(c);
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = memkv_new_buffer(w->index, w->tag);
		Page		page = BufferGetPage(buf);
		uint64		off = i * MEMKV_RUN_CHUNK;
		Size		n = Min(MEMKV_RUN_CHUNK, total - off);
		Size		done = 0;
		char	   *dst;

		memkv_frozen_writer_add_page(w, BufferGetBlockNumber(buf));
		START_CRIT_SECTION();
		memkv_init_run_page(page, w->tag);
		dst = PageGetContents(page);
		/* bytes [off, off + n) of the two images laid end to end */
		while (done < n)
		{
			uint64		pos = off + done;
			MemkvImage *img;
			uint64		ioff;
			Size		take;

			if (pos < w->postings.len)
				img = &w->postings, ioff = pos;
			else
				img = &w->fst, ioff = pos - w->postings.len;
			take = Min(n - done, img->len - ioff);
			memcpy(dst + done, img->data + ioff, take);
			COMP_CRC32C(c, img->data + ioff, take);
			done += take;
		}
		((PageHeader) page)->pd_lower = (dst + n) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(w->index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	FIN_CRC32C(c);
	return c;
}

/*
 * Close the current slice: finish and pack its images, write its pages,
 * and add it to the slice table (or, in a parallel build's participant,
 * hand the images out).  Unless `keep`, its images are freed (the writer
 * holds one slice at a time).  In w->cxt.
 */
void
memkv_frozen_writer_close_slice(MemkvFrozenWriter *w, bool keep)
{
	uint64		top_start;

	memkv_frozen_writer_finish_images(w, &top_start);
	if (w->slice_out != NULL)
		memkv_frozen_writer_hand_out(w, top_start);
	else
		memkv_frozen_writer_store_slice(w, top_start, keep);
}

/*
 * Free the current slice's FST and postings images, if any, and leave
 * both empty.
 */
void
memkv_frozen_writer_free_images(MemkvFrozenWriter *w)
{
	if (w->postings.data)
		pfree(w->postings.data);
	if (w->fst.data)
		pfree(w->fst.data);
	memset(&w->postings, 0, sizeof(MemkvImage));
	memset(&w->fst, 0, sizeof(MemkvImage));
}

/*
 * Write the finished images of the current slice (w->postings, w->fst,
 * w->fence, w->slice_nkeys; the FST's top region at top_start) to pages
 * and add the slice to the slice table; unless `keep`, free the images.
 * In w->cxt.
 */
void
memkv_frozen_writer_store_slice(MemkvFrozenWriter *w, uint64 top_start,
								bool keep)
{
	uint64		total = w->postings.len + w->fst.len;
	uint64		npages = Max((total + MEMKV_RUN_CHUNK - 1) / MEMKV_RUN_CHUNK, 1);
	RunSlice   *slice;

	if (w->npages + npages >= MaxBlockNumber)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("run of index \"%s\" would need more than %u pages",
						RelationGetRelationName(w->index), MaxBlockNumber),
				 errhint("Split the index's data, e.g. by partitioning the table.")));
	if (w->nslices == w->maxslices)
	{
		w->maxslices *= 2;
		w->slices = repalloc_huge(w->slices, sizeof(RunSlice) * w->maxslices);
	}
	slice = &w->slices[w->nslices];
	memset(slice, 0, sizeof(RunSlice));
	slice->first_page = (uint32) w->npages;
	slice->postings_bytes = w->postings.len;
	/* the preamble and leaf region; the top region, code table, trailer */
	slice->leaf_bytes = top_start;
	slice->top_bytes = w->fst.len - top_start;
	slice->nkeys = w->slice_nkeys;
	slice->crc = memkv_frozen_writer_write_slice(w, npages);
	slice->fence_len = (uint16) w->fence_len;
	slice->fence = w->fence;
	w->nslices++;
	if (!keep)
		memkv_frozen_writer_free_images(w);
}

/*
 * Whether the writer's memory plus what closing the slice (of `written`
 * bytes of plain FST image) will add reaches the budget.  The postings the
 * writer still buffers reach the postings image when their group ends,
 * whose buffer may double for them: twice theirs.
 */
static bool
memkv_frozen_writer_over_budget(MemkvFrozenWriter *w, uint64 written)
{
	return MemoryContextMemAllocated(w->cxt, true) +
		written * MEMKV_PACK_PER_IMAGE_BYTE +
		2 * fst_postings_buffered(w->pw) >= w->budget;
}

/*
 * Whether the current slice must be closed before the next key: its plain
 * FST image has reached the slice limit, or the writer's memory and what
 * closing the slice will add (packing, the postings still buffered) have
 * reached the budget even without the key blocks (looked at every 64 keys
 * and after a key of more than 64 TIDs, which may have grown the
 * postings).
 */
static bool
memkv_frozen_writer_slice_full(MemkvFrozenWriter *w)
{
	uint64		written = fst_builder_written(w->builder);

	if (written >= w->slice_limit)
		return true;
	if (memkv_debug_slice_bytes > 0)
		return false;
	if ((w->slice_nkeys & 63) != 0 && !w->big_key)
		return false;
	if (!memkv_frozen_writer_over_budget(w, written))
		return false;
	/*
	 * The key blocks are an optional shortcut (a one-slice run without
	 * them gets them from request.c's worker): give them up first.
	 */
	if (w->kb)
	{
		kb_builder_destroy(w->kb);
		w->kb = NULL;
		return memkv_frozen_writer_over_budget(w, written);
	}
	return true;
}

/*
 * Add the next key (ascending) with its TIDs (sorted, no duplicates).  If
 * the current slice's plain FST image has reached the slice limit, the
 * slice is closed and written first, and the key starts the next one.
 */
void
memkv_frozen_writer_add(MemkvFrozenWriter *w, const uint8 *key, Size keylen,
						ItemPointerData *tids, uint64 ntids)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	/*
	 * The plain FST image decides (src/README, "Slices exist to bound the
	 * writer's memory"): the postings are a fraction of it (about 3 bytes
	 * a key against 12 on paths).  The builder hands its image to the sink
	 * 64 kB at a time: its own count is exact.
	 */
	if (w->slice_nkeys > 0 && memkv_frozen_writer_slice_full(w))
	{
		size_t		fence_len = runhdr_fence_len(w->prev, w->prevlen,
												 key, keylen);

		if (fence_len == 0)
			elog(ERROR, "memkv: keys given to the run writer of \"%s\" are not ascending",
				 RelationGetRelationName(w->index));
		memkv_frozen_writer_close_slice(w, false);
		/* a run of several slices gets its key blocks from runcopy.c */
		if (w->kb)
		{
			kb_builder_destroy(w->kb);
			w->kb = NULL;
		}
		memkv_frozen_writer_start_slice(w, key, fence_len);
	}
	if (w->kb && kb_builder_add(w->kb, key, keylen) != 0)
	{
		/* over 4 GB of key blocks: the run goes without */
		kb_builder_destroy(w->kb);
		w->kb = NULL;
	}
	if (w->filter)
		runfilter_add(w->filter, &w->filter_params,
					  runfilter_hash(key, keylen));
	if (fst_builder_add(w->builder, key, keylen) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	if (fst_postings_add(w->pw, (const FstTid *) tids, ntids) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	if (w->nkeys == 0 && w->slice_out != NULL)
	{
		/* the range's first key: the leader cuts the fence from it */
		w->fence = palloc(Max(keylen, 1));
		memcpy(w->fence, key, keylen);
		w->fence_len = keylen;
	}
	if (w->nkeys == 0)
	{
		w->lo_len = (uint8) Min(keylen, RUNDIR_BOUND_BYTES);
		memcpy(w->lo, key, w->lo_len);
	}
	w->hi_len = (uint8) Min(keylen, RUNDIR_BOUND_BYTES);
	memcpy(w->hi, key, w->hi_len);
	if (keylen > w->prevsize)
	{
		w->prevsize = Max(keylen, w->prevsize * 2);
		w->prev = repalloc(w->prev, w->prevsize);
	}
	memcpy(w->prev, key, keylen);
	w->prevlen = keylen;
	w->big_key = ntids > 64;
	w->slice_nkeys++;
	w->nkeys++;
	w->ntids += ntids;
	MemoryContextSwitchTo(old);
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
 * Close and write the last slice, then write the new run's header pages
 * (extents, the slice table with its fences, the NULL TIDs) on free pages
 * or new blocks, WAL-logged as full pages.  Fills *run, the run's
 * directory entry; nothing references the run until the caller's switch
 * puts that entry in the directory (a crash before leaves its pages
 * unreferenced, for VACUUM's sweep).  `index` and `run_id` must be those
 * given to memkv_frozen_writer_begin.
 */
void
memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index,
						   uint64 run_id, MemkvRunEntry *run)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);
	RunHeader	h;
	uint32		hdr_pages;
	uint64		i;
	int			rc;

	Assert(index == w->index && run_id == w->run_id);
	/* the last slice (the only one: its images stay for the shared copy) */
	if (w->builder != NULL)
		memkv_frozen_writer_close_slice(w, w->nslices == 0);
	memset(&h, 0, sizeof(h));
	h.version = (uint16) memkv_debug_header_version;
	/* the filter's pages follow the last slice's */
	if (w->filter && w->nkeys > 0)
	{
		h.filter = w->filter_params;
		h.filter_page = (uint32) w->npages;
		h.filter_crc = memkv_run_filter_write(index, w->tag, &h.filter,
											  w->filter,
											  memkv_frozen_writer_note_page, w);
	}
	h.run_id = run_id;
	h.npages = (uint32) w->npages;
	h.nextents = w->nextents;
	h.extents = w->extents;
	h.nslices = w->nslices;
	h.slices = w->slices;
	h.nnulls = w->nnulls;
	h.nulls = palloc_extended(sizeof(RunTid) * Max(w->nnulls, 1),
							  MCXT_ALLOC_HUGE);
	for (i = 0; i < w->nnulls; i++)
	{
		h.nulls[i].block = ItemPointerGetBlockNumberNoCheck(&w->nulls[i]);
		h.nulls[i].offset = ItemPointerGetOffsetNumberNoCheck(&w->nulls[i]);
	}
	rc = runhdr_check(&h, RelationGetNumberOfBlocks(index), MEMKV_RUN_CHUNK,
					  &w->alloc);
	if (rc != RUNHDR_OK)
		elog(ERROR, "memkv: new run header of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), runhdr_strerror(rc));

	memset(run, 0, sizeof(MemkvRunEntry));
	run->header_block = memkv_run_header_write(index, &h, w->tag, &hdr_pages);
	run->run_id = run_id;
	run->ntids = w->ntids + w->nnulls;
	run->nkeys = w->nkeys;
	run->nnulls = w->nnulls;
	run->npages = (uint32) w->npages + hdr_pages;
	run->nslices = w->nslices;
	run->dead_block = RUNDIR_INVALID_BLOCK;
	if (w->nkeys > 0)
		rundir_set_bounds(run, w->lo, w->lo_len, w->hi, w->hi_len);
	w->peak = Max(w->peak, MemoryContextMemAllocated(w->cxt, true));
	elog(DEBUG1, "memkv run writer: run " UINT64_FORMAT " of \"%s\": " UINT64_FORMAT " keys in %u slices of about " UINT64_FORMAT " bytes of plain FST, %u pages; peak %zu bytes of writer memory",
		 run_id, RelationGetRelationName(index), w->nkeys, w->nslices,
		 w->slice_limit, run->npages, w->peak);
	if (h.filter.nblocks > 0)
		elog(DEBUG1, "memkv run writer: run " UINT64_FORMAT " of \"%s\" has a filter of %u blocks on %u pages",
			 run_id, RelationGetRelationName(index), h.filter.nblocks,
			 runfilter_pages(&h.filter));
	pfree(h.nulls);
	MemoryContextSwitchTo(old);
}

/*
 * After memkv_frozen_writer_finish, give the entry a shared copy of the new
 * run's slice stream (the run `run` describes) and, if the writer
 * collected them, its key blocks, so that the first scans after a freeze
 * need not build them.  Each goes in only if the arena stays at most half
 * full.  Entry lock held exclusively, with no copy installed
 * (memkv_entry_free_run_copy).
 */
void
memkv_frozen_writer_install_cache(MemkvFrozenWriter *w, MemkvEntry *entry,
								  const MemkvRunDesc *run)
{
	uint64		total = w->postings.len + w->fst.len;
	ArenaPtr	p;
	uint8	   *dst;

	Assert(entry->run_copy == ARENA_NULL);
	/*
	 * Only the last slice's images are still here: a run of several
	 * slices gets its copy from its pages at its first scan (runcopy.c).
	 */
	if (w->nslices != 1)
		return;
	p = memkv_accelerator_alloc(Max(total, 1));
	if (p == ARENA_NULL)
		return;
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	if (w->postings.len > 0)
		memcpy(dst, w->postings.data, w->postings.len);
	if (w->fst.len > 0)
		memcpy(dst + w->postings.len, w->fst.data, w->fst.len);
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	entry->run_copy_instance = run->instance_id;
	entry->run_copy_epoch = run->run_tag;
	entry->run_copy_start = run->run_header;
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
