/*-------------------------------------------------------------------------
 *
 * buildscan.h
 *	  CREATE INDEX's collection of the keys (buildscan.c), for the serial
 *	  build (build.c) and a parallel build's participants (buildpar.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BUILDSCAN_H
#define MEMKV_BUILDSCAN_H

#include "access/relscan.h"
#include "nodes/execnodes.h"
#include "portability/instr_time.h"
#include "storage/itemptr.h"
#include "utils/rel.h"

#include "buildspill.h"
#include "keysort.h"
#include "runwrite.h"

/* Accumulates TIDs: of the current key while writing, of the NULL key. */
typedef struct MemkvKeyGroup
{
	uint8	   *key;
	Size		keylen;
	Size		keysize;
	ItemPointerData *tids;
	uint64		ntids;
	Size		maxtids;
} MemkvKeyGroup;

typedef struct MemkvBuildState
{
	/*
	 * Non-NULL keys are collected in chunks (keycxt) and NULL keys' TIDs in
	 * nulls, for keysort.  What that takes -- the chunks, the nulls array
	 * while in_memory, and the sort items that the keys will need
	 * (memkv_build_mem) -- is kept within mem_limit (maintenance_work_mem /
	 * 2).  Past it, the keys collected are sorted and spilled (spills), the
	 * chunks emptied, and in_memory is false from then on: the NULL TIDs,
	 * 6 bytes a row, are no longer counted (the writer takes them all at
	 * once at the end).
	 */
	bool		in_memory;
	MemkvSpillSet *spills;
	MemoryContext keycxt;
	struct MemkvKeyChunk *chunks;		/* first chunk */
	struct MemkvKeyChunk *last;		/* the one being filled */
	Size		next_chunk_size;
	uint64		nkeys;			/* non-NULL keys collected */
	Size		chunk_bytes;	/* allocated for chunks */
	Size		mem_limit;
	MemkvKeyGroup nulls;

	double		indtuples;
	MemoryContext tmpcxt;

	/* where the spills' time went, for the DEBUG1 line */
	instr_time	spill_sort_time;	/* sorting the chunks spilled */
	instr_time	spill_write_time;	/* writing them to the spills */
} MemkvBuildState;

/* What one participant of a parallel build collected. */
typedef struct MemkvBuildPart
{
	ItemPointerData *nulls;		/* the NULL keys' TIDs, unsorted */
	uint64		nnulls;
	double		reltuples;		/* heap tuples scanned */
	double		indtuples;		/* index tuples (NULLs included) */
	double		sort_ms;		/* sorting the chunks spilled */
	double		write_ms;		/* writing them */
} MemkvBuildPart;

extern void memkv_key_bytes(Datum value, const uint8 **key, Size *keylen,
							text **to_free);
extern void memkv_build_state_init(MemkvBuildState *bs, Size mem_limit,
								   bool in_memory, MemkvSpillSet *spills);
extern void memkv_build_callback(Relation index, ItemPointer tid,
								 Datum *values, bool *isnull,
								 bool tupleIsAlive, void *state);
extern KeysortItem *memkv_build_sort_in_memory(MemkvBuildState *bs);
extern void memkv_build_spill_chunks(MemkvBuildState *bs);
extern void memkv_build_write_in_memory(MemkvBuildState *bs,
										MemkvFrozenWriter *w,
										const KeysortItem *items);
extern void memkv_build_participate(Relation heap, Relation index,
									IndexInfo *indexInfo, TableScanDesc scan,
									Size mem, MemkvSpillSet *ss,
									bool progress, MemkvBuildPart *out);

#endif							/* MEMKV_BUILDSCAN_H */
