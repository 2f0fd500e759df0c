/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  memkv_verify(regclass): check an index's invariants -- the metapage,
 *	  the delta log against the shared trees, the whole frozen layer -- and
 *	  list the problems found.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

#include "caller.h"
#include "delta.h"
#include "fst.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runcopy.h"
#include "runpages.h"
#include "runread.h"
#include "source.h"
#include "stripe.h"

PG_FUNCTION_INFO_V1(memkv_verify);

typedef struct MemkvVerifyState
{
	ReturnSetInfo *rsinfo;
	MemkvEntry *entry;
	int			stripe;			/* the stripe whose log is walked */
	uint64		nonnull;		/* its entries so far */
	uint64		nulls;
	int			nproblems;
} MemkvVerifyState;

#define MEMKV_VERIFY_MAX_PROBLEMS 100

/* Add one problem row to the result. */
static void
memkv_report(MemkvVerifyState *vs, const char *fmt,...) pg_attribute_printf(2, 3);

static void
memkv_report(MemkvVerifyState *vs, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;
	Datum		value;
	bool		isnull = false;

	if (++vs->nproblems > MEMKV_VERIFY_MAX_PROBLEMS)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	value = CStringGetTextDatum(buf.data);
	tuplestore_putvalues(vs->rsinfo->setResult, vs->rsinfo->setDesc,
						 &value, &isnull);
}

/* memkv_walk_log visitor: the entry must be well formed and in the tree. */
static void
memkv_verify_visit(IndexTuple itup, void *arg)
{
	MemkvVerifyState *vs = (MemkvVerifyState *) arg;
	bool		isnull = MemkvLogTupleIsNull(itup);
	const uint8 *key = MemkvLogTupleKey(itup);
	Size		keylen = MemkvLogTupleKeyLen(itup);
	const ArtTid *tids;
	uint32		ntids;
	uint32		i;
	bool		found = false;
	MemkvStripe *st;

	if (!ItemPointerIsValid(&itup->t_tid))
		memkv_report(vs, "log entry has an invalid heap TID");
	if (keylen > MEMKV_MAX_KEY_BYTES || (isnull && keylen != 0) ||
		memchr(key, 0, keylen) != NULL)
	{
		memkv_report(vs, "log entry for TID (%u,%u) has a malformed key of %zu bytes",
					 ItemPointerGetBlockNumberNoCheck(&itup->t_tid),
					 ItemPointerGetOffsetNumberNoCheck(&itup->t_tid), keylen);
		return;
	}
	if (isnull)
		vs->nulls++;
	else
		vs->nonnull++;
	if (!isnull && vs->entry->nstripes > 1 &&
		memkv_key_hash(key, keylen) % (uint32) vs->entry->nstripes !=
		(uint32) vs->stripe)
		memkv_report(vs, "log entry for TID (%u,%u) is in the log of stripe %d, not of its key's stripe %u",
					 ItemPointerGetBlockNumberNoCheck(&itup->t_tid),
					 ItemPointerGetOffsetNumberNoCheck(&itup->t_tid),
					 vs->stripe,
					 memkv_key_hash(key, keylen) % (uint32) vs->entry->nstripes);

	st = &vs->entry->stripes[vs->stripe];
	ntids = art_lookup(isnull ? &st->nulls : &st->keys,
					   memkv_allocator(), key, isnull ? 0 : keylen, &tids);
	for (i = 0; i < ntids && !found; i++)
		found = memcmp(&tids[i], &itup->t_tid, sizeof(ArtTid)) == 0;
	if (!found && vs->entry->freezing)
	{
		ntids = art_lookup(isnull ? &st->imm_nulls : &st->imm_keys,
						   memkv_allocator(), key, isnull ? 0 : keylen, &tids);
		for (i = 0; i < ntids && !found; i++)
			found = memcmp(&tids[i], &itup->t_tid, sizeof(ArtTid)) == 0;
	}
	if (!found)
		memkv_report(vs, "log entry for TID (%u,%u) is missing from the delta tree",
					 ItemPointerGetBlockNumberNoCheck(&itup->t_tid),
					 ItemPointerGetOffsetNumberNoCheck(&itup->t_tid));
}

