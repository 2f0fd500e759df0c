/*-------------------------------------------------------------------------
 *
 * buildpar.h
 *	  Parallel CREATE INDEX (buildpar.c): every participant scans and
 *	  spills its share of the table, then merges one key range of all the
 *	  spills; the leader stores the ranges' slices as one run.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_BUILDPAR_H
#define MEMKV_BUILDPAR_H

#include "access/parallel.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

#include "buildscan.h"
#include "buildspill.h"

typedef struct MemkvParBuild MemkvParBuild;

extern MemkvParBuild *memkv_par_begin(Relation heap, Relation index,
									  IndexInfo *indexInfo);
extern int	memkv_par_participants(MemkvParBuild *pb);
extern void memkv_par_participate(MemkvParBuild *pb, Relation heap,
								  Relation index, IndexInfo *indexInfo,
								  MemkvBuildPart *out);
extern uint64 memkv_par_merge(MemkvParBuild *pb, MemkvFrozenWriter *w);
extern void memkv_par_end(MemkvParBuild *pb);

extern PGDLLEXPORT void memkv_build_worker_main(dsm_segment *seg,
												shm_toc *toc);

#endif							/* MEMKV_BUILDPAR_H */
