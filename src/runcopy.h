/*-------------------------------------------------------------------------
 *
 * runcopy.h
 *	  The frozen run's shared-memory copy and key blocks (runcopy.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNCOPY_H
#define MEMKV_RUNCOPY_H

#include "memkv.h"
#include "page.h"
#include "registry.h"

extern bool memkv_run_copy_wanted(MemkvEntry *entry,
								  const MemkvMetaPageData *meta, int i);
extern void memkv_run_copy_build(Relation index, MemkvEntry *entry,
								 const MemkvMetaPageData *meta, int i);
/*
 * What memkv_run_copy_open does about key blocks the largest run lacks:
 * nothing (equality scans), ask a background worker to build them (range
 * scans on a primary; built here if no worker can), or build them here
 * (that worker).
 */
typedef enum MemkvKeyBlocks
{
	MEMKV_KB_NONE,
	MEMKV_KB_ASK,
	MEMKV_KB_BUILD
} MemkvKeyBlocks;

extern MemkvEntry *memkv_run_copy_open(Relation index, MemkvKeyBlocks kb,
									   MemkvMetaPageData *meta,
									   bool *in_memory, int64 hash,
									   int *first);
extern bool memkv_run_kb_claim(MemkvEntry *entry);
extern void memkv_run_kb_unclaim(MemkvEntry *entry);
extern bool memkv_run_kb_wanted(MemkvEntry *entry,
								const MemkvMetaPageData *meta, int i);

/*
 * The FST images of every slice of a run, in slice order, copied out of
 * the entry's shared copy into backend memory (memkv_frozen_fst_copy).
 */
typedef struct MemkvRunFsts
{
	uint32		nslices;
	uint8	   *data;			/* the images, one after the other */
	Size	   *sizes;			/* each slice's image bytes */
} MemkvRunFsts;

extern void memkv_frozen_fst_copy(Relation index, MemkvEntry *entry,
								  const MemkvMetaPageData *meta, int i,
								  MemkvRunFsts *fsts);
extern void memkv_run_fsts_free(MemkvRunFsts *fsts);
extern uint8 *memkv_run_kb_make(Relation index, const MemkvRunFsts *fsts,
								Size *size);
extern void memkv_run_kb_install(MemkvEntry *entry,
								 const MemkvMetaPageData *meta, int i,
								 uint8 *image, Size size);
extern bool memkv_frozen_checksum_ok(Relation index,
									 const MemkvMetaPageData *meta, int i);
extern ArenaPtr memkv_accelerator_alloc(Size size);

#endif							/* MEMKV_RUNCOPY_H */
