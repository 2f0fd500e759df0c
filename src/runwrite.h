/*-------------------------------------------------------------------------
 *
 * runwrite.h
 *	  Writing a new frozen run (runwrite.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNWRITE_H
#define MEMKV_RUNWRITE_H

#include "memkv.h"
#include "page.h"
#include "registry.h"

/* Streams a new frozen layer into memory, then into pages. */
typedef struct MemkvFrozenWriter MemkvFrozenWriter;

/*
 * One slice of a run, built and packed by a parallel build's participant
 * (runimage.c): its postings image, then its FST image (the slice's
 * stream), where the FST's top region starts, its keys, and its fence --
 * for the first slice of the participant's key range, the range's whole
 * first key (first_of_range), which the leader cuts to a fence against
 * the last key of the ranges before.
 */
typedef struct MemkvSliceImage
{
	uint8	   *postings;
	uint64		postings_len;
	uint8	   *fst;
	uint64		fst_len;
	uint64		top_start;
	uint64		nkeys;
	uint8	   *fence;
	Size		fence_len;
	bool		first_of_range;
} MemkvSliceImage;

/* What a participant's writer does with each slice it closes. */
typedef void (*MemkvSliceOutFn) (void *arg, const MemkvSliceImage *img);

/* A participant's key range, once its writer is done (runimage.c). */
typedef struct MemkvRangeSummary
{
	uint64		nkeys;
	uint64		ntids;
	uint32		nslices;
	Size		lastlen;		/* the range's last key, for the next fence */
	uint8	   *last;			/* in the caller's memory context */
	uint8		lo[RUNDIR_BOUND_BYTES];	/* its first and last key's first bytes */
	uint8		hi[RUNDIR_BOUND_BYTES];
	uint8		lo_len;
	uint8		hi_len;
} MemkvRangeSummary;

extern MemkvFrozenWriter *memkv_frozen_writer_begin(Relation index,
													uint64 run_id);
extern void memkv_frozen_writer_collect_keys(MemkvFrozenWriter *w);
extern void memkv_frozen_writer_want_filter(MemkvFrozenWriter *w,
											const MemkvMetaPageData *meta,
											int first, int ninputs,
											uint64 delta_keys);
extern void memkv_frozen_writer_add(MemkvFrozenWriter *w, const uint8 *key,
									Size keylen, ItemPointerData *tids,
									uint64 ntids);
extern void memkv_frozen_writer_add_nulls(MemkvFrozenWriter *w,
										  ItemPointerData *tids,
										  uint64 ntids);
extern void memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index,
									   uint64 run_id, MemkvRunEntry *run);
extern void memkv_frozen_writer_set_budget(MemkvFrozenWriter *w,
										   Size budget);
extern void memkv_frozen_writer_to_images(MemkvFrozenWriter *w,
										  MemkvSliceOutFn fn, void *arg);
extern void memkv_frozen_writer_end_images(MemkvFrozenWriter *w,
										   MemkvRangeSummary *sum);
extern void memkv_frozen_writer_put_slice(MemkvFrozenWriter *w,
										  MemkvSliceImage *img);
extern void memkv_frozen_writer_put_range(MemkvFrozenWriter *w,
										  const MemkvRangeSummary *sum);
extern void memkv_frozen_writer_install_cache(MemkvFrozenWriter *w,
											  MemkvEntry *entry,
											  const MemkvRunDesc *run);

#endif							/* MEMKV_RUNWRITE_H */
