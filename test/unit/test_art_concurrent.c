/*
 * test_art_concurrent.c
 *	  The ART's write rules under threads: one writer inserts while eight
 *	  readers look keys up and walk ranges with no lock, only an EBR guard
 *	  (src/README "The concurrent tree", src/art_int.h "Concurrency").
 *
 * The writer works in rounds.  A round is a fresh tree and an immutable
 * script made before the round is published: a sorted pool of distinct
 * keys (path-like, random-byte, ascending numbers, 44 bytes per level so
 * that node48s fill up, long keys, keys that are prefixes of others; the
 * arrival order random, ascending or descending)
 * and a list of operations, each adding one TID to one key -- the first
 * creates the key, later ones (about a third of all) give it more TIDs.
 * Operation j's TID encodes j.  After operation j the writer stores
 * published = j + 1 (release).  Blocks the tree retires go to the writer's
 * EBR limbo ring; reclaiming one poisons it (0xdb) and returns it to the
 * arena, where the next allocation reuses it.  At the end of a round the
 * writer runs art_check, publishes the next round and frees the old tree
 * whole once the horizon has passed it.
 *
 * A reader, inside one guard: loads the round and P0 = published, then
 * looks up keys of the pool and probes near them, and walks a random range
 * (either direction, sometimes stopping early).  For each key it finds, the
 * TIDs must be exactly the first m operations on that key, m covering every
 * operation below P0 (the TIDs encode the operations, so none can be made
 * up); each key of the pool whose first operation is below P0 must be
 * found, by lookups and by walks in range; a walk visits pool keys only,
 * in order; a probe that is not a pool key finds nothing.
 *
 * ART_CONC_SECONDS sets the run time (default 10; `make check` passes 3).
 * ART_CONC_BROKEN=1 reclaims retired blocks without waiting for the
 * horizon (rounds are still freed after it): the run must then fail, by
 * the readers' checks or by ASan when a reader follows a poisoned handle
 * out of the arena -- which shows the harness sees a block reused under a
 * reader.  (So far always the latter, 0.5 to 1.1 s into the run.)
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "art.h"
#include "ebr.h"

static long passed;
static long failed;

#define CHECK(cond, ...) \
	do { \
		if (cond) \
			passed++; \
		else \
		{ \
			failed++; \
			printf("FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

#define NREADERS	8
#define LIMBO_CAP	1024
#define ARENA_SIZE	((size_t) 192 << 20)
#define MAX_KEY		600			/* well below the walk's stack buffer */