/*
 * Check the directory against the relation's size (every block it names
 * inside it: memkv_read_meta could not check that), and the run's entry
 * against its header.  Caller holds the metapage lock in ShareLock.
 */
static void
memkv_verify_directory(MemkvVerifyState *vs, Relation index)
{
	MemkvDirectory dir;
	MemkvMetaPageData meta;
	const char *msg = NULL;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	RunHeader  *hdr;
	int			i;

	memkv_read_directory(index, InvalidBuffer, &dir);
	if (rundir_validate(&dir, nblocks, &msg) != RUNDIR_OK)
	{
		memkv_report(vs, "directory: %s (relation of %u blocks)", msg, nblocks);
		return;
	}
	memkv_meta_from_directory(&dir, &meta);
	for (i = 0; i < meta.nruns; i++)
	{
		/* reads and checks the header pages against the entry (an ERROR) */
		hdr = memkv_run_header_read(index, &meta.runs[i], CurrentMemoryContext);
		pfree(hdr);
	}
}

/*
 * Check that a run's truncated bounds in the directory are its smallest
 * and largest keys' first bytes, as collected by memkv_verify_frozen (its
 * smallest and largest live keys if it has a dead list: within them).
 */
static void
memkv_verify_bounds(MemkvVerifyState *vs, const MemkvRunDesc *run,
					const uint8 *first, Size first_len,
					const uint8 *last, Size last_len)
{
	MemkvRunEntry want;

	/* with a dead list the walk saw live keys only: within the bounds */
	if (run->entry.ndead > 0)
	{
		if (!rundir_key_may_be_in(&run->entry, first, first_len) ||
			!rundir_key_may_be_in(&run->entry, last, last_len))
			memkv_report(vs, "run %llu: its live keys lie outside its key bounds",
						 (unsigned long long) run->run_id);
		return;
	}
	memset(&want, 0, sizeof(want));
	rundir_set_bounds(&want, first, first_len, last, last_len);
	if (want.lo_len != run->entry.lo_len || want.hi_len != run->entry.hi_len ||
		memcmp(want.lo, run->entry.lo, RUNDIR_BOUND_BYTES) != 0 ||
		memcmp(want.hi, run->entry.hi, RUNDIR_BOUND_BYTES) != 0)
		memkv_report(vs, "run %llu: its key bounds in the directory are not its first and last keys",
					 (unsigned long long) run->run_id);
}

/* MemkvTidFn: count the run's TIDs its dead list names. */
static void
memkv_verify_dead_tid(void *arg, uint64 ordinal, const ItemPointerData *tid)
{
	DeadCursor *c = (DeadCursor *) ((void **) arg)[0];
	uint64	   *found = (uint64 *) ((void **) arg)[1];

	if (deadlist_cursor_is_dead(c, ordinal,
								ItemPointerGetBlockNumberNoCheck(tid),
								ItemPointerGetOffsetNumberNoCheck(tid)))
		(*found)++;
}

/*
 * Check the run's dead list: it was decoded and validated when the run
 * was opened (every pair's encoding and order, ordinals within the run,
 * the count the directory states); here every pair must also name a TID
 * the run holds under that key.  One pass over the run's postings.
 */
static void
memkv_verify_dead(MemkvVerifyState *vs, MemkvFrozen *frozen,
				  const MemkvRunDesc *rd)
{
	const DeadList *dl = memkv_frozen_dead_list(frozen);
	DeadCursor	c;
	uint64		found = 0;
	void	   *arg[2];

	if (dl == NULL)
		return;
	deadlist_cursor_init(&c, dl);
	arg[0] = &c;
	arg[1] = &found;
	memkv_frozen_each_tid(frozen, memkv_verify_dead_tid, arg);
	if (found != dl->npairs)
		memkv_report(vs, "dead list of run %llu names %llu TIDs the run does not hold",
					 (unsigned long long) rd->run_id,
					 (unsigned long long) (dl->npairs - found));
}

