/*
 * test_ebr.c
 *	  Unit tests of epoch-based reclamation (src/ebr.c): single-threaded
 *	  semantics of guards, retire, advance, horizon and reclaim (nesting,
 *	  a full limbo ring, wrap-around against a FIFO oracle, clear), then a
 *	  pthread stress: writers replace objects in a shared array of
 *	  pointers and retire the old ones, readers inside guards check every
 *	  object they reach against its expected contents, and the free
 *	  callback poisons an object before freeing it.  Under ASan a read of
 *	  a freed object aborts; without a sanitizer (or under TSan) the
 *	  poison check fails.
 *
 *	  EBR_TEST_BROKEN=1 in the environment makes the writers reclaim
 *	  without consulting the horizon (the stress test must then fail);
 *	  EBR_TEST_SECONDS sets the stress duration (default 3).
 */
#include "ebr.h"
#include "unit_check.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

/* ---- single-threaded semantics ---- */

/* The free callback of the single-threaded tests: records what it got. */
typedef struct FreeLog
{
	uint64_t	objs[64];
	uint64_t	sizes[64];
	int			n;
} FreeLog;

static void
log_free(void *arg, uint64_t obj, uint64_t size)
{
	FreeLog    *log = arg;

	if (log->n < 64)
	{
		log->objs[log->n] = obj;
		log->sizes[log->n] = size;
	}
	log->n++;
}

static void
test_guards(void)
{
	EbrDomain	dom;
	EbrSlot		slots[3];

	ebr_init(&dom, slots, 3);
	CHECK(ebr_current(&dom) == 1, "epoch starts at 1");
	CHECK(ebr_horizon(&dom) == 1, "no guard: horizon is the epoch");
	CHECK(!ebr_entered(&slots[0]), "slot starts outside");

	CHECK(ebr_enter(&dom, &slots[0]) == EBR_OK, "enter");
	CHECK(ebr_entered(&slots[0]) && slots[0].epoch == 1, "entered at 1");
	CHECK(ebr_enter(&dom, &slots[0]) == EBR_NESTED, "nested enter refused");
	CHECK(slots[0].epoch == 1, "nested enter changed nothing");

	CHECK(ebr_advance(&dom) == 2, "advance to 2");
	CHECK(ebr_advance(&dom) == 3, "advance to 3");
	CHECK(ebr_horizon(&dom) == 1, "guard at 1 holds the horizon");
	CHECK(ebr_enter(&dom, &slots[1]) == EBR_OK && slots[1].epoch == 3,
		  "second guard enters at 3");
	CHECK(ebr_horizon(&dom) == 1, "horizon is the smallest guard");
	CHECK(ebr_exit(&slots[0]) == EBR_OK, "exit");
	CHECK(ebr_exit(&slots[0]) == EBR_NOT_ENTERED, "second exit refused");
	CHECK(ebr_horizon(&dom) == 3, "horizon moves to the next guard");
	ebr_advance(&dom);
	CHECK(ebr_horizon(&dom) == 3, "guard at 3 holds it at 3");

	/* a dead backend's guard, cleared by the glue */
	CHECK(ebr_clear(&slots[1]), "clear reports an entered slot");
	CHECK(!ebr_entered(&slots[1]), "cleared");
	CHECK(!ebr_clear(&slots[1]), "clear reports an empty slot");
	CHECK(ebr_exit(&slots[1]) == EBR_NOT_ENTERED, "exit after clear refused");
	CHECK(ebr_horizon(&dom) == 4, "no guard left: horizon 4");
	CHECK(ebr_enter(&dom, &slots[1]) == EBR_OK && slots[1].epoch == 4,
		  "a cleared slot can be entered again");
	ebr_exit(&slots[1]);
}

