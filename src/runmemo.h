/*-------------------------------------------------------------------------
 *
 * runmemo.h
 *	  The run memo (runmemo.c): what a backend learned about a frozen run
 *	  from its header pages and the preambles and trailers of the slices
 *	  it opened, kept in the index's relcache entry for the frozen readers
 *	  (runread.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNMEMO_H
#define MEMKV_RUNMEMO_H

#include "deadlist.h"
#include "deadpages.h"
#include "fst.h"
#include "memkv.h"
#include "page.h"
#include "runhdr.h"
#include "runpages.h"

/*
 * A cursor on a run's dead list and the ordinal of the last query that
 * moved it, kept in the run memo: the next batch of a forward scan goes
 * on where the last one stopped.  One MemkvFrozen of a run is open at a
 * time in a backend, and the cursor answers right from anywhere anyway.
 */
typedef struct MemkvDeadCursor
{
	DeadCursor	cur;
	uint64		last;
} MemkvDeadCursor;

/*
 * One slice as the memo knows it: the run-wide ordinal of its first key
 * (dead lists name run-wide ordinals), its key count and its stream's
 * offset in the run's shared copy, known from the run header (version 2)
 * before the slice is opened; and, once `opened`, its opened postings and
 * FST reader.  The reader is kept apart (memkv_run_memo_reader): only the
 * part before its scratch buffer is stored.  Only memkv_run_memo_slice
 * opens a slice, and it sets `opened` last: a slice whose open failed is
 * left as it was, unopened.
 */
typedef struct MemkvSliceMemo
{
	bool		opened;			/* postings and reader prefix are valid */
	uint64		first_ordinal;
	uint64		nkeys;
	uint64		stream_off;		/* where its stream starts in a copy of
								 * the run (the slices' streams in order) */
	FstPostings postings;
	uint8	   *top;			/* copy of its FST top region, or NULL */
	uint8	   *table;			/* copy of its postings group table and
								 * trailer, or NULL */
} MemkvSliceMemo;

/* A run's memo (runmemo.c says what it promises). */
typedef struct MemkvRunMemo
{
	bool		used;
	uint64		instance_id;
	uint32		run_tag;
	BlockNumber run_header;
	RunHeader  *hdr;
	uint64		nkeys;			/* the run's, all slices */
	MemkvSliceMemo *slices;		/* hdr->nslices of them */
	char	   *readers;		/* hdr->nslices reader prefixes */
	MemkvDeadPages *dead;		/* the run's dead list, or NULL */
	uint64		dead_generation;	/* of that list */
	MemkvDeadCursor dc;			/* on it */
	Size		held;			/* bytes of its slices' top and table copies,
								 * and of its filter's */
	uint8	   *filter;			/* copy of its filter's blocks, or NULL */
	bool		filter_tried;	/* the copy was made or refused */
} MemkvRunMemo;

extern MemkvRunMemo *memkv_run_memo_get(Relation index,
										const MemkvMetaPageData *meta, int i);
extern const MemkvSliceMemo *memkv_run_memo_slice(Relation index,
												 MemkvRunMemo *m, uint32 s);
extern const char *memkv_run_memo_slice_try(Relation index, MemkvRunMemo *m,
											uint32 s, bool *raced);
extern void memkv_run_memo_reader(const MemkvRunMemo *m, uint32 s,
								  FstReader *reader);
extern const RunHeader *memkv_run_memo_header(Relation index,
											  const MemkvMetaPageData *meta,
											  int i);
extern uint64 memkv_run_slice_bytes(const RunHeader *hdr);
extern const uint8 *memkv_run_memo_filter(Relation index, MemkvRunMemo *m);
extern bool memkv_run_memo_slice_mem(Relation index, MemkvRunMemo *m,
									 uint32 s, MemkvPageSource *post,
									 MemkvPageSource *fst);

#endif							/* MEMKV_RUNMEMO_H */
