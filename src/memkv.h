/*-------------------------------------------------------------------------
 *
 * memkv.h
 *	  Declarations shared by the memkv index access method's server files:
 *	  the AM callbacks' prototypes, the key comparison, and the small types
 *	  that several layers share (scan state, sources, batches).  Each glue
 *	  file's other exports are in its own header (registry.h for the
 *	  shared-memory registry's MemkvEntry and MemkvShared, page.h, delta.h,
 *	  wal.h, stats.h, build.h, validate.h, memkv_guc.h, ...).
 *
 * The design, the locking rules and the invariants are described in
 * src/README; read it before changing anything here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_H
#define MEMKV_H

#include "access/amapi.h"
#include "access/genam.h"
#include "access/itup.h"
#include "executor/instrument.h"
#include "nodes/pathnodes.h"
#include "storage/block.h"
#include "storage/buf.h"
#include "storage/bufpage.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "storage/lockdefs.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

#include "art.h"
#include "pg_compat.h"

/*
 * Strategy numbers: btree's 1..5 so the planner can map the opfamily to
 * btree's for ordering, plus 6 for ^@ (starts_with).
 */
#define MEMKV_LESS			1
#define MEMKV_LESS_EQUAL	2
#define MEMKV_EQUAL			3
#define MEMKV_GREATER_EQUAL 4
#define MEMKV_GREATER		5
#define MEMKV_PREFIX		6
#define MEMKV_NSTRATEGIES	6

/* Support function 1: btree-style comparison (bttextcmp). */
#define MEMKV_CMP_PROC		1
#define MEMKV_NPROCS		1

/* Longest key memkv accepts, in bytes of text (excluding varlena header). */
#define MEMKV_MAX_KEY_BYTES 2700


/* Scan bounds, as byte strings; computed from the scan keys at rescan. */
typedef struct MemkvBounds
{
	bool		want_keys;		/* some non-NULL key can match */
	bool		want_nulls;		/* NULL keys match */
	bool		has_lower;
	bool		lower_incl;
	bytea	   *lower;			/* only its data is used */
	bool		has_upper;
	bool		upper_incl;
	bytea	   *upper;
} MemkvBounds;

/*
 * A source: keys in order with their TIDs, collected from one layer (a
 * delta tree, the log or the frozen run's FST) for merging (source.c).
 * memkv 1.x called it a "run"; that word now means only a frozen run in
 * the index.
 */
typedef struct MemkvSourceKey
{
	Size		key_offset;		/* into keybuf (a freeze's may pass 4 GB) */
	uint64		tid_start;		/* into tids */
	uint64		ntids;
	uint32		key_len;
} MemkvSourceKey;

typedef struct MemkvSource
{
	MemoryContext cxt;			/* where the arrays are allocated */
	char	   *keybuf;
	Size		keybuf_used;
	Size		keybuf_size;
	MemkvSourceKey *keys;
	Size		nkeys;
	Size		maxkeys;
	ItemPointerData *tids;
	uint64		ntids;
	Size		maxtids;
	bool		stopped;		/* collection ended early: more may follow */
} MemkvSource;

/* One TID of a batch, with the key it was found under. */
typedef struct MemkvBatchItem
{
	ItemPointerData tid;
	bool		isnull;
	uint32		key_offset;		/* into MemkvBatch.keybuf */
	uint32		key_len;
} MemkvBatchItem;

/*
 * A batch of scan results: whole keys (all their TIDs), in ascending key
 * order with NULLs last, whichever direction it was collected in.
 */
typedef struct MemkvBatch
{
	MemoryContext cxt;			/* where items and keybuf live */
	MemkvBatchItem *items;
	int			nitems;
	Size		maxitems;
	char	   *keybuf;
	Size		keybuf_used;
	Size		keybuf_size;
	bool		complete_forward;	/* nothing in range after the last item */
	bool		complete_backward;	/* nothing in range before the first */
} MemkvBatch;

/*
 * Stripes an index may have (rundir.h's RUNDIR_MAX_STRIPES): each its own
 * delta trees, log chain and LWLock.  See src/README, "Stripes and inserts".
 */
#define MEMKV_MAX_STRIPES	32
#define MEMKV_DEFAULT_STRIPES	1	/* the stripes storage parameter's */

/*
 * Sources a batch merges at most: each stripe's tree and its set-aside
 * one during a freeze, and every run.
 */
#define MEMKV_MAX_SOURCES	(2 * MEMKV_MAX_STRIPES + 24)

