/*-------------------------------------------------------------------------
 *
 * runwrite_int.h
 *	  The run writer's insides, shared by runwrite.c and runimage.c (a
 *	  parallel build's slices as images): the writer's state, its memory
 *	  constants and the steps runimage.c reuses.  No other file includes
 *	  it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNWRITE_INT_H
#define MEMKV_RUNWRITE_INT_H

#include "fst.h"
#include "keyblocks.h"
#include "runfilter.h"
#include "runwrite.h"

struct MemkvFrozenWriter;
typedef struct MemkvImage
{
	struct MemkvFrozenWriter *owner;	/* whose peak a growth updates */
	uint8	   *data;
	uint64		len;
	uint64		size;
	uint64		cap;			/* doubling up to this (0: none), then as needed */
} MemkvImage;

/*
 * What a slice's FST image may pass the slice limit by: the 64 kB the
 * builder hands over at a time, the nodes it holds until the slice is
 * finished, and the trailer.  The image buffers stop doubling there.
 */
#define MEMKV_SLICE_SLACK		(256 * 1024)

struct MemkvFrozenWriter
{
	MemoryContext cxt;			/* all of the writer's memory */
	Relation	index;
	uint64		run_id;
	uint32		tag;			/* its pages' */
	FstAllocator alloc;			/* in cxt, noting the peak (writer_alloc) */
	FstAllocator inner;			/* what alloc calls */
	FstBuildOptions opts;
	/* the slice being built */
	MemkvImage	fst;
	MemkvImage	postings;
	FstBuilder *builder;
	FstPostingsWriter *pw;
	uint64		slice_nkeys;
	uint8	   *fence;			/* the slice's fence (NULL for slice 0) */
	Size		fence_len;
	uint64		slice_limit;	/* close the slice at this much FST image */
	/* the slices written */
	RunSlice   *slices;
	uint32		nslices;
	uint32		maxslices;
	RunExtent  *extents;
	uint32		nextents;
	uint32		maxextents;
	uint64		npages;			/* logical pages written */
	uint8	   *prev;			/* the last key added (for the next fence) */
	Size		prevlen;
	Size		prevsize;
	Size		peak;			/* of the context, at every allocation */
	Size		budget;			/* src/README, "CREATE INDEX and memory" */
	bool		big_key;		/* the last key added had over 64 TIDs */
	ItemPointerData *nulls;
	uint64		nnulls;
	uint64		nkeys;
	uint64		ntids;
	uint8		lo[RUNDIR_BOUND_BYTES];	/* the first key's first bytes */
	uint8		hi[RUNDIR_BOUND_BYTES];	/* the last key's */
	uint8		lo_len;
	uint8		hi_len;
	KbBuilder  *kb;				/* key blocks for the shared copy, or NULL */
	uint8	   *filter;			/* the run's filter being built, or NULL */
	RunFilterParams filter_params;
	/* a parallel build's participant: slices go out as images (runimage.c) */
	MemkvSliceOutFn slice_out;
	void	   *slice_out_arg;
};

/*
 * The writer's smallest budget, whatever maintenance_work_mem says: the
 * "documented constant" of src/README, "CREATE INDEX and memory".
 */
#define MEMKV_WRITER_MIN_BUDGET	(2 * 1024 * 1024)

/*
 * The writer's memory budget is maintenance_work_mem / 2 (the caller's
 * input takes the other half; src/README, "CREATE INDEX and memory").  At
 * its peak, while fst_pack runs, a writer holds about this many bytes per
 * byte of plain FST image (measured on paths and URL keys: the image, its
 * pack map, the postings, then the packed image, fst_pack's rank words and
 * new addresses; 4.8 to 5.8): the slice limit is the budget divided by it.
 */
#define MEMKV_WRITER_PER_IMAGE_BYTE	6

/*
 * What fst_pack adds, per byte of plain image, to what the writer holds
 * before it (the packed image, a rank word pair per 64 bytes, 8 bytes per
 * node kept; measured 2.3 to 3.3): a slice whose memory plus this much
 * would pass the budget is closed whatever its image's size, e.g. when
 * postings of many TIDs a key dominate.
 */
#define MEMKV_PACK_PER_IMAGE_BYTE	4

extern void memkv_frozen_writer_start_slice(MemkvFrozenWriter *w,
											const uint8 *fence,
											Size fence_len);
extern void memkv_frozen_writer_close_slice(MemkvFrozenWriter *w, bool keep);
extern void memkv_frozen_writer_free_images(MemkvFrozenWriter *w);
extern void memkv_frozen_writer_store_slice(MemkvFrozenWriter *w,
											uint64 top_start, bool keep);
extern void memkv_frozen_writer_hand_out(MemkvFrozenWriter *w,
										 uint64 top_start);

#endif							/* MEMKV_RUNWRITE_INT_H */
