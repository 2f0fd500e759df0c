/*-------------------------------------------------------------------------
 *
 * stripe.h
 *	  A registry entry's stripes kept in step with their delta logs
 *	  (stripe.c): taking the stripe locks, syncing, making room.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_STRIPE_H
#define MEMKV_STRIPE_H

#include "storage/lwlock.h"
#include "utils/relcache.h"

#include "memkv.h"
#include "page.h"
#include "registry.h"

extern MemkvEntry *memkv_entry_acquire_runs(Relation index, LWLockMode mode);
extern MemkvEntry *memkv_entry_acquire(Relation index, LWLockMode mode);
extern MemkvEntry *memkv_entry_acquire_stripe(Relation index, LWLockMode mode,
											  uint32 hash, int *stripe);
extern bool memkv_entry_make_room(Relation index);
extern bool memkv_art_try_insert(MemkvEntry *entry, int stripe, bool isnull,
								 const uint8 *key, Size keylen,
								 ItemPointer tid);
extern bool memkv_sync_try(Relation index, MemkvEntry *entry, int stripe);
extern bool memkv_sync_all_try(Relation index, MemkvEntry *entry);
extern bool memkv_stripes_relock(Relation index, MemkvEntry *entry,
								 int first, int count,
								 const MemkvMetaPageData *meta);
extern MemkvEntry *memkv_open_synced(Relation index, LWLockMode mode,
									 MemkvMetaPageData *meta);
extern MemkvEntry *memkv_open_synced_try(Relation index, LWLockMode mode,
										 MemkvMetaPageData *meta,
										 bool *in_memory);
extern MemkvEntry *memkv_open_synced_stripe(Relation index, LWLockMode mode,
											MemkvMetaPageData *meta,
											bool *in_memory, int64 hash,
											int *stripe);

#endif							/* MEMKV_STRIPE_H */