/* splitmix64 over a caller-held state: each thread has its own. */
static inline uint64_t
rnd(uint64_t *s)
{
	uint64_t	z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t
rndn(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- rounds */

/* One round's tree and script; all but tree and published immutable. */
typedef struct Round
{
	ArtTree		tree;
	uint64_t	published;		/* operations done (release/acquire) */
	uint32_t	nkeys;
	uint8_t    *keybytes;
	uint32_t   *koff;			/* key i: keybytes[koff[i]], klen[i] bytes */
	uint16_t   *klen;			/* keys sorted, distinct */
	uint32_t	nops;
	uint32_t   *op_key;			/* operation j adds TID j to key op_key[j] */
	uint32_t   *kops_off;		/* key i's operations, ascending: */
	uint32_t   *kops;			/* kops[kops_off[i] .. kops_off[i + 1]) */
	uint32_t	serial;
} Round;

/* The TID of operation j. */
static ArtTid
op_tid(uint32_t j)
{
	ArtTid		t;
	uint32_t	v = j + 1;

	t.bi_hi = (uint16_t) (v >> 16);
	t.bi_lo = (uint16_t) v;
	t.offset = (uint16_t) (((v * 2654435761u) >> 16) | 1);
	return t;
}

static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			r = m ? memcmp(a, b, m) : 0;

	if (r != 0)
		return r;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static inline const uint8_t *
rkey(const Round *r, uint32_t i)
{
	return r->keybytes + r->koff[i];
}

/* Building a round: keys in a growable buffer, then sorted. */
typedef struct KeyBuf
{
	uint8_t    *bytes;
	size_t		len,
				cap;
	uint32_t   *off;
	uint16_t   *klen;
	uint32_t	n,
				ncap;
} KeyBuf;

static void
kb_add(KeyBuf *kb, const uint8_t *k, size_t len)
{
	if (kb->bytes == NULL || kb->len + len > kb->cap)
	{
		kb->cap = (kb->cap + len) * 2 + 4096;
		kb->bytes = realloc(kb->bytes, kb->cap);
	}
	if (kb->n == kb->ncap)
	{
		kb->ncap = kb->ncap * 2 + 64;
		kb->off = realloc(kb->off, kb->ncap * sizeof(uint32_t));
		kb->klen = realloc(kb->klen, kb->ncap * sizeof(uint16_t));
	}
	if (!kb->bytes || !kb->off || !kb->klen)
		abort();
	memcpy(kb->bytes + kb->len, k, len);
	kb->off[kb->n] = (uint32_t) kb->len;
	kb->klen[kb->n] = (uint16_t) len;
	kb->len += len;
	kb->n++;
}

static const KeyBuf *sort_kb;

static int
idx_cmp(const void *pa, const void *pb)
{
	uint32_t	a = *(const uint32_t *) pa,
				b = *(const uint32_t *) pb;

	return key_cmp(sort_kb->bytes + sort_kb->off[a], sort_kb->klen[a],
				   sort_kb->bytes + sort_kb->off[b], sort_kb->klen[b]);
}

static const char *const segs[] = {
	"usr", "share", "doc", "lib", "bin", "x86_64-linux-gnu", "python3",
	"dist-packages", "a", "b", "README", "copyright", "changelog.gz",
	"locale", "LC_MESSAGES", "man", "man1", "include", "src", "z"
};

/* One random key of the kind `mode` into k; returns its length. */
static size_t
make_key(uint64_t *s, int mode, uint32_t i, uint8_t *k)
{
	size_t		len = 0;
	int			kind = mode < 5 ? mode : (int) rndn(s, 5);

	switch (kind)
	{
		case 0:					/* path-like */
			{
				int			nseg = 1 + (int) rndn(s, 6);

				while (nseg-- > 0 && len < 200)
				{
					const char *sg = segs[rndn(s, sizeof(segs) / sizeof(segs[0]))];

					k[len++] = '/';
					memcpy(k + len, sg, strlen(sg));
					len += strlen(sg);
					if (rndn(s, 3) == 0)
						len += (size_t) snprintf((char *) k + len, 8, "%u",
												 (unsigned) rndn(s, 300));
				}
				break;
			}
		case 1:					/* random bytes, wide fan-out */
			len = rndn(s, 9);
			for (size_t j = 0; j < len; j++)
				k[j] = (uint8_t) (1 + rndn(s, 255));
			break;
		case 2:					/* numbers (ascending in i) */
			len = (size_t) snprintf((char *) k, 32, "n%09u",
									(unsigned) (i * 7 + rndn(s, 7)));
			break;
		case 3:					/* 44 bytes per level: node48s that fill */
			{
				static const char fan[] =
					"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefgh";

				k[len++] = 'm';
				for (int j = 2 + (int) rndn(s, 3); j > 0; j--)
					k[len++] = (uint8_t) fan[rndn(s, sizeof(fan) - 1)];
				break;
			}
		default:				/* long, sharing long prefixes */
			len = 100 + rndn(s, MAX_KEY - 110);
			memset(k, 'L', len);
			for (int j = 0; j < 3; j++)
				k[rndn(s, len)] = (uint8_t) ('a' + rndn(s, 4));
			break;
	}
	return len;
}

/* A round of about `want` distinct keys, shaped by mode and order. */
static Round *
round_make(uint64_t *s, uint32_t serial)
{
	KeyBuf		kb;
	uint32_t	want = 200 + (uint32_t) rndn(s, 8000);
	int			mode = (int) rndn(s, 7);	/* 0..4 one kind, 5..6 mixed */
	int			order = (int) rndn(s, 4);	/* 0,1 random; 2 asc; 3 desc */
	uint32_t   *idx;
	uint32_t   *perm;
	uint32_t	i,
				n,
				extra,
				inserted,
				j;
	uint8_t		k[MAX_KEY + 8];
	Round	   *r = calloc(1, sizeof(Round));

	memset(&kb, 0, sizeof(kb));
	for (i = 0; i < want; i++)
	{
		size_t		len = make_key(s, mode, i, k);

		kb_add(&kb, k, len);
		/* now and then every proper prefix of a key is a key too */
		if (rndn(s, 50) == 0)
			for (size_t p = 0; p < len && p < 12; p++)
				kb_add(&kb, k, p);
	}

	/* sort and drop duplicates */
	idx = malloc(kb.n * sizeof(uint32_t));
	for (i = 0; i < kb.n; i++)
		idx[i] = i;
	sort_kb = &kb;
	qsort(idx, kb.n, sizeof(uint32_t), idx_cmp);
	r->keybytes = malloc(kb.len + 1);
	r->koff = malloc(kb.n * sizeof(uint32_t));
	r->klen = malloc(kb.n * sizeof(uint16_t));
	n = 0;
	{
		size_t		used = 0;

		for (i = 0; i < kb.n; i++)
		{
			uint32_t	x = idx[i];

			if (n > 0 && key_cmp(r->keybytes + r->koff[n - 1], r->klen[n - 1],
								 kb.bytes + kb.off[x], kb.klen[x]) == 0)
				continue;
			memcpy(r->keybytes + used, kb.bytes + kb.off[x], kb.klen[x]);
			r->koff[n] = (uint32_t) used;
			r->klen[n] = kb.klen[x];
			used += kb.klen[x];
			n++;
		}
	}
	r->nkeys = n;
	free(idx);
	free(kb.bytes);
	free(kb.off);
	free(kb.klen);

	/* arrival order of new keys */
	perm = malloc(n * sizeof(uint32_t));
	for (i = 0; i < n; i++)
		perm[i] = order == 3 ? n - 1 - i : i;
	if (order < 2)
		for (i = n; i > 1; i--)
		{
			uint32_t	x = (uint32_t) rndn(s, i),
						t = perm[i - 1];

			perm[i - 1] = perm[x];
			perm[x] = t;
		}

	/* operations: each new key once, and extra TIDs for keys already in */
	extra = n / 2 + 1;
	r->op_key = malloc((size_t) (n + extra) * sizeof(uint32_t));
	r->nops = 0;
	inserted = 0;
	while (inserted < n || extra > 0)
	{
		bool		more = inserted > 0 && extra > 0 &&
			(inserted == n || rndn(s, 3) == 0);

		if (more)
		{
			/* a few keys get many TIDs: leaves with spare capacity */
			uint32_t	x = rndn(s, 4) == 0 ? perm[rndn(s, inserted < 8 ? inserted : 8)]
				: perm[rndn(s, inserted)];

			r->op_key[r->nops++] = x;
			extra--;
		}
		else
			r->op_key[r->nops++] = perm[inserted++];
	}
	free(perm);

	/* each key's operations, ascending */
	r->kops_off = calloc((size_t) n + 1, sizeof(uint32_t));
	r->kops = malloc((size_t) r->nops * sizeof(uint32_t));
	for (j = 0; j < r->nops; j++)
		r->kops_off[r->op_key[j] + 1]++;
	for (i = 0; i < n; i++)
		r->kops_off[i + 1] += r->kops_off[i];
	{
		uint32_t   *fill = malloc(((size_t) n + 1) * sizeof(uint32_t));

		memcpy(fill, r->kops_off, ((size_t) n + 1) * sizeof(uint32_t));
		for (j = 0; j < r->nops; j++)
			r->kops[fill[r->op_key[j]]++] = j;
		free(fill);
	}
	r->serial = serial;
	return r;
}

static void
round_free(Round *r)
{
	free(r->keybytes);
	free(r->koff);
	free(r->klen);
	free(r->op_key);
	free(r->kops_off);
	free(r->kops);
	free(r);
}

/* ------------------------------------------------------------ the checks */

typedef struct ReaderStats
{
	int			id;
	uint64_t	guards;
	uint64_t	lookups;
	uint64_t	probes_absent;
	uint64_t	walks;
	uint64_t	walked;
	uint64_t	bad;			/* check failures */
	char		first[200];		/* the first failure */
	double		first_at;		/* and when, in seconds from the start */
} ReaderStats;

static double t_start;

static void
reader_fail(ReaderStats *st, const char *what, const Round *r, uint32_t key)
{
	if (st->bad++ == 0)
	{
		snprintf(st->first, sizeof(st->first), "%s (round %u, key %u of %u)",
				 what, r->serial, key, r->nkeys);
		st->first_at = now_seconds() - t_start;
	}
}

/* Number of entries of the ascending list below `bound`. */
static uint32_t
count_below(const uint32_t *list, uint32_t n, uint64_t bound)
{
	uint32_t	lo = 0,
				hi = n;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (list[mid] < bound)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Key `key` was found (ntids TIDs at tids) or not (ntids 0): check it
 * against the script, given P0 (published when the guard began).  The
 * reader loads nothing of the writer's here: its only synchronization with
 * the writer is through the tree's own words (and the guard), so TSan sees
 * any read of the tree that the write rules do not order.
 */
static void
check_found(ReaderStats *st, const Round *r, uint32_t key, uint64_t p0,
			const ArtTid *tids, uint32_t ntids)
{
	const uint32_t *ops = r->kops + r->kops_off[key];
	uint32_t	nops = r->kops_off[key + 1] - r->kops_off[key];
	uint32_t	need = count_below(ops, nops, p0);
	uint32_t	i;

	if (ntids < need)
	{
		reader_fail(st, "a key's TIDs published before the guard are missing",
					r, key);
		return;
	}
	if (ntids > nops)
	{
		reader_fail(st, "more TIDs than were ever inserted", r, key);
		return;
	}
	for (i = 0; i < ntids; i++)
	{
		ArtTid		want = op_tid(ops[i]);

		if (memcmp((const uint8_t *) tids + (size_t) 6 * i, &want, 6) != 0)
		{
			reader_fail(st, "a TID that was not inserted there", r, key);
			return;
		}
	}
}

/* Was key i in the tree, with at least one TID, when P0 was loaded? */
static inline bool
key_needed(const Round *r, uint32_t i, uint64_t p0)
{
	return r->kops[r->kops_off[i]] < p0;
}

/* Binary search of the pool: index of key, or -1. */
static int64_t
pool_find(const Round *r, const uint8_t *k, size_t len)
{
	uint32_t	lo = 0,
				hi = r->nkeys;

	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;
		int			c = key_cmp(rkey(r, mid), r->klen[mid], k, len);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

typedef struct WalkCheck
{
	ReaderStats *st;
	const Round *r;
	uint64_t	p0;
	bool		backward;
	int64_t		cur;			/* next pool index the walk may visit */
	int64_t		end;			/* one past the last in range (backward: -1) */
	uint32_t	limit;
	uint32_t	visited;
	bool		broke;
} WalkCheck;

static bool
walk_visit(const uint8_t *key, size_t keylen, const ArtTid *tids,
		   uint32_t ntids, void *arg)
{
	WalkCheck  *w = arg;
	int			step = w->backward ? -1 : 1;

	for (;;)
	{
		int			c;

		if (w->cur == w->end)
		{
			reader_fail(w->st, "walk visited a key out of range or unknown",
						w->r, 0);
			w->broke = true;
			return false;
		}
		c = key_cmp(rkey(w->r, (uint32_t) w->cur), w->r->klen[w->cur],
					key, keylen);
		if (c == 0)
			break;
		if ((c > 0) != w->backward)
		{
			/* the pool's next key in walk order is past the visited one */
			reader_fail(w->st, "walk visited an unknown key or went back",
						w->r, (uint32_t) w->cur);
			w->broke = true;
			return false;
		}
		if (key_needed(w->r, (uint32_t) w->cur, w->p0))
		{
			reader_fail(w->st, "walk skipped a key published before the guard",
						w->r, (uint32_t) w->cur);
			w->broke = true;
			return false;
		}
		w->cur += step;
	}
	if (ntids == 0)
		reader_fail(w->st, "walk visited a key without TIDs", w->r,
					(uint32_t) w->cur);
	check_found(w->st, w->r, (uint32_t) w->cur, w->p0, tids, ntids);
	w->cur += step;
	w->visited++;
	return w->visited < w->limit;
}

/* A walk over a random range of the pool, checked against it. */
static void
reader_walk(ReaderStats *st, const Round *r, const ArtAllocator *a,
			uint64_t p0, uint64_t *s)
{
	uint32_t	x = (uint32_t) rndn(s, r->nkeys),
				y = (uint32_t) rndn(s, r->nkeys);
	ArtBound	lo,
				hi;
	bool		use_lo = rndn(s, 4) != 0,
				use_hi = rndn(s, 4) != 0;
	int64_t		first,
				last;
	WalkCheck	w;

	if (x > y)
	{
		uint32_t	t = x;

		x = y;
		y = t;
	}
	if (y - x > 3000 && rndn(s, 8) != 0)
		y = x + 3000;			/* most walks short: guards stay brief */
	lo.key = rkey(r, x);
	lo.len = r->klen[x];
	lo.inclusive = rndn(s, 2) == 0;
	hi.key = rkey(r, y);
	hi.len = r->klen[y];
	hi.inclusive = rndn(s, 2) == 0;
	first = use_lo ? (int64_t) x + (lo.inclusive ? 0 : 1) : 0;
	last = use_hi ? (int64_t) y - (hi.inclusive ? 0 : 1) : (int64_t) r->nkeys - 1;

	memset(&w, 0, sizeof(w));
	w.st = st;
	w.r = r;
	w.p0 = p0;
	w.backward = rndn(s, 2) == 0;
	w.cur = w.backward ? last : first;
	w.end = w.backward ? first - 1 : last + 1;
	w.limit = rndn(s, 3) == 0 ? 1 + (uint32_t) rndn(s, 50) : UINT32_MAX;
	if (first > last)
		w.cur = w.end;			/* empty range: nothing may be visited */
	art_walk(&r->tree, a, use_lo ? &lo : NULL, use_hi ? &hi : NULL,
			 w.backward, walk_visit, &w);
	st->walks++;
	st->walked += w.visited;
	if (w.broke || w.visited >= w.limit)
		return;
	/* the walk ended: nothing needed may remain in range */
	for (; w.cur != w.end; w.cur += w.backward ? -1 : 1)
		if (key_needed(r, (uint32_t) w.cur, p0))
		{
			reader_fail(st, "walk ended before a key published before the guard",
						r, (uint32_t) w.cur);
			return;
		}
}

/* --------------------------------------------------------------- threads */

static EbrDomain dom __attribute__((aligned(64)));
static EbrSlot slots[1 + NREADERS] __attribute__((aligned(64)));
static Round *cur_round;		/* release/acquire */
static int	stop;
static int	readers_done;
static int	broken;
static void *arena;

/* The writer's allocator context (only the writer allocates or frees). */
typedef struct WriterCtx
{
	EbrLimbo	limbo;
	EbrLimboItem items[LIMBO_CAP];
	uint64_t	retired;
	uint64_t	reclaimed;
	uint64_t	full;
	uint64_t	ops;
	uint64_t	rounds;
	uint64_t	bad;
	char		first[200];
} WriterCtx;

static ArenaPtr
w_alloc(void *arg, size_t size)
{
	(void) arg;
	return arena_alloc(arena, size);
}

static void
w_free(void *arg, ArenaPtr p, size_t size)
{
	(void) arg;
	arena_free(arena, p, size);
}

/* Reclaim: poison the block, then give it back to the arena for reuse. */
static void
w_reclaim(void *arg, uint64_t obj, uint64_t size)
{
	WriterCtx  *w = arg;

	memset(ARENA_ADDR(arena, (ArenaPtr) obj), 0xdb, (size_t) size);
	arena_free(arena, (ArenaPtr) obj, (size_t) size);
	w->reclaimed++;
}

static uint64_t
w_horizon(void)
{
	return broken ? ebr_current(&dom) + 1 : ebr_horizon(&dom);
}

/* The tree's retire callback: into the limbo ring, draining it now and then. */
static void
w_retire(void *arg, ArenaPtr p, size_t size)
{
	WriterCtx  *w = arg;
	uint64_t	e = ebr_retire_epoch(&dom);

	while (ebr_retire(&w->limbo, p, size, e) == EBR_FULL)
	{
		w->full++;
		ebr_advance(&dom);
		if (ebr_reclaim(&w->limbo, w_horizon(), w_reclaim, w) == 0)
			sched_yield();
	}
	if (++w->retired % 64 == 0)
	{
		ebr_advance(&dom);
		ebr_reclaim(&w->limbo, w_horizon(), w_reclaim, w);
	}
}

static void
writer_fail(WriterCtx *w, const char *what)
{
	if (w->bad++ == 0)
		snprintf(w->first, sizeof(w->first), "%s", what);
}

/* Wait until no guard can see what was unlinked before this call. */
static void
wait_for_readers(void)
{
	uint64_t	e = ebr_retire_epoch(&dom);

	ebr_advance(&dom);
	while (ebr_horizon(&dom) <= e)
		sched_yield();
}

static void *
writer_main(void *arg)
{
	WriterCtx  *w = arg;
	ArtAllocator a;
	uint64_t	s = 0x5eed0001ULL;
	Round	   *r = round_make(&s, 0);
	char		errbuf[200];

	memset(&a, 0, sizeof(a));
	a.base = arena;
	a.alloc = w_alloc;
	a.free = w_free;
	a.retire = w_retire;
	a.arg = w;
	ebr_limbo_init(&w->limbo, w->items, LIMBO_CAP);
	__atomic_store_n(&cur_round, r, __ATOMIC_RELEASE);

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		Round	   *next;
		uint32_t	j;

		for (j = 0; j < r->nops && !__atomic_load_n(&stop, __ATOMIC_RELAXED); j++)
		{
			uint32_t	k = r->op_key[j];
			ArtTid		tid = op_tid(j);

			if (art_insert(&r->tree, &a, rkey(r, k), r->klen[k], &tid) != ART_OK)
			{
				writer_fail(w, "art_insert failed (arena too small?)");
				__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
				break;
			}
			__atomic_store_n(&r->published, (uint64_t) j + 1, __ATOMIC_RELEASE);
			w->ops++;
		}
		if (j < r->nops)
			break;
		if (!art_check(&r->tree, &a, ARENA_SIZE, errbuf, sizeof(errbuf)))
			writer_fail(w, errbuf);
		if (r->tree.nkeys != r->nkeys || r->tree.ntids != r->nops)
			writer_fail(w, "tree counts differ from the script");
		w->rounds++;

		/* the next round replaces this one; free it whole after the horizon */
		next = round_make(&s, r->serial + 1);
		__atomic_store_n(&cur_round, next, __ATOMIC_RELEASE);
		wait_for_readers();
		art_free_all(&r->tree, &a);
		round_free(r);
		r = next;
	}

	/* readers gone: everything is free */
	while (!__atomic_load_n(&readers_done, __ATOMIC_ACQUIRE))
		sched_yield();
	ebr_advance(&dom);
	ebr_reclaim(&w->limbo, UINT64_MAX, w_reclaim, w);
	art_free_all(&r->tree, &a);
	round_free(r);
	return NULL;
}

static void *
reader_main(void *arg)
{
	ReaderStats *st = arg;
	EbrSlot    *slot = &slots[1 + st->id];
	uint64_t	s = 0xabcdef12ULL * (uint64_t) (st->id + 1);
	ArtAllocator a;

	/* readers never allocate: keys stay within the walk's stack buffer */
	memset(&a, 0, sizeof(a));
	a.base = arena;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		const Round *r;
		uint64_t	p0;
		int			i;

		if (ebr_enter(&dom, slot) != EBR_OK)
			abort();
		r = __atomic_load_n(&cur_round, __ATOMIC_ACQUIRE);
		p0 = __atomic_load_n(&r->published, __ATOMIC_ACQUIRE);

		for (i = 0; i < 16; i++)
		{
			uint32_t	k = (uint32_t) rndn(&s, r->nkeys);
			const ArtTid *tids;
			uint32_t	n;

			/* a key of the pool: recently published ones more often */
			if (p0 > 0 && rndn(&s, 2) == 0)
				k = r->op_key[p0 - 1 - rndn(&s, p0 < 64 ? p0 : 64)];
			n = art_lookup(&r->tree, &a, rkey(r, k), r->klen[k], &tids);
			check_found(st, r, k, p0, tids, n);
			st->lookups++;

			/* a probe next to it: a pool key or nothing */
			{
				uint8_t		probe[MAX_KEY + 2];
				size_t		plen = r->klen[k];
				int64_t		pk;

				memcpy(probe, rkey(r, k), plen);
				if (plen > 0 && rndn(&s, 2) == 0)
					plen--;
				else
					probe[plen++] = (uint8_t) (1 + rndn(&s, 255));
				n = art_lookup(&r->tree, &a, probe, plen, &tids);
				pk = pool_find(r, probe, plen);
				if (pk >= 0)
					check_found(st, r, (uint32_t) pk, p0, tids, n);
				else if (n != 0)
					reader_fail(st, "a key never inserted was found", r, k);
				else
					st->probes_absent++;
			}
		}
		if (rndn(&s, 4) == 0)
			reader_walk(st, r, &a, p0, &s);

		if (ebr_exit(slot) != EBR_OK)
			abort();
		st->guards++;
	}
	return NULL;
}

static void
test_stress(double seconds)
{
	pthread_t	wt,
				rt[NREADERS];
	WriterCtx  *w = calloc(1, sizeof(WriterCtx));
	ReaderStats rs[NREADERS];
	uint64_t	guards = 0,
				lookups = 0,
				absent = 0,
				walks = 0,
				walked = 0,
				bad = 0;
	double		t0;
	int			i;

	arena = aligned_alloc(64, ARENA_SIZE);
	if (arena == NULL || w == NULL)
		abort();
	arena_init(arena, ARENA_SIZE);
	ebr_init(&dom, slots, 1 + NREADERS);
	memset(rs, 0, sizeof(rs));

	t0 = t_start = now_seconds();
	if (pthread_create(&wt, NULL, writer_main, w) != 0)
		abort();
	while (__atomic_load_n(&cur_round, __ATOMIC_ACQUIRE) == NULL)
		sched_yield();
	for (i = 0; i < NREADERS; i++)
	{
		rs[i].id = i;
		if (pthread_create(&rt[i], NULL, reader_main, &rs[i]) != 0)
			abort();
	}
	while (now_seconds() - t0 < seconds &&
		   !__atomic_load_n(&stop, __ATOMIC_RELAXED))
	{
		struct timespec ts = {0, 50 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < NREADERS; i++)
		pthread_join(rt[i], NULL);
	__atomic_store_n(&readers_done, 1, __ATOMIC_RELEASE);
	pthread_join(wt, NULL);

	for (i = 0; i < NREADERS; i++)
	{
		guards += rs[i].guards;
		lookups += rs[i].lookups;
		absent += rs[i].probes_absent;
		walks += rs[i].walks;
		walked += rs[i].walked;
		bad += rs[i].bad;
		if (rs[i].bad)
			printf("reader %d: %llu failures, first at %.3f s: %s\n", i,
				   (unsigned long long) rs[i].bad, rs[i].first_at, rs[i].first);
	}
	printf("art concurrent: %.1f s, 1 writer, %d readers%s: %llu inserts in "
		   "%llu rounds, %llu blocks retired, %llu reclaimed, %llu full-ring "
		   "waits; %llu guards, %llu lookups, %llu absent probes, %llu walks "
		   "visiting %llu keys; %llu reader failures\n",
		   now_seconds() - t0, NREADERS,
		   broken ? " (BROKEN: horizon ignored)" : "",
		   (unsigned long long) w->ops, (unsigned long long) w->rounds,
		   (unsigned long long) w->retired, (unsigned long long) w->reclaimed,
		   (unsigned long long) w->full, (unsigned long long) guards,
		   (unsigned long long) lookups, (unsigned long long) absent,
		   (unsigned long long) walks, (unsigned long long) walked,
		   (unsigned long long) bad);

	CHECK(bad == 0, "readers saw %llu wrong answers", (unsigned long long) bad);
	CHECK(w->bad == 0, "writer: %s", w->first);
	CHECK(w->rounds >= 1, "writer finished %llu rounds",
		  (unsigned long long) w->rounds);
	/* low bars: under CPU load the writer once made 7,980 inserts */
	CHECK(w->ops >= 1000, "writer ran: %llu inserts", (unsigned long long) w->ops);
	CHECK(guards >= 100 && walks >= 10, "readers ran: %llu guards, %llu walks",
		  (unsigned long long) guards, (unsigned long long) walks);
	CHECK(w->retired >= 100 && w->reclaimed == w->retired,
		  "every retired block reclaimed: %llu of %llu",
		  (unsigned long long) w->reclaimed, (unsigned long long) w->retired);
	CHECK(arena_bytes_used(arena) == 0, "arena empty at the end: %zu bytes",
		  arena_bytes_used(arena));
	free(arena);
	free(w);
}

int
main(void)
{
	const char *b = getenv("ART_CONC_BROKEN");
	const char *s = getenv("ART_CONC_SECONDS");

	setvbuf(stdout, NULL, _IOLBF, 0);
	broken = (b != NULL && b[0] == '1');
	test_stress(s ? atof(s) : 10.0);
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
