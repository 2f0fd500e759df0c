/*-------------------------------------------------------------------------
 *
 * memkv_bench_probe.c
 *	  Time equality probes of an index through the generic index AM API.
 *
 * bench/run.sh uses index_probe_bench() to compare the cost of one index
 * probe in memkv, btree and SP-GiST without the executor, the planner and
 * the client protocol in the way: every index is driven through exactly the
 * same calls (index_beginscan, index_rescan, index_getnext_tid,
 * index_endscan), the way a nested-loop inner index scan drives it.
 *
 * Each probe is self-contained: it begins a scan, rescans it with a single
 * "column = key" scan key (strategy 3, texteq, C collation), counts the TIDs
 * returned and ends the scan, all inside a memory context that is reset
 * after the probe, so that no probe leaks into the next one.  Heap tuples
 * are never fetched.
 *
 * Copyright: the memkv authors.  Part of memkv's benchmark, bench/probe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_collation_d.h"
#include "catalog/pg_type_d.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(index_probe_bench);
PG_FUNCTION_INFO_V1(index_probe_bench_cpu);
PG_FUNCTION_INFO_V1(index_probe_count);

/* The relations and keys that one call of a probe function works on. */
typedef struct ProbeTarget
{
	Relation	heap;
	Relation	index;
	Datum	   *keys;
	int			nkeys;
	Snapshot	snapshot;
	MemoryContext probecxt;
} ProbeTarget;

/*
 * probe_open
 *		Open the index and its table with AccessShareLock, check that the
 *		index's first column is text, and unpack the keys array.
 */
static void
probe_open(ProbeTarget *target, Oid indexoid, ArrayType *keys)
{
	Relation	index;
	Oid			atttype;
	bool	   *nulls;
	int			i;

	index = index_open(indexoid, AccessShareLock);
	if (index->rd_rel->relkind != RELKIND_INDEX)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not an index",
						RelationGetRelationName(index))));

	atttype = TupleDescAttr(RelationGetDescr(index), 0)->atttypid;
	if (atttype != TEXTOID && atttype != VARCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("first column of index \"%s\" is of type %s, not text",
						RelationGetRelationName(index),
						format_type_be(atttype))));

	target->index = index;
	target->heap = table_open(index->rd_index->indrelid, AccessShareLock);

	if (ARR_NDIM(keys) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("keys must be a one-dimensional array")));
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT,
					  &target->keys, &nulls, &target->nkeys);
	for (i = 0; i < target->nkeys; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("keys must not contain NULL")));

	/* The statement's snapshot; outside of one, the transaction's. */
	target->snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() :
		GetTransactionSnapshot();

	target->probecxt = AllocSetContextCreate(CurrentMemoryContext,
											 "index probe",
											 ALLOCSET_DEFAULT_SIZES);
}

/*
 * probe_close
 *		Release what probe_open acquired (locks are kept to end of
 *		transaction, as usual).
 */
static void
probe_close(ProbeTarget *target)
{
	MemoryContextDelete(target->probecxt);
	table_close(target->heap, NoLock);
	index_close(target->index, NoLock);
}

/*
 * probe_one
 *		Run one equality probe for key and return the number of TIDs the
 *		index returned for it.
 */
static int64
probe_one(ProbeTarget *target, Datum key)
{
	MemoryContext oldcxt;
	IndexScanDesc scan;
	ScanKeyData skey;
	int64		ntids = 0;

	oldcxt = MemoryContextSwitchTo(target->probecxt);

	ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_TEXTEQ, key);
	skey.sk_collation = C_COLLATION_OID;

	/* 18 added the scan's instrumentation (EXPLAIN ANALYZE's counters) */
#if PG_VERSION_NUM >= 180000
	scan = index_beginscan(target->heap, target->index, target->snapshot,
						   NULL, 1, 0);
#else
	scan = index_beginscan(target->heap, target->index, target->snapshot,
						   1, 0);
#endif
	index_rescan(scan, &skey, 1, NULL, 0);
	while (index_getnext_tid(scan, ForwardScanDirection) != NULL)
		ntids++;
	index_endscan(scan);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(target->probecxt);

	return ntids;
}

/*
 * probe_bench
 *		Probe the index for every key, "loops" times over, and return the
 *		mean time of one probe in nanoseconds on the given clock.
 */
static Datum
probe_bench(FunctionCallInfo fcinfo, clockid_t clock)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ArrayType  *keys = PG_GETARG_ARRAYTYPE_P(1);
	int32		loops = PG_GETARG_INT32(2);
	ProbeTarget target;
	struct timespec start,
				stop;
	int64		ntids = 0;
	double		elapsed_ns;
	int			loop;
	int			i;

	if (loops < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("loops must be at least 1")));

	probe_open(&target, indexoid, keys);
	if (target.nkeys == 0)
	{
		probe_close(&target);
		PG_RETURN_NULL();
	}

	clock_gettime(clock, &start);
	for (loop = 0; loop < loops; loop++)
	{
		for (i = 0; i < target.nkeys; i++)
		{
			CHECK_FOR_INTERRUPTS();
			ntids += probe_one(&target, target.keys[i]);
		}
	}
	clock_gettime(clock, &stop);

	probe_close(&target);

	elapsed_ns = (double) (stop.tv_sec - start.tv_sec) * 1e9 +
		(double) (stop.tv_nsec - start.tv_nsec);
	elog(DEBUG1, "index_probe_bench: %d probes, " INT64_FORMAT " TIDs",
		 target.nkeys * loops, ntids);

	PG_RETURN_FLOAT8(elapsed_ns / ((double) target.nkeys * loops));
}

/*
 * index_probe_bench(index regclass, keys text[], loops int) returns float8
 *
 * Mean wall-clock time of one probe in nanoseconds (CLOCK_MONOTONIC).
 */
Datum
index_probe_bench(PG_FUNCTION_ARGS)
{
	return probe_bench(fcinfo, CLOCK_MONOTONIC);
}

/*
 * index_probe_bench_cpu(index regclass, keys text[], loops int) returns float8
 *
 * Mean CPU time of one probe in nanoseconds, counted for this backend only
 * (CLOCK_PROCESS_CPUTIME_ID): unlike the wall clock, it does not grow when
 * other processes share the CPUs, which makes it the steadier figure on a
 * busy machine.
 */
Datum
index_probe_bench_cpu(PG_FUNCTION_ARGS)
{
	return probe_bench(fcinfo, CLOCK_PROCESS_CPUTIME_ID);
}

/*
 * index_probe_count(index regclass, keys text[]) returns bigint
 *
 * Probe the index once for every key and return the total number of TIDs
 * returned, so that two indexes on the same column can be checked to give
 * the same answers to the probes being timed.
 */
Datum
index_probe_count(PG_FUNCTION_ARGS)
{
	Oid			indexoid = PG_GETARG_OID(0);
	ArrayType  *keys = PG_GETARG_ARRAYTYPE_P(1);
	ProbeTarget target;
	int64		ntids = 0;
	int			i;

	probe_open(&target, indexoid, keys);
	for (i = 0; i < target.nkeys; i++)
	{
		CHECK_FOR_INTERRUPTS();
		ntids += probe_one(&target, target.keys[i]);
	}
	probe_close(&target);

	PG_RETURN_INT64(ntids);
}
