/*-------------------------------------------------------------------------
 *
 * freeze.h
 *	  Freezing an index's delta into a new frozen run (freeze.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FREEZE_H
#define MEMKV_FREEZE_H

#include "memkv.h"

extern void memkv_delete_page(Relation index, Buffer buf);
extern void memkv_freeze_index(Relation index,
							   IndexBulkDeleteCallback dead,
							   void *dead_state,
							   IndexBulkDeleteResult *stats,
							   MemkvFreezeTrigger trigger);

#endif							/* MEMKV_FREEZE_H */