static void
test_retire_reclaim(void)
{
	EbrDomain	dom;
	EbrSlot		slots[2];
	EbrLimboItem items[4];
	EbrLimbo	limbo;
	FreeLog		log = {{0}, {0}, 0};
	uint64_t	e;

	ebr_init(&dom, slots, 2);
	ebr_limbo_init(&limbo, items, 4);

	/* a reader inside before the retirement keeps the object alive */
	ebr_enter(&dom, &slots[0]);
	e = ebr_retire_epoch(&dom);
	CHECK(e == 1, "retire epoch is the current one");
	CHECK(ebr_retire(&limbo, 100, 16, e) == EBR_OK, "retire");
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 0,
		  "nothing freed at the same epoch");
	ebr_advance(&dom);
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 0,
		  "nothing freed while the guard of epoch 1 is held");
	ebr_exit(&slots[0]);
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 1,
		  "freed after the guard left and the epoch passed");
	CHECK(log.n == 1 && log.objs[0] == 100 && log.sizes[0] == 16,
		  "callback got the object and size");
	CHECK(ebr_limbo_count(&limbo) == 0, "ring empty");

	/* without an advance nothing retired now is ever free */
	ebr_retire(&limbo, 101, 1, ebr_retire_epoch(&dom));
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 0,
		  "no advance: not free even with no guard");
	ebr_advance(&dom);
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 1,
		  "after an advance: free");

	/* full ring */
	log.n = 0;
	e = ebr_retire_epoch(&dom);
	CHECK(ebr_retire(&limbo, 1, 1, e) == EBR_OK &&
		  ebr_retire(&limbo, 2, 2, e) == EBR_OK &&
		  ebr_retire(&limbo, 3, 3, e) == EBR_OK &&
		  ebr_retire(&limbo, 4, 4, e) == EBR_OK, "four fit");
	CHECK(ebr_limbo_full(&limbo), "full");
	CHECK(ebr_retire(&limbo, 5, 5, e) == EBR_FULL, "fifth refused");
	CHECK(ebr_limbo_count(&limbo) == 4, "refusal added nothing");
	ebr_advance(&dom);
	CHECK(ebr_reclaim(&limbo, ebr_horizon(&dom), log_free, &log) == 4,
		  "all four freed");
	CHECK(log.n == 4 && log.objs[0] == 1 && log.objs[3] == 4,
		  "freed oldest first");
	CHECK(ebr_retire(&limbo, 5, 5, ebr_retire_epoch(&dom)) == EBR_OK,
		  "room again after reclaim");

	/* an item with a smaller epoch behind a newer one waits for it */
	log.n = 0;
	ebr_advance(&dom);
	e = ebr_retire_epoch(&dom);
	ebr_retire(&limbo, 6, 6, e);
	ebr_retire(&limbo, 7, 7, e - 2);
	CHECK(ebr_reclaim(&limbo, e, log_free, &log) == 1 && log.objs[0] == 5,
		  "stops at the first item not yet free");
	CHECK(ebr_reclaim(&limbo, e + 1, log_free, &log) == 2 &&
		  log.objs[1] == 6 && log.objs[2] == 7, "then both go");

	/* capacity 0: always full */
	ebr_limbo_init(&limbo, items, 0);
	CHECK(ebr_retire(&limbo, 1, 1, 1) == EBR_FULL, "capacity 0 is full");
	CHECK(ebr_reclaim(&limbo, 100, log_free, &log) == 0, "nothing to free");
}

/* Random retire/advance/reclaim against a FIFO oracle, across wrap-around. */
static void
test_ring_oracle(void)
{
	EbrLimboItem items[7];
	EbrLimbo	limbo;
	uint64_t	oracle_obj[7],
				oracle_epoch[7];
	int			ohead = 0,
				ocount = 0;
	FreeLog		log;
	uint64_t	next = 1,
				epoch = 1;
	int			step,
				bad = 0;

	ebr_limbo_init(&limbo, items, 7);
	for (step = 0; step < 20000; step++)
	{
		if (rndn(3) != 0)
		{
			EbrResult	r = ebr_retire(&limbo, next, next * 3, epoch);

			if (ocount == 7)
				bad += (r != EBR_FULL);
			else
			{
				bad += (r != EBR_OK);
				oracle_obj[(ohead + ocount) % 7] = next;
				oracle_epoch[(ohead + ocount) % 7] = epoch;
				ocount++;
			}
			next++;
		}
		else if (rndn(2) == 0)
			epoch++;
		else
		{
			uint64_t	h = epoch - rndn(3);
			int			i;

			log.n = 0;
			ebr_reclaim(&limbo, h, log_free, &log);
			for (i = 0; ocount > 0 && oracle_epoch[ohead] < h; i++)
			{
				bad += (i >= log.n || log.objs[i] != oracle_obj[ohead] ||
						log.sizes[i] != oracle_obj[ohead] * 3);
				ohead = (ohead + 1) % 7;
				ocount--;
			}
			bad += (i != log.n);
		}
		bad += (ebr_limbo_count(&limbo) != (uint32_t) ocount);
	}
	CHECK(bad == 0, "ring agrees with the FIFO oracle (%d mismatches)", bad);
}