typedef struct MemkvScanOpaqueData
{
	MemkvBounds bounds;
	MemoryContext bounds_cxt;	/* holds the bounds' bytes */
	bool		started;		/* a batch has been loaded */
	MemkvBatch	batches[2];		/* the current one, and one to refill */
	struct MemkvBatchOwner *batch_owner;	/* gives the arrays back (batch.c) */
	int			active;			/* index of the current batch */
	int			cur;			/* position in the current batch */
	int			batch_target;	/* TIDs to aim for at the next fill */
	MemkvSource *srcs;			/* scratch: keys from delta, imm, runs, */
	int			nsrcs_made;		/* as many as batches used (fill.c) */
	MemkvSource delta_nulls;	/* the delta's NULL TIDs, copied out */
	MemkvSource run_nulls;		/* scratch: a run's NULL TIDs */
	IndexTuple	last_itup;		/* for index-only scans: a NULL key's */
	char	   *itup_buf;		/* ... or a key's, formed in place */
	Size		itup_size;
	struct MemkvFrozenPos *frozen_pos;	/* where the last batch's frozen
											 * walk stopped (runread.c) */
	struct MemkvLogDelta *log_delta;	/* the delta read from the log (scan.c) */
	struct MemkvGuardUse *guard;	/* the VACUUM interlock (guard.c) */
} MemkvScanOpaqueData;

typedef MemkvScanOpaqueData *MemkvScanOpaque;

/* Storage parameters of a memkv index (WITH (...)). */
typedef struct MemkvOptions
{
	int32		vl_len_;		/* varlena header */
	int			freeze_threshold;	/* -1: use memkv.freeze_threshold */
	int			stripes;		/* delta stripes of a build (1..32) */
} MemkvOptions;

/*
 * A key's stripe is this hash mod the index's stripe count: FNV-1a (32
 * bits, no seed) of its bytes.  Part of the format: a log entry stays in
 * the chain of the stripe it was appended to, and a point lookup reads
 * only its key's stripe, so this must never change.
 */
static inline uint32
memkv_key_hash(const uint8 *key, Size len)
{
	uint32		h = 2166136261u;
	Size		i;

	for (i = 0; i < len; i++)
	{
		h ^= key[i];
		h *= 16777619u;
	}
	return h;
}

/* Byte-order comparison of two keys: the C collation's order. */
static inline int
memkv_key_cmp(const uint8 *a, Size alen, const uint8 *b, Size blen)
{
	int			c = memcmp(a, b, Min(alen, blen));

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* What started a freeze (for its log line). */
typedef enum MemkvFreezeTrigger
{
	MEMKV_TRIGGER_SQL,			/* memkv_freeze() */
	MEMKV_TRIGGER_WORKER,		/* the background worker */
	MEMKV_TRIGGER_VACUUM,		/* ambulkdelete */
	MEMKV_TRIGGER_VACUUM_CLEANUP,	/* amvacuumcleanup, no bulkdelete ran */
	MEMKV_TRIGGER_INSERT		/* an insert into a temp index (its owner) */
} MemkvFreezeTrigger;

/* build.c */
extern IndexBuildResult *memkv_build(Relation heap, Relation index,
									 struct IndexInfo *indexInfo);
extern void memkv_buildempty(Relation index);
extern char *memkv_buildphasename(int64 phasenum);

/* insert.c */
extern bool memkv_insert(Relation index, Datum *values, bool *isnull,
						 ItemPointer ht_ctid, Relation heapRel,
						 IndexUniqueCheck checkUnique, bool indexUnchanged,
						 struct IndexInfo *indexInfo);

/* scan.c */
extern IndexScanDesc memkv_beginscan(Relation r, int nkeys, int norderbys);
extern void memkv_rescan(IndexScanDesc scan, ScanKey scankey, int nscankeys,
						 ScanKey orderbys, int norderbys);
extern bool memkv_gettuple(IndexScanDesc scan, ScanDirection dir);
extern int64 memkv_getbitmap(IndexScanDesc scan, TIDBitmap *tbm);
extern void memkv_endscan(IndexScanDesc scan);
extern bool memkv_canreturn(Relation index, int attno);

/* vacuum.c */
extern IndexBulkDeleteResult *memkv_bulkdelete(IndexVacuumInfo *info,
											   IndexBulkDeleteResult *stats,
											   IndexBulkDeleteCallback callback,
											   void *callback_state);
extern IndexBulkDeleteResult *memkv_vacuumcleanup(IndexVacuumInfo *info,
												  IndexBulkDeleteResult *stats);

/* cost.c */
extern void memkv_costestimate(PlannerInfo *root, IndexPath *path,
							   double loop_count, Cost *indexStartupCost,
							   Cost *indexTotalCost,
							   Selectivity *indexSelectivity,
							   double *indexCorrelation, double *indexPages);

/* validate.c */
extern bool memkv_validate(Oid opclassoid);
extern bytea *memkv_options(Datum reloptions, bool validate);
extern int	memkv_index_stripes(Relation index);

#endif							/* MEMKV_H */
