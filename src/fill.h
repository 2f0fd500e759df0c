/*-------------------------------------------------------------------------
 *
 * fill.h
 *	  Filling a scan's batch from the index's layers (fill.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FILL_H
#define MEMKV_FILL_H

#include "access/relscan.h"

#include "memkv.h"

/* TIDs a scan's first batch aims for; each next one doubles, up to the max */
#define MEMKV_FIRST_BATCH	32
#define MEMKV_MAX_BATCH		1024

extern void memkv_fill(IndexScanDesc scan, MemkvBatch *batch,
					   ScanDirection dir, MemkvBatch *curbatch,
					   MemkvBatchItem *from);

#endif							/* MEMKV_FILL_H */
