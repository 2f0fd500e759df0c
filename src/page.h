/*-------------------------------------------------------------------------
 *
 * page.h
 *	  memkv's page kinds: the special space every page carries, the
 *	  metapage's contents, and the functions that lay out and check pages
 *	  (page.c).
 *
 * The on-disk format is described in src/README, "On-disk format".
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_PAGE_H
#define MEMKV_PAGE_H

#include "storage/block.h"
#include "storage/buf.h"
#include "storage/bufpage.h"
#include "utils/relcache.h"

#include "pg_compat.h"
#include "rundir.h"

/*
 * Page layout.  Every page but a never-initialized one carries this special
 * space.  Block 0 is the metapage; every other page is a delta-log page, a
 * page of a run (its header or its data), a page of a run's dead list
 * (deadpages.c) or a free (deleted) page.
 */
#define MEMKV_PAGE_ID		0xFF8D

#define MEMKV_PAGE_META		(1 << 0)
#define MEMKV_PAGE_LOG		(1 << 1)
#define MEMKV_PAGE_DELETED	(1 << 2)
#define MEMKV_PAGE_RUN		(1 << 3)
#define MEMKV_PAGE_DEAD		(1 << 4)	/* a page of a run's dead list */

/*
 * `epoch` is the page's tag (src/README, "On-disk format"): on a log page
 * the low 32 bits of the generation in which it was added, on a run page
 * the low 32 bits of its run's id (a dead-list page too).
 */
typedef struct MemkvPageOpaqueData
{
	BlockNumber next;			/* next page of the log or of a run header */
	uint32		epoch;			/* the page's tag */
	uint16		flags;			/* MEMKV_PAGE_* */
	uint16		page_id;		/* MEMKV_PAGE_ID */
} MemkvPageOpaqueData;

typedef MemkvPageOpaqueData *MemkvPageOpaque;

#define MemkvPageGetOpaque(page) \
	((MemkvPageOpaque) PageGetSpecialPointer(page))

/*
 * Does the page have a special space of memkv's size, so that
 * MemkvPageGetOpaque points inside it?  Test before reading the opaque
 * data of a page not known to be memkv's.
 */
#define MemkvPageHasOpaque(page) \
	(!PageIsNew(page) && \
	 ((PageHeader) (page))->pd_special == \
	 BLCKSZ - MAXALIGN(sizeof(MemkvPageOpaqueData)))

/* May this page be (re)used: never initialized, or marked deleted? */
#define MemkvPageIsFree(page) \
	(PageIsNew(page) || \
	 (MemkvPageHasOpaque(page) && \
	  MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID && \
	  (MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_DELETED) != 0))

/* Bytes of a run's stream (header or slices) each run page holds. */
#define MEMKV_RUN_CHUNK \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(MemkvPageOpaqueData)))

#define MEMKV_METAPAGE_BLKNO	0

/*
 * One run as the glue reads it from the directory (src/README, "On-disk
 * format (format version 3)"): the identity and counts every user of the
 * run needs.  The byte sizes of its images and its extents are in its
 * header (runpages.c reads it).  The run's pages are tagged run_tag.
 */
typedef struct MemkvRunDesc
{
	uint64		instance_id;	/* of the index it belongs to */
	uint64		run_id;
	uint32		run_tag;		/* (uint32) run_id */
	BlockNumber run_header;		/* its first header page */
	uint32		run_npages;		/* its pages, header pages included */
	uint64		run_nkeys;		/* distinct non-NULL keys */
	uint64		run_ntids;		/* TIDs, NULL keys included */
	uint64		run_nnulls;
	MemkvRunEntry entry;		/* the directory's entry (bounds) */
} MemkvRunDesc;

/*
 * The metapage as the glue reads it: decoded from the directory
 * (rundir.h) by memkv_read_meta.  Up to RUNDIR_MAX_STRIPES stripes and
 * RUNDIR_MAX_RUNS runs, newest first.  The view of later steps of memkv 2 replaces this struct.
 *
 * generation is bumped by every switch; epoch, its low 32 bits, is the tag
 * of log pages added now, which is how readers that hold no lock against
 * replay (hot standby) detect a page that was freed and reused under them.
 * instance_id is random per CREATE INDEX/REINDEX, so a shared-memory tree
 * can tell whether it still mirrors this relation.
 *
 * Stripe s's delta log starts at entry log_head_offset[s] of page
 * log_head[s] (entries before it on that page were frozen) and ends where
 * its chain ends.  A CREATE INDEX gives every stripe a log page (blocks 1
 * to nstripes), so a stripe always has one.
 */
typedef struct MemkvMetaPageData
{
	uint64		instance_id;
	uint64		generation;
	uint32		epoch;			/* (uint32) generation */
	int			nstripes;		/* 1..RUNDIR_MAX_STRIPES, fixed at build */
	BlockNumber log_head[RUNDIR_MAX_STRIPES];	/* first delta-log page */
	OffsetNumber log_head_offset[RUNDIR_MAX_STRIPES];	/* first live entry */
	int64		last_freeze;	/* TimestampTz of the last freeze, or 0 */
	int64		last_merge;		/* TimestampTz of the last merge, or 0 */
	uint64		freezes;		/* freezes since CREATE INDEX */
	uint64		merges;			/* merges since CREATE INDEX */
	int			nruns;
	MemkvRunDesc runs[RUNDIR_MAX_RUNS];	/* newest first */
} MemkvMetaPageData;

/* Sums over a directory's runs (memkv_meta_run_totals). */
typedef struct MemkvRunTotals
{
	uint64		ntids;
	uint64		nkeys;
	uint64		npages;
} MemkvRunTotals;

extern void memkv_empty_directory(MemkvDirectory *dir, uint64 instance_id,
								  int nstripes);
extern void memkv_put_directory_bytes(Page page, const uint8 *bytes,
									  Size len);
extern void memkv_init_metapage(Page page, const MemkvDirectory *dir);
extern void memkv_init_log_page(Page page, uint32 epoch);
extern void memkv_init_run_page(Page page, uint32 tag);
extern void memkv_init_deleted_page(Page page);
extern uint64 memkv_new_instance_id(void);
extern void memkv_check_page(Relation index, Buffer buf, Page page,
							 uint16 expect_flags);
extern void memkv_check_meta_blocks(Relation index,
									const MemkvMetaPageData *meta,
									BlockNumber nblocks);
extern void memkv_read_directory(Relation index, Buffer metabuf,
								 MemkvDirectory *dir);
extern void memkv_meta_from_directory(const MemkvDirectory *dir,
									  MemkvMetaPageData *meta);
extern int	memkv_meta_largest_run(const MemkvMetaPageData *meta);
extern void memkv_meta_run_totals(const MemkvMetaPageData *meta,
								  MemkvRunTotals *t);
extern void memkv_read_meta(Relation index, MemkvMetaPageData *meta);
extern Buffer memkv_new_buffer(Relation index, uint32 epoch);
extern void memkv_page_corrupted(Relation index, BlockNumber blkno)
			pg_attribute_noreturn();
extern void memkv_chain_corrupted(Relation index, BlockNumber blkno);

#endif							/* MEMKV_PAGE_H */
