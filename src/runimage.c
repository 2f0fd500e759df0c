/*-------------------------------------------------------------------------
 *
 * runimage.c
 *	  A run written by several processes, for a parallel CREATE INDEX
 *	  (buildpar.c; src/README, "Parallel CREATE INDEX"): each participant's
 *	  run writer builds and packs the slices of one key range and hands
 *	  their images out instead of writing pages; the leader's writer then
 *	  stores those images, range by range, as the run's next slices, and
 *	  finishes the run as usual (memkv_frozen_writer_finish).  The ranges
 *	  are disjoint and ascending, so their slices laid end to end are the
 *	  slices of one run: the format is the serial build's.
 *
 * A participant's writer works with a budget of its share of
 * maintenance_work_mem (memkv_frozen_writer_set_budget), so that all the
 * participants' writers together keep to the build's memory rule
 * (src/README, "CREATE INDEX and memory").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/rel.h"

#include "memkv_guc.h"
#include "runhdr.h"
#include "runwrite.h"
#include "runwrite_int.h"

/* Throw away the current slice's builders and images (no key added). */
static void
memkv_frozen_writer_drop_slice(MemkvFrozenWriter *w)
{
	Assert(w->slice_nkeys == 0);
	fst_builder_destroy(w->builder);
	fst_postings_writer_destroy(w->pw);
	w->builder = NULL;
	w->pw = NULL;
	memkv_frozen_writer_free_images(w);
}

/*
 * Give the writer a budget of `budget` bytes (at least
 * MEMKV_WRITER_MIN_BUDGET) instead of maintenance_work_mem / 2: its slice
 * limit and its builder's suffix registry follow.  Before the first key.
 */
void
memkv_frozen_writer_set_budget(MemkvFrozenWriter *w, Size budget)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	Assert(w->nkeys == 0 && w->nslices == 0);
	memkv_frozen_writer_drop_slice(w);
	w->budget = Max(budget, MEMKV_WRITER_MIN_BUDGET);
	w->opts.registry_bytes = Min(w->budget / 4, 2 * 1024 * 1024);
	if (memkv_debug_slice_bytes <= 0)
		w->slice_limit = (uint64) w->budget / MEMKV_WRITER_PER_IMAGE_BYTE;
	memkv_frozen_writer_start_slice(w, NULL, 0);
	MemoryContextSwitchTo(old);
}

/*
 * Make the writer a parallel build's participant: each slice it closes
 * goes to fn(arg, image) instead of pages (the images are freed after
 * the call), and memkv_frozen_writer_end_images ends it.  Before the
 * first key.
 */
void
memkv_frozen_writer_to_images(MemkvFrozenWriter *w, MemkvSliceOutFn fn,
							  void *arg)
{
	Assert(w->nkeys == 0);
	w->slice_out = fn;
	w->slice_out_arg = arg;
}

/*
 * A participant's writer has finished and packed its slice's images:
 * hand them out, then free them.  The range's first slice carries the
 * range's first key as its fence (memkv_frozen_writer_add kept it).  In
 * w->cxt.
 */
void
memkv_frozen_writer_hand_out(MemkvFrozenWriter *w, uint64 top_start)
{
	MemkvSliceImage img;

	memset(&img, 0, sizeof(img));
	img.postings = w->postings.data;
	img.postings_len = w->postings.len;
	img.fst = w->fst.data;
	img.fst_len = w->fst.len;
	img.top_start = top_start;
	img.nkeys = w->slice_nkeys;
	img.fence = w->fence;
	img.fence_len = w->fence_len;
	img.first_of_range = w->nslices == 0;
	w->slice_out(w->slice_out_arg, &img);
	w->nslices++;
	memkv_frozen_writer_free_images(w);
	if (w->fence)
		pfree(w->fence);
	w->fence = NULL;
}

/*
 * End a participant's writer: hand out its last slice if it has keys,
 * fill *sum (the range's last key copied into the caller's memory
 * context), report its peak at DEBUG1, and free the writer.
 */