/* ---- pthread stress ---- */

#define NENTRIES	64
#define NWRITERS	2
#define NREADERS	6
#define OBJ_WORDS	8
#define LIMBO_CAP	256
#define POISON		0xdbdbdbdbdbdbdbdbULL

/* A heap object: word 0 its serial, the rest derived from it. */
typedef struct Obj
{
	uint64_t	w[OBJ_WORDS];
} Obj;

static EbrDomain sdom;
static EbrSlot sslots[NWRITERS + NREADERS];
static Obj *shared_objs[NENTRIES];
static int	stop;
static int	readers_done;
static int	broken;
static uint64_t serial_next = 1;

static uint64_t
obj_word(uint64_t serial, int i)
{
	return serial * 0x9e3779b97f4a7c15ULL + (uint64_t) i * 0x632be59bd9b4e019ULL;
}

static Obj *
obj_new(void)
{
	Obj		   *o = malloc(sizeof(Obj));
	uint64_t	s = __atomic_fetch_add(&serial_next, 1, __ATOMIC_RELAXED);
	int			i;

	if (!o)
		abort();
	o->w[0] = s;
	for (i = 1; i < OBJ_WORDS; i++)
		o->w[i] = obj_word(s, i);
	return o;
}

/* Is *o intact (not poisoned, not half-freed)? */
static bool
obj_ok(const Obj *o)
{
	uint64_t	s = o->w[0];
	int			i;

	if (s == 0 || s == POISON)
		return false;
	for (i = 1; i < OBJ_WORDS; i++)
		if (o->w[i] != obj_word(s, i))
			return false;
	return true;
}

/* The stress test's free callback: poison, then free. */
static void
obj_free(void *arg, uint64_t obj, uint64_t size)
{
	Obj		   *o = (Obj *) (uintptr_t) obj;
	uint64_t   *nfreed = arg;

	memset(o, 0xdb, (size_t) size);
	free(o);
	(*nfreed)++;
}

typedef struct WorkerStats
{
	int			id;
	uint64_t	ops;			/* writer: replacements; reader: guards */
	uint64_t	reads;			/* reader: objects checked */
	uint64_t	bad;			/* reader: objects found damaged */
	uint64_t	freed;			/* writer: objects reclaimed */
	uint64_t	freed_live;		/* writer: of those, while readers ran */
	uint64_t	full;			/* writer: retirements refused (full) */
	uint64_t	nested_bad;		/* enter/exit results not as expected */
} WorkerStats;

/* The horizon the writers reclaim against (or none, when broken). */
static uint64_t
stress_horizon(void)
{
	if (broken)
		return ebr_current(&sdom) + 1;
	return ebr_horizon(&sdom);
}

static void *
writer_main(void *arg)
{
	WorkerStats *st = arg;
	EbrLimboItem items[LIMBO_CAP];
	EbrLimbo	limbo;
	uint64_t	seed = 0x1234567ULL * (uint64_t) (st->id + 1);

	ebr_limbo_init(&limbo, items, LIMBO_CAP);
	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		Obj		   *fresh = obj_new();
		Obj		   *old;
		uint64_t	e;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		old = __atomic_exchange_n(&shared_objs[(seed >> 33) % NENTRIES],
								  fresh, __ATOMIC_ACQ_REL);
		e = ebr_retire_epoch(&sdom);
		while (ebr_retire(&limbo, (uint64_t) (uintptr_t) old,
						  sizeof(Obj), e) == EBR_FULL)
		{
			st->full++;
			ebr_advance(&sdom);
			if (ebr_reclaim(&limbo, stress_horizon(), obj_free,
							&st->freed) == 0)
				sched_yield();
		}
		st->ops++;
		if (st->ops % 16 == 0)
			ebr_advance(&sdom);
		if (st->ops % 32 == 0)
			ebr_reclaim(&limbo, stress_horizon(), obj_free, &st->freed);
	}
	st->freed_live = st->freed;
	/* once the readers are gone, everything left is free */
	while (!__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE))
		sched_yield();
	ebr_advance(&sdom);
	ebr_reclaim(&limbo, UINT64_MAX, obj_free, &st->freed);
	return NULL;
}