/*
 * Walk the whole of run meta->runs[ri]: keys strictly ascending, every
 * posting list non-empty, sorted, with valid TIDs, and the totals and
 * bounds the directory states.  Reading it also checks every node and
 * page the walk touches.  A run's filter must match its CRC and hold
 * every key the walk meets (a key it lacked would be lost to lookups);
 * whether the run has one is reported at DEBUG1.
 */
static void
memkv_verify_frozen(MemkvVerifyState *vs, Relation index,
					const MemkvMetaPageData *meta, int ri)
{
	const MemkvRunDesc *rd = &meta->runs[ri];
	MemkvFrozen *frozen = memkv_frozen_open(index, meta, ri, NULL);
	MemkvSource	run;
	bytea	   *prev = NULL;
	bytea	   *first = NULL;
	uint64		nkeys = 0;
	uint64		ntids = 0;
	uint64		unfiltered = 0;
	ArtBound	lower;
	const RunHeader *hdr;
	uint8	   *filter;
	bool		filter_ok;

	if (frozen == NULL)
		return;
	if (!memkv_frozen_checksum_ok(index, meta, ri))
		memkv_report(vs, "frozen layer: its pages do not match their checksum");
	hdr = memkv_run_memo_header(index, meta, ri);
	filter = memkv_run_filter_read(index, hdr, rd->run_tag, &filter_ok);
	elog(DEBUG1, "memkv: run %llu: header version %u, filter of %u blocks",
		 (unsigned long long) rd->run_id, (unsigned) hdr->version,
		 hdr->filter.nblocks);
	if (!filter_ok)
		memkv_report(vs, "frozen layer: the filter of run %llu does not match its checksum",
					 (unsigned long long) rd->run_id);
	{
		char		errbuf[FST_ERRMSG_LEN];
		bool		unopened = false;

		if (!memkv_frozen_check(frozen, errbuf, &unopened))
			memkv_report(vs, "frozen layer: %s", errbuf);
		/* a walk would stop at that slice with the ERROR: report, not raise */
		if (unopened)
		{
			memkv_frozen_close(frozen);
			return;
		}
	}
	memkv_source_init(&run);
	for (;;)
	{
		int			i;

		memkv_source_reset(&run);
		if (prev)
		{
			lower.key = (const uint8 *) VARDATA(prev);
			lower.len = VARSIZE(prev) - VARHDRSZ;
			lower.inclusive = false;
		}
		CHECK_FOR_INTERRUPTS();
		memkv_frozen_collect(frozen, &run, prev ? &lower : NULL, NULL, false,
							 4096);
		for (i = 0; i < run.nkeys; i++)
		{
			MemkvSourceKey *k = &run.keys[i];
			const char *key = run.keybuf + k->key_offset;
			uint64		t;

			if (prev)
			{
				if (memkv_key_cmp((const uint8 *) VARDATA(prev),
								  VARSIZE(prev) - VARHDRSZ,
								  (const uint8 *) key, k->key_len) >= 0)
					memkv_report(vs, "frozen keys out of order at key %llu",
								 (unsigned long long) nkeys);
			}
			if (k->ntids == 0)
				memkv_report(vs, "frozen key %llu has no TIDs",
							 (unsigned long long) nkeys);
			for (t = 0; t < k->ntids; t++)
			{
				ItemPointer tid = &run.tids[k->tid_start + t];

				if (!ItemPointerIsValid(tid) ||
					(t > 0 && ItemPointerCompare(tid - 1, tid) >= 0))
					memkv_report(vs, "frozen key %llu has a bad posting list",
								 (unsigned long long) nkeys);
			}
			if (memchr(key, 0, k->key_len) != NULL)
				memkv_report(vs, "frozen key %llu contains a zero byte",
							 (unsigned long long) nkeys);
			if (filter &&
				!runfilter_test(filter, &hdr->filter,
								runfilter_hash((const uint8 *) key,
											   k->key_len)))
				unfiltered++;
			ntids += k->ntids;
			if (nkeys == 0)
			{
				first = palloc(VARHDRSZ + k->key_len);
				SET_VARSIZE(first, VARHDRSZ + k->key_len);
				memcpy(VARDATA(first), key, k->key_len);
			}
			nkeys++;
			if (prev)
				pfree(prev);
			prev = palloc(VARHDRSZ + k->key_len);
			SET_VARSIZE(prev, VARHDRSZ + k->key_len);
			memcpy(VARDATA(prev), key, k->key_len);
		}
		if (!run.stopped)
			break;
	}
	memkv_source_reset(&run);
	if (unfiltered > 0)
		memkv_report(vs, "%llu keys of run %llu are missing from its filter",
					 (unsigned long long) unfiltered,
					 (unsigned long long) rd->run_id);
	if (filter)
		pfree(filter);
	ntids += memkv_frozen_nulls(frozen, &run);
	memkv_verify_dead(vs, frozen, rd);
	memkv_frozen_close(frozen);
	if (first && prev)
		memkv_verify_bounds(vs, rd, (const uint8 *) VARDATA(first),
							VARSIZE(first) - VARHDRSZ,
							(const uint8 *) VARDATA(prev),
							VARSIZE(prev) - VARHDRSZ);

	/* the walk sees live TIDs, and keys with one (dead lists aside) */
	if ((rd->entry.ndead == 0 ? nkeys != rd->run_nkeys : nkeys > rd->run_nkeys) ||
		ntids != rd->run_ntids - rd->entry.ndead)
		memkv_report(vs, "run %llu holds %llu keys and %llu live TIDs, the directory says %llu and %llu",
					 (unsigned long long) rd->run_id,
					 (unsigned long long) nkeys, (unsigned long long) ntids,
					 (unsigned long long) rd->run_nkeys,
					 (unsigned long long) (rd->run_ntids - rd->entry.ndead));
}

