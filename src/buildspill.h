/*-------------------------------------------------------------------------
 *
 * buildspill.h
 *	  CREATE INDEX beyond maintenance_work_mem (buildspill.c): sorted
 *	  chunks of keys spilled to temporary files, and their merge into the
 *	  run writer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BUILDSPILL_H
#define MEMKV_BUILDSPILL_H

#include "storage/sharedfileset.h"

#include "keysort.h"
#include "runwrite.h"

/* The spills of one build, in the caller's memory context. */
typedef struct MemkvSpillSet MemkvSpillSet;

/* What a build's spills took, for its DEBUG1 line. */
typedef struct MemkvSpillStats
{
	int			nspills;		/* sorted chunks written */
	int			npasses;		/* merge passes, the last into the writer */
	int			fanin;			/* spills merged at once at most */
	uint64		nbytes;			/* bytes written to spills, all passes */
	double		reduce_ms;		/* the passes before the last, in all */
} MemkvSpillStats;

extern MemkvSpillSet *memkv_spill_begin(Size merge_mem);
extern MemkvSpillSet *memkv_spill_begin_shared(SharedFileSet *fileset,
											   int participant,
											   Size chunk_mem);
extern void memkv_spill_name(char *name, int participant, int n);
extern int	memkv_spill_export(MemkvSpillSet *ss);
extern void memkv_spill_adopt(MemkvSpillSet *ss, SharedFileSet *fileset,
							  int participant, int nspills);
extern void memkv_spill_sorted(MemkvSpillSet *ss, const KeysortItem *items,
							   uint64 nitems);
extern void memkv_spill_set_range(MemkvSpillSet *ss, const uint8 *lo,
								  Size lolen, const uint8 *hi, Size hilen);
extern void memkv_spill_choose_splits(MemkvSpillSet *ss, int nranges,
									  uint8 ***keys, Size **lens);
extern uint64 memkv_spill_merge_into(MemkvSpillSet *ss, MemkvFrozenWriter *w);
extern void memkv_spill_end(MemkvSpillSet *ss, MemkvSpillStats *stats);

#endif							/* MEMKV_BUILDSPILL_H */