static void *
reader_main(void *arg)
{
	WorkerStats *st = arg;
	EbrSlot    *slot = &sslots[NWRITERS + st->id];
	uint64_t	seed = 0xabcdefULL * (uint64_t) (st->id + 1);

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		int			k;

		if (ebr_enter(&sdom, slot) != EBR_OK)
			st->nested_bad++;
		if (st->ops % 64 == 0 && ebr_enter(&sdom, slot) != EBR_NESTED)
			st->nested_bad++;
		for (k = 0; k < 4; k++)
		{
			const Obj  *o;

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			o = __atomic_load_n(&shared_objs[(seed >> 33) % NENTRIES],
								__ATOMIC_ACQUIRE);
			if (!obj_ok(o))
				st->bad++;
			/* dwell a little, then read it again */
			if (k == 0)
				sched_yield();
			if (!obj_ok(o))
				st->bad++;
			st->reads++;
		}
		if (ebr_exit(slot) != EBR_OK)
			st->nested_bad++;
		st->ops++;
	}
	return NULL;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
test_stress(double seconds)
{
	pthread_t	th[NWRITERS + NREADERS];
	WorkerStats st[NWRITERS + NREADERS];
	uint64_t	wops = 0,
				rops = 0,
				reads = 0,
				bad = 0,
				freed = 0,
				freed_live = 0,
				full = 0,
				nested_bad = 0;
	double		t0;
	int			i;

	ebr_init(&sdom, sslots, NWRITERS + NREADERS);
	for (i = 0; i < NENTRIES; i++)
		shared_objs[i] = obj_new();
	memset(st, 0, sizeof(st));
	t0 = now_seconds();
	for (i = 0; i < NWRITERS + NREADERS; i++)
	{
		st[i].id = i < NWRITERS ? i : i - NWRITERS;
		if (pthread_create(&th[i], NULL,
						   i < NWRITERS ? writer_main : reader_main,
						   &st[i]) != 0)
			abort();
	}
	while (now_seconds() - t0 < seconds)
	{
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	/* readers first: the writers' final reclaim waits for readers_done */
	for (i = NWRITERS; i < NWRITERS + NREADERS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&readers_done, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NWRITERS; i++)
		pthread_join(th[i], NULL);

	for (i = 0; i < NWRITERS + NREADERS; i++)
	{
		if (i < NWRITERS)
			wops += st[i].ops;
		else
			rops += st[i].ops;
		reads += st[i].reads;
		bad += st[i].bad;
		freed += st[i].freed;
		freed_live += st[i].freed_live;
		full += st[i].full;
		nested_bad += st[i].nested_bad;
	}
	printf("stress: %.1f s, %d writers, %d readers: %llu replacements, "
		   "%llu freed, %llu full-ring waits, %llu guards, %llu reads, "
		   "%llu damaged, final epoch %llu%s\n",
		   now_seconds() - t0, NWRITERS, NREADERS,
		   (unsigned long long) wops, (unsigned long long) freed,
		   (unsigned long long) full, (unsigned long long) rops,
		   (unsigned long long) reads, (unsigned long long) bad,
		   (unsigned long long) ebr_current(&sdom),
		   broken ? " (BROKEN: horizon ignored)" : "");
	CHECK(bad == 0, "readers found %llu freed or damaged objects",
		  (unsigned long long) bad);
	CHECK(nested_bad == 0, "enter/exit results: %llu unexpected",
		  (unsigned long long) nested_bad);
	CHECK(wops >= 10000, "writers ran: %llu replacements",
		  (unsigned long long) wops);
	/* a low bar: under TSan on a loaded 2-core machine readers got 710 */
	CHECK(rops >= 100, "readers ran: %llu guards", (unsigned long long) rops);
	CHECK(freed_live >= wops / 2,
		  "reclamation kept up while readers ran: %llu of %llu freed",
		  (unsigned long long) freed_live, (unsigned long long) wops);
	CHECK(freed == wops, "every retired object freed: %llu of %llu",
		  (unsigned long long) freed, (unsigned long long) wops);
	for (i = 0; i < NENTRIES; i++)
	{
		CHECK(obj_ok(shared_objs[i]), "final object %d intact", i);
		free(shared_objs[i]);
	}
}

int
main(void)
{
	const char *b = getenv("EBR_TEST_BROKEN");
	const char *s = getenv("EBR_TEST_SECONDS");

	broken = (b != NULL && b[0] == '1');
	test_guards();
	test_retire_reclaim();
	test_ring_oracle();
	test_stress(s ? atof(s) : 3.0);
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
