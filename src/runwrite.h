/*-------------------------------------------------------------------------
 *
 * runwrite.h
 *	  Writing a new frozen run (runwrite.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNWRITE_H
#define MEMKV_RUNWRITE_H

#include "memkv.h"
#include "page.h"
#include "registry.h"

/* Streams a new frozen layer into memory, then into pages. */
typedef struct MemkvFrozenWriter MemkvFrozenWriter;

extern MemkvFrozenWriter *memkv_frozen_writer_begin(Relation index,
													uint64 run_id);
extern void memkv_frozen_writer_collect_keys(MemkvFrozenWriter *w);
extern void memkv_frozen_writer_want_filter(MemkvFrozenWriter *w,
											const MemkvMetaPageData *meta,
											int first, int ninputs,
											uint64 delta_keys);
extern void memkv_frozen_writer_add(MemkvFrozenWriter *w, const uint8 *key,
									Size keylen, ItemPointerData *tids,
									uint64 ntids);
extern void memkv_frozen_writer_add_nulls(MemkvFrozenWriter *w,
										  ItemPointerData *tids,
										  uint64 ntids);
extern void memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index,
									   uint64 run_id, MemkvRunEntry *run);
extern void memkv_frozen_writer_install_cache(MemkvFrozenWriter *w,
											  MemkvEntry *entry,
											  const MemkvRunDesc *run);

#endif							/* MEMKV_RUNWRITE_H */