void
memkv_frozen_writer_end_images(MemkvFrozenWriter *w, MemkvRangeSummary *sum)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	Assert(w->slice_out != NULL);
	if (w->slice_nkeys > 0)
		memkv_frozen_writer_close_slice(w, false);
	else
		memkv_frozen_writer_drop_slice(w);
	MemoryContextSwitchTo(old);
	memset(sum, 0, sizeof(MemkvRangeSummary));
	sum->nkeys = w->nkeys;
	sum->ntids = w->ntids;
	sum->nslices = w->nslices;
	sum->lastlen = w->nkeys > 0 ? w->prevlen : 0;
	sum->last = palloc(Max(sum->lastlen, 1));
	memcpy(sum->last, w->prev, sum->lastlen);
	memcpy(sum->lo, w->lo, RUNDIR_BOUND_BYTES);
	memcpy(sum->hi, w->hi, RUNDIR_BOUND_BYTES);
	sum->lo_len = w->lo_len;
	sum->hi_len = w->hi_len;
	w->peak = Max(w->peak, MemoryContextMemAllocated(w->cxt, true));
	elog(DEBUG1, "memkv run writer: a key range of \"%s\": " UINT64_FORMAT " keys in %u slices of about " UINT64_FORMAT " bytes of plain FST; peak %zu bytes of writer memory",
		 RelationGetRelationName(w->index), w->nkeys, w->nslices,
		 w->slice_limit, w->peak);
	MemoryContextDelete(w->cxt);
}

/*
 * In the leader: store a participant's slice image as the run's next
 * slice, written to pages as memkv_frozen_writer_add's slices are.  The
 * images become the writer's (palloc'd: they are freed).  The slices of
 * a range come in order, ranges in ascending key order, and
 * memkv_frozen_writer_put_range follows each range's last slice.  A slice
 * the writer was building (the leader's own range, written by
 * memkv_frozen_writer_add) is closed first.
 */
void
memkv_frozen_writer_put_slice(MemkvFrozenWriter *w, MemkvSliceImage *img)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);
	Size		fence_len = img->fence_len;

	if (w->builder != NULL)
	{
		if (w->slice_nkeys > 0)
			memkv_frozen_writer_close_slice(w, false);
		else
			memkv_frozen_writer_drop_slice(w);
	}
	if (w->nslices == 0)
		fence_len = 0;			/* the run's first slice has none */
	else if (img->first_of_range)
	{
		fence_len = runhdr_fence_len(w->prev, w->prevlen, img->fence,
									 img->fence_len);
		if (fence_len == 0)
			elog(ERROR, "memkv: the key ranges of a parallel build of \"%s\" overlap",
				 RelationGetRelationName(w->index));
	}
	w->fence = NULL;
	w->fence_len = fence_len;
	if (fence_len > 0)
	{
		w->fence = palloc(fence_len);
		memcpy(w->fence, img->fence, fence_len);
	}
	memset(&w->postings, 0, sizeof(MemkvImage));
	memset(&w->fst, 0, sizeof(MemkvImage));
	w->postings.data = img->postings;
	w->postings.len = w->postings.size = img->postings_len;
	w->fst.data = img->fst;
	w->fst.len = w->fst.size = img->fst_len;
	w->slice_nkeys = img->nkeys;
	memkv_frozen_writer_store_slice(w, img->top_start, false);
	MemoryContextSwitchTo(old);
}

/*
 * In the leader: after a range's slices, count its keys and TIDs into the
 * run's, and take its bounds and last key (the next range's first fence
 * is cut against it).
 */
void
memkv_frozen_writer_put_range(MemkvFrozenWriter *w,
							  const MemkvRangeSummary *sum)
{
	if (sum->nkeys == 0)
		return;
	if (w->nkeys == 0)
	{
		memcpy(w->lo, sum->lo, RUNDIR_BOUND_BYTES);
		w->lo_len = sum->lo_len;
	}
	memcpy(w->hi, sum->hi, RUNDIR_BOUND_BYTES);
	w->hi_len = sum->hi_len;
	if (sum->lastlen > w->prevsize)
	{
		w->prevsize = Max(sum->lastlen, w->prevsize * 2);
		w->prev = repalloc(w->prev, w->prevsize);
	}
	memcpy(w->prev, sum->last, sum->lastlen);
	w->prevlen = sum->lastlen;
	w->nkeys += sum->nkeys;
	w->ntids += sum->ntids;
}