/*
 * Check each stripe's delta log against its trees, in steps: each step
 * takes every stripe lock shared (syncing the trees first if they are
 * behind), checks up to MEMKV_LOG_STEP_PAGES log pages' entries against
 * the trees, and lets the locks go, so inserts and scans wait at most one
 * step.  The step that reaches the end of a chain also checks, under the
 * same lock hold, that the chain ends where the trees' sync stopped, the
 * trees' structure, and that the trees hold exactly as many TIDs as the
 * log: a log only grows at its tail within an epoch, so the entries read
 * in earlier steps are all still there, and the trees hold nothing else.
 * Every entry must be in its key's stripe, and no page in two chains.
 * Caller holds the metapage lock in ShareLock, so the epoch cannot change.
 */
static void
memkv_verify_delta(MemkvVerifyState *vs, Relation index,
				   MemkvMetaPageData *meta)
{
	MemkvMetaPageData now;
	MemkvLogWalk walk;
	char		errbuf[256];
	BlockNumber nblocks;
	bool	   *in_chain = NULL;
	BlockNumber in_chain_len = 0;
	int			s;

	vs->entry = memkv_open_synced(index, LW_SHARED, meta);
	memkv_entry_release(vs->entry);
	vs->entry = NULL;
	nblocks = RelationGetNumberOfBlocks(index);
	for (s = 0; s < meta->nstripes; s++)
	{
		if (meta->log_head[s] == MEMKV_METAPAGE_BLKNO ||
			meta->log_head[s] >= nblocks)
		{
			memkv_report(vs, "metapage points outside the relation (log head %u, %u blocks)",
						 meta->log_head[s], nblocks);
			return;
		}
	}

	for (s = 0; s < meta->nstripes; s++)
	{
		bool		done = false;

		vs->stripe = s;
		vs->nonnull = 0;
		vs->nulls = 0;
		memkv_log_walk_start(&walk, meta->log_head[s], meta->log_head_offset[s],
							 meta->epoch, true);
		/* one page map for every chain: a page in two of them is a cycle */
		walk.in_chain = in_chain;
		walk.in_chain_len = in_chain_len;
		while (!done)
		{
			MemkvStripe *st;

			CHECK_FOR_INTERRUPTS();
			vs->entry = memkv_open_synced(index, LW_SHARED, &now);
			if (now.instance_id != meta->instance_id ||
				now.epoch != meta->epoch ||
				now.log_head[s] != meta->log_head[s] ||
				now.log_head_offset[s] != meta->log_head_offset[s])
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("index \"%s\" was frozen or rebuilt during the check",
								RelationGetRelationName(index)),
						 errhint("Run memkv_verify again.")));
			done = memkv_log_walk_pages(index, &walk, MEMKV_LOG_STEP_PAGES,
										memkv_verify_visit, vs);
			in_chain = walk.in_chain;
			in_chain_len = walk.in_chain_len;
			if (!done)
			{
				memkv_entry_release(vs->entry);
				memkv_step_aside(vs->entry);
				continue;
			}

			/* the end of the chain, with appends held off: compare totals */
			st = &vs->entry->stripes[s];
			if (st->valid && st->instance_id == now.instance_id &&
				walk.last != st->resume_blkno)
				memkv_report(vs, "the log chain ends at block %u, the shared trees' sync at %u",
							 walk.last, st->resume_blkno);
			if (!art_check(&st->keys, memkv_allocator(),
						   memkv_shared->arena_size, errbuf, sizeof(errbuf)))
				memkv_report(vs, "delta tree: %s", errbuf);
			if (!art_check(&st->nulls, memkv_allocator(),
						   memkv_shared->arena_size, errbuf, sizeof(errbuf)))
				memkv_report(vs, "NULL tree: %s", errbuf);
			if (st->keys.ntids + st->imm_keys.ntids != vs->nonnull)
				memkv_report(vs, "delta trees hold %llu TIDs, the log %llu",
							 (unsigned long long) (st->keys.ntids +
												   st->imm_keys.ntids),
							 (unsigned long long) vs->nonnull);
			if (st->nulls.ntids + st->imm_nulls.ntids != vs->nulls)
				memkv_report(vs, "NULL trees hold %llu TIDs, the log %llu",
							 (unsigned long long) (st->nulls.ntids +
												   st->imm_nulls.ntids),
							 (unsigned long long) vs->nulls);
			memkv_entry_release(vs->entry);
		}
	}
	vs->entry = NULL;
	if (in_chain)
		pfree(in_chain);
}

