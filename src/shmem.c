/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  memkv's shared memory segment: the registry's array and LWLock
 *	  tranches (registry.c uses them) and the arena that holds every delta
 *	  tree and run copy, with the allocator the trees use.
 *
 * Reserved at postmaster start from shmem_request_hook, sized by
 * memkv.max_indexes and memkv.shared_memory; see src/README, "Shared
 * memory".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"

#include "memkv.h"
#include "memkv_guc.h"
#include "registry.h"

MemkvShared *memkv_shared = NULL;

/* True once _PG_init (memkv.c) ran from shared_preload_libraries. */
bool		memkv_preloaded = false;

/* Local copies of what every backend needs to reach the shared state. */
static void *arena_base = NULL;
static ArtAllocator arena_allocator;

/*
 * One tranche per kind of lock, so that pg_stat_activity's wait_event
 * says which one a backend waits for.
 */
#define MEMKV_REGISTRY_TRANCHE	"memkv registry"
#define MEMKV_STRIPE_TRANCHE	"memkv stripe"
#define MEMKV_RUNS_TRANCHE		"memkv runs"

static Size
memkv_registry_size(void)
{
	return MAXALIGN(add_size(offsetof(MemkvShared, entries),
							 mul_size(sizeof(MemkvEntry), memkv_max_indexes)));
}

static Size
memkv_arena_size(void)
{
	return mul_size((Size) memkv_shared_memory_mb, 1024 * 1024);
}

/* Called from shmem_request_hook: reserve the registry, arena and locks. */
void
memkv_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(memkv_registry_size(), memkv_arena_size()));
	RequestNamedLWLockTranche(MEMKV_REGISTRY_TRANCHE, 1);
	RequestNamedLWLockTranche(MEMKV_STRIPE_TRANCHE,
							  memkv_max_indexes * MEMKV_MAX_STRIPES);
	RequestNamedLWLockTranche(MEMKV_RUNS_TRANCHE, memkv_max_indexes);
}

static ArenaPtr
memkv_arena_alloc(void *arg, size_t size)
{
	ArenaPtr	p;

	SpinLockAcquire(&memkv_shared->arena_lock);
	p = arena_alloc(arena_base, size);
	SpinLockRelease(&memkv_shared->arena_lock);
	return p;
}

static void
memkv_arena_free(void *arg, ArenaPtr p, size_t size)
{
	SpinLockAcquire(&memkv_shared->arena_lock);
	arena_free(arena_base, p, size);
	SpinLockRelease(&memkv_shared->arena_lock);
}

/*
 * Called from shmem_startup_hook in the postmaster (and in every backend
 * under EXEC_BACKEND): create or attach the shared state.
 */
void
memkv_shmem_startup(void)
{
	bool		found;
	Size		regsize = memkv_registry_size();
	char	   *base;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("memkv", add_size(regsize, memkv_arena_size()),
						   &found);
	memkv_shared = (MemkvShared *) base;
	arena_base = base + regsize;
	if (!found)
	{
		memset(memkv_shared, 0, regsize);
		SpinLockInit(&memkv_shared->arena_lock);
		memkv_shared->max_entries = memkv_max_indexes;
		pg_atomic_init_u64(&memkv_shared->clock, 1);
		memkv_shared->arena_size = memkv_arena_size();
		arena_init(arena_base, memkv_shared->arena_size);
		for (i = 0; i < memkv_shared->max_entries; i++)
		{
			pg_atomic_init_u32(&memkv_shared->entries[i].run_kb_building, 0);
			pg_atomic_init_u32(&memkv_shared->entries[i].run_kb_asked, 0);
		}
	}
	memkv_shared->registry_lock =
		&GetNamedLWLockTranche(MEMKV_REGISTRY_TRANCHE)[0].lock;
	memkv_shared->stripe_locks = GetNamedLWLockTranche(MEMKV_STRIPE_TRANCHE);
	memkv_shared->runs_locks = GetNamedLWLockTranche(MEMKV_RUNS_TRANCHE);
	LWLockRelease(AddinShmemInitLock);

	arena_allocator.base = arena_base;
	arena_allocator.alloc = memkv_arena_alloc;
	arena_allocator.free = memkv_arena_free;
	arena_allocator.arg = NULL;
}

/*
 * Raise the user-facing error for a server that did not preload memkv.
 * Called first by every callback that touches an index.
 */
void
memkv_check_loaded(void)
{
	if (!memkv_preloaded || memkv_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("memkv must be loaded via shared_preload_libraries"),
				 errhint("Add memkv to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* The allocator delta trees use: the shared arena. */
const ArtAllocator *
memkv_allocator(void)
{
	return &arena_allocator;
}

/*
 * Where tree writers hand the blocks they unlink (limbo.c's
 * memkv_limbo_retire, set at shared memory startup): scans read the trees
 * without the stripe locks, so a replaced node must outlive their guards.
 */
void
memkv_set_tree_retire(void (*retire) (void *arg, ArenaPtr p, size_t size))
{
	arena_allocator.retire = retire;
}

/* Bytes of the arena currently allocated, over all trees. */
Size
memkv_arena_bytes_used(void)
{
	Size		used;

	SpinLockAcquire(&memkv_shared->arena_lock);
	used = arena_bytes_used(arena_base);
	SpinLockRelease(&memkv_shared->arena_lock);
	return used;
}

/* Allocate `size` bytes of the arena outside any tree; ARENA_NULL if full. */
ArenaPtr
memkv_arena_alloc_big(Size size)
{
	if (size > ARENA_MAX_ALLOC)
		return ARENA_NULL;
	return memkv_arena_alloc(NULL, size);
}

void
memkv_arena_free_big(ArenaPtr p, Size size)
{
	memkv_arena_free(NULL, p, size);
}
