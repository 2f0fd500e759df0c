/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The shared segment (registry.c): the arena every delta tree lives in,
 *	  and the registry of entries that map an index to its trees and its
 *	  entry LWLock, with LRU eviction.  MemkvEntry and MemkvShared are in
 *	  memkv.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_REGISTRY_H
#define MEMKV_REGISTRY_H

#include "memkv.h"

extern MemkvShared *memkv_shared;
extern bool memkv_preloaded;
extern void memkv_check_loaded(void);
extern void memkv_shmem_request(void);
extern void memkv_shmem_startup(void);
extern MemkvEntry *memkv_entry_acquire(Relation index, LWLockMode mode);
extern void memkv_entry_forget(RelFileNode node, BackendId backend);
extern void memkv_entry_release(MemkvEntry *entry);
extern LWLock *memkv_entry_lock(MemkvEntry *entry);
extern const ArtAllocator *memkv_allocator(void);
extern bool memkv_art_try_insert(MemkvEntry *entry, bool isnull,
								 const uint8 *key, Size keylen,
								 ItemPointer tid);
extern Size memkv_arena_bytes_used(void);
extern ArenaPtr memkv_arena_alloc_big(Size size);
extern void memkv_arena_free_big(ArenaPtr p, Size size);
extern void memkv_entry_free_run_copy(MemkvEntry *entry);

#endif							/* MEMKV_REGISTRY_H */