/*
 * memkv_verify(index regclass) returns setof text: one row per problem
 * found (at most 100), none if the index is consistent.  It checks the
 * metapage, walks the delta log, checks the shared trees' structure and
 * that they hold exactly the log's entries, then reads the whole frozen
 * layer.
 *
 * It never holds the entry lock for more than a step (see
 * memkv_verify_delta; the frozen layer is read from its pages without it),
 * and answers a cancel between steps.  It holds the metapage lock in
 * ShareLock throughout, and the merge lock in ShareLock, which keep
 * freezes, merges and amvacuumcleanup from
 * retiring the pages it is reading (they wait; inserts and scans do not).
 */
Datum
memkv_verify(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	index = memkv_open_for_caller(relid, AccessShareLock,
											  MEMKV_CALLER_SELECT);
	MemkvVerifyState vs;
	MemkvMetaPageData meta;
	int			i;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	memset(&vs, 0, sizeof(vs));
	vs.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	/* the merge lock (request.h) first: merges retire runs too */
	LockPage(index, MEMKV_MERGE_LOCK_PAGE, ShareLock);
	LockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
	memkv_verify_directory(&vs, index);
	memkv_verify_delta(&vs, index, &meta);
	for (i = 0; i < meta.nruns; i++)
		memkv_verify_frozen(&vs, index, &meta, i);
	UnlockPage(index, MEMKV_METAPAGE_BLKNO, ShareLock);
	UnlockPage(index, MEMKV_MERGE_LOCK_PAGE, ShareLock);

	memkv_close_for_caller(index, AccessShareLock);
	return (Datum) 0;
}
