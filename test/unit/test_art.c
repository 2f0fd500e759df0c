/*
 * test_art.c
 *	  Unit tests of the Adaptive Radix Tree (src/art*.c), checked against a
 *	  sorted-array model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "art.h"

static int	n_pass;
static int	n_fail;
static const char *cur_test;
static int	cur_failed;

#define CHECK(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: %s: CHECK(%s) failed\n", \
					__FILE__, __LINE__, cur_test, #cond); \
			cur_failed = 1; \
			return; \
		} \
	} while (0)

/* For helpers that return bool: report and return false. */
#define EXPECT(cond) \
	do { \
		if (!(cond)) \
		{ \
			fprintf(stderr, "%s:%d: %s: EXPECT(%s) failed\n", \
					__FILE__, __LINE__, cur_test, #cond); \
			return false; \
		} \
	} while (0)

static void
run(const char *name, void (*fn) (void))
{
	struct timespec t0,
				t1;

	cur_test = name;
	cur_failed = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fn();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (cur_failed)
		n_fail++;
	else
		n_pass++;
	printf("%s %s (%.2f s)\n", cur_failed ? "FAIL" : "ok", name,
		   (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	fflush(stdout);
}

static uint64_t rng_state = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ------------------------------------------------------------ allocator */

/*
 * An arena allocator that can be told to fail after N more allocations,
 * and that checks that every free passes the size given to alloc.
 */
typedef struct TestAlloc
{
	void	   *base;
	size_t		size;
	uint32_t   *sizes;			/* per unit: size+1 of an allocation there */
	long		fail_after;		/* -1: never */
	long		nallocs;
} TestAlloc;

static ArenaPtr
t_alloc(void *arg, size_t size)
{
	TestAlloc  *t = arg;
	ArenaPtr	p;

	if (t->fail_after >= 0)
	{
		if (t->fail_after == 0)
			return ARENA_NULL;
		t->fail_after--;
	}
	p = arena_alloc(t->base, size);
	if (p != ARENA_NULL)
	{
		if (t->sizes[p] != 0)
		{
			fprintf(stderr, "allocator handed out live block %u\n", p);
			abort();
		}
		t->sizes[p] = (uint32_t) size + 1;
		t->nallocs++;
	}
	return p;
}

static void
t_free(void *arg, ArenaPtr p, size_t size)
{
	TestAlloc  *t = arg;

	if (p == ARENA_NULL || t->sizes[p] != (uint32_t) size + 1)
	{
		fprintf(stderr, "free of %u with size %zu, allocated with %u\n",
				p, size, p ? t->sizes[p] - 1 : 0);
		abort();
	}
	t->sizes[p] = 0;
	arena_free(t->base, p, size);
}

typedef struct Env
{
	TestAlloc	t;
	ArtAllocator a;
	ArtTree		tree;
} Env;

static Env *
env_new(size_t size)
{
	Env		   *e = calloc(1, sizeof(Env));

	e->t.base = aligned_alloc(8, size);
	e->t.size = size;
	e->t.sizes = calloc(size / 8, sizeof(uint32_t));
	e->t.fail_after = -1;
	if (!e->t.base || !e->t.sizes)
		abort();
	arena_init(e->t.base, size);
	e->a.base = e->t.base;
	e->a.alloc = t_alloc;
	e->a.free = t_free;
	e->a.arg = &e->t;
	return e;
}

static void
env_free(Env *e)
{
	free(e->t.base);
	free(e->t.sizes);
	free(e);
}

static bool
env_check(Env *e)
{
	char		err[256];

	if (!art_check(&e->tree, &e->a, e->t.size, err, sizeof(err)))
	{
		fprintf(stderr, "%s: art_check: %s\n", cur_test, err);
		return false;
	}
	if (e->tree.bytes != arena_bytes_used(e->t.base))
	{
		fprintf(stderr, "%s: tree bytes %llu, arena used %zu\n", cur_test,
				(unsigned long long) e->tree.bytes, arena_bytes_used(e->t.base));
		return false;
	}
	return true;
}

static ArtTid
mktid(uint32_t i)
{
	ArtTid		t;

	t.bi_hi = (uint16_t) (i >> 16);
	t.bi_lo = (uint16_t) i;
	t.offset = (uint16_t) (i % 291 + 1);
	return t;
}

static uint32_t
tid_num(const ArtTid *unaligned)
{
	ArtTid		t;

	memcpy(&t, unaligned, sizeof(t));
	return ((uint32_t) t.bi_hi << 16) | t.bi_lo;
}

static ArtResult
ins(Env *e, const char *key, size_t len, uint32_t tidnum)
{
	ArtTid		t = mktid(tidnum);

	return art_insert(&e->tree, &e->a, (const uint8_t *) key, len, &t);
}

/* ----------------------------------------------------------------- model */

typedef struct MKey
{
	uint8_t    *key;
	size_t		len;
	uint32_t   *tids;
	uint32_t	ntids;
	uint32_t	cap;
} MKey;

typedef struct Model
{
	MKey	   *k;
	size_t		n;
	size_t		cap;
} Model;

static int
cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			r = m ? memcmp(a, b, m) : 0;

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* Index of the first key >= key. */
static size_t
model_lb(const Model *m, const uint8_t *key, size_t len)
{
	size_t		lo = 0,
				hi = m->n;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (cmp_bytes(m->k[mid].key, m->k[mid].len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
model_insert(Model *m, const uint8_t *key, size_t len, uint32_t tid)
{
	size_t		i = model_lb(m, key, len);
	MKey	   *k;

	if (i == m->n || cmp_bytes(m->k[i].key, m->k[i].len, key, len) != 0)
	{
		if (m->n == m->cap)
		{
			m->cap = m->cap ? m->cap * 2 : 64;
			m->k = realloc(m->k, m->cap * sizeof(MKey));
		}
		memmove(&m->k[i + 1], &m->k[i], (m->n - i) * sizeof(MKey));
		m->n++;
		k = &m->k[i];
		memset(k, 0, sizeof(*k));
		k->key = malloc(len + 1);
		memcpy(k->key, key, len);
		k->len = len;
	}
	k = &m->k[i];
	if (k->ntids == k->cap)
	{
		k->cap = k->cap ? k->cap * 2 : 2;
		k->tids = realloc(k->tids, k->cap * sizeof(uint32_t));
	}
	k->tids[k->ntids++] = tid;
}

static void
model_free(Model *m)
{
	size_t		i;

	for (i = 0; i < m->n; i++)
	{
		free(m->k[i].key);
		free(m->k[i].tids);
	}
	free(m->k);
	memset(m, 0, sizeof(*m));
}

static uint64_t
model_ntids(const Model *m)
{
	uint64_t	s = 0;
	size_t		i;

	for (i = 0; i < m->n; i++)
		s += m->k[i].ntids;
	return s;
}

/* Dead-TID predicate shared by the tree and the model. */
typedef struct Pred
{
	uint32_t	mod;
	uint32_t	rem;
} Pred;

static bool
pred_dead_num(uint32_t n, const Pred *p)
{
	return ((n * 2654435761u) >> 7) % p->mod == p->rem;
}

static bool
pred_dead(const ArtTid *tid, void *arg)
{
	return pred_dead_num(tid_num(tid), arg);
}

static uint64_t
model_delete(Model *m, const Pred *p)
{
	size_t		i,
				j = 0;
	uint64_t	removed = 0;

	for (i = 0; i < m->n; i++)
	{
		MKey	   *k = &m->k[i];
		uint32_t	t,
					kept = 0;

		for (t = 0; t < k->ntids; t++)
			if (!pred_dead_num(k->tids[t], p))
				k->tids[kept++] = k->tids[t];
		removed += k->ntids - kept;
		k->ntids = kept;
		if (kept == 0)
		{
			free(k->key);
			free(k->tids);
			continue;
		}
		m->k[j++] = *k;
	}
	m->n = j;
	return removed;
}

/* Every model key found with the same TIDs in the same order; counts agree. */
static bool
compare_lookup(Env *e, const Model *m)
{
	size_t		i;

	EXPECT(e->tree.nkeys == m->n);
	EXPECT(e->tree.ntids == model_ntids(m));
	for (i = 0; i < m->n; i++)
	{
		const ArtTid *tids;
		uint32_t	n = art_lookup(&e->tree, &e->a, m->k[i].key, m->k[i].len, &tids);
		uint32_t	t;

		EXPECT(n == m->k[i].ntids);
		for (t = 0; t < n; t++)
			EXPECT(tid_num((const ArtTid *) ((const char *) tids + 6 * t)) == m->k[i].tids[t]);
	}
	return true;
}

/* ------------------------------------------------------------------ walks */

typedef struct Collect
{
	size_t		n;
	size_t		limit;			/* stop after this many (0: no limit) */
	const Model *m;
	size_t	   *expect;			/* model indexes in visit order */
	size_t		nexpect;
	bool		bad;
} Collect;

static bool
collect_visit(const uint8_t *key, size_t keylen, const ArtTid *tids,
			  uint32_t ntids, void *arg)
{
	Collect    *c = arg;
	const MKey *k;

	if (c->n >= c->nexpect)
	{
		fprintf(stderr, "walk visited more keys than expected\n");
		c->bad = true;
		return false;
	}
	k = &c->m->k[c->expect[c->n]];
	if (cmp_bytes(key, keylen, k->key, k->len) != 0 || ntids != k->ntids ||
		tid_num(tids) != k->tids[0] ||
		tid_num((const ArtTid *) ((const char *) tids + 6 * (ntids - 1))) != k->tids[ntids - 1])
	{
		fprintf(stderr, "walk visit %zu: key/tids differ (len %zu vs %zu)\n",
				c->n, keylen, k->len);
		c->bad = true;
		return false;
	}
	c->n++;
	return c->limit == 0 || c->n < c->limit;
}

static bool
in_bounds(const MKey *k, const ArtBound *lo, const ArtBound *hi)
{
	if (lo)
	{
		int			r = cmp_bytes(k->key, k->len, lo->key, lo->len);

		if (r < 0 || (r == 0 && !lo->inclusive))
			return false;
	}
	if (hi)
	{
		int			r = cmp_bytes(k->key, k->len, hi->key, hi->len);

		if (r > 0 || (r == 0 && !hi->inclusive))
			return false;
	}
	return true;
}

static bool
compare_walk(Env *e, const Model *m, const ArtBound *lo, const ArtBound *hi,
			 bool backward, size_t limit)
{
	Collect		c;
	size_t		i;

	memset(&c, 0, sizeof(c));
	c.m = m;
	c.limit = limit;
	c.expect = malloc((m->n + 1) * sizeof(size_t));
	for (i = 0; i < m->n; i++)
	{
		size_t		j = backward ? m->n - 1 - i : i;

		if (in_bounds(&m->k[j], lo, hi))
			c.expect[c.nexpect++] = j;
	}
	art_walk(&e->tree, &e->a, lo, hi, backward, collect_visit, &c);
	free(c.expect);
	EXPECT(!c.bad);
	EXPECT(c.n == (limit && limit < c.nexpect ? limit : c.nexpect));
	return true;
}

/* A bound near the model's keys: a key, a prefix or an extension of one, or random. */
static void
random_bound(const Model *m, uint8_t *buf, size_t *len, const char *alpha)
{
	size_t		alen = strlen(alpha);
	int			kind = (int) (rnd() % 5);

	if (m->n == 0 || kind == 4)
	{
		size_t		i;

		*len = rnd() % 7;
		for (i = 0; i < *len; i++)
			buf[i] = (uint8_t) alpha[rnd() % alen];
		return;
	}
	{
		const MKey *k = &m->k[rnd() % m->n];

		memcpy(buf, k->key, k->len);
		*len = k->len;
		if (kind == 1 && *len > 0)
			*len = rnd() % *len;	/* proper prefix */
		else if (kind == 2)
			buf[(*len)++] = (uint8_t) alpha[rnd() % alen];	/* extension */
		else if (kind == 3 && *len > 0)
			buf[*len - 1] = (uint8_t) (buf[*len - 1] + (rnd() % 2 ? 1 : -1));
		if (*len > 0 && buf[*len - 1] == 0)
			buf[*len - 1] = 1;
	}
}

static bool
random_walks(Env *e, const Model *m, int n, const char *alpha)
{
	uint8_t		lobuf[512],
				hibuf[512];
	int			i;

	for (i = 0; i < n; i++)
	{
		ArtBound	lo,
					hi;
		int			which = (int) (rnd() % 4);

		random_bound(m, lobuf, &lo.len, alpha);
		random_bound(m, hibuf, &hi.len, alpha);
		lo.key = lobuf;
		hi.key = hibuf;
		lo.inclusive = rnd() % 2;
		hi.inclusive = rnd() % 2;
		if (!compare_walk(e, m, (which & 1) ? &lo : NULL, (which & 2) ? &hi : NULL,
						  rnd() % 2, rnd() % 4 == 0 ? 1 + rnd() % 5 : 0))
			return false;
	}
	return true;
}

/*
 * A bound near model key i: the key itself, a proper prefix of it, an
 * extension, or the key with its last byte one higher or lower.
 */
static void
bound_near(const Model *m, size_t i, uint8_t *buf, size_t *len)
{
	const MKey *k = &m->k[i];
	int			kind = (int) (rnd() % 6);

	memcpy(buf, k->key, k->len);
	*len = k->len;
	if (kind == 1 && *len > 0)
		*len = rnd() % *len;
	else if (kind == 2)
		buf[(*len)++] = (uint8_t) (1 + rnd() % 255);
	else if (kind == 3 && *len > 0 && buf[*len - 1] < 255)
		buf[*len - 1]++;
	else if (kind == 4 && *len > 0 && buf[*len - 1] > 1)
		buf[*len - 1]--;
}

/*
 * Short ranges between nearby keys, as a range batch's bounded walk of a
 * delta tree has (a start key and the key where the runs stopped): both
 * bounds share a long prefix, so the walk descends one child at a time
 * before the range opens; also lower == upper, and lower past upper.
 */
static bool
narrow_walks(Env *e, const Model *m, int n)
{
	uint8_t		lobuf[600],
				hibuf[600];
	int			i;

	for (i = 0; i < n && m->n > 0; i++)
	{
		ArtBound	lo,
					hi;
		size_t		a = rnd() % m->n;
		size_t		b = a + rnd() % 40;
		int			kind = (int) (rnd() % 8);

		if (b >= m->n)
			b = m->n - 1;
		if (kind == 0)
			b = a;				/* one key, or an empty range */
		else if (kind == 1)
		{
			size_t		t = a;	/* lower past upper: nothing */

			a = b;
			b = t;
		}
		bound_near(m, a, lobuf, &lo.len);
		if (kind == 0 && rnd() % 2)
		{
			memcpy(hibuf, lobuf, lo.len);
			hi.len = lo.len;
		}
		else
			bound_near(m, b, hibuf, &hi.len);
		lo.key = lobuf;
		hi.key = hibuf;
		lo.inclusive = rnd() % 4 != 0;
		hi.inclusive = rnd() % 4 != 0;
		if (!compare_walk(e, m, &lo, &hi, rnd() % 2,
						  rnd() % 4 == 0 ? 1 + rnd() % 5 : 0))
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ tests */

static void
test_empty_tree(void)
{
	Env		   *e = env_new(1 << 16);
	Model		m = {0};
	const ArtTid *tids;

	CHECK(art_lookup(&e->tree, &e->a, (const uint8_t *) "", 0, &tids) == 0);
	CHECK(tids == NULL);
	CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
	CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &(Pred) {1, 0}) == 0);
	CHECK(env_check(e));
	art_free_all(&e->tree, &e->a);
	CHECK(env_check(e));
	env_free(e);
}

static void
test_bad_keys(void)
{
	Env		   *e = env_new(1 << 20);
	static char big[ART_MAX_KEY_LEN + 2];

	memset(big, 'x', sizeof(big));
	CHECK(ins(e, "a\0b", 3, 1) == ART_BAD_KEY);
	CHECK(ins(e, "\0", 1, 1) == ART_BAD_KEY);
	CHECK(ins(e, big, ART_MAX_KEY_LEN + 1, 1) == ART_BAD_KEY);
	CHECK(e->tree.nkeys == 0 && e->tree.root == ARENA_NULL);
	/* the empty key given as NULL */
	CHECK(art_insert(&e->tree, &e->a, NULL, 0, &(ArtTid) {0, 1, 1}) == ART_OK);
	{
		const ArtTid *t;
		ArtBound	b = {NULL, 0, true};
		Model		m = {0};

		CHECK(art_lookup(&e->tree, &e->a, NULL, 0, &t) == 1);
		model_insert(&m, (const uint8_t *) "", 0, 1);
		CHECK(compare_walk(e, &m, &b, &b, false, 0));
		model_free(&m);
	}
	CHECK(ins(e, big, ART_MAX_KEY_LEN, 1) == ART_OK);
	CHECK(ins(e, big, ART_MAX_KEY_LEN - 1, 2) == ART_OK);
	CHECK(env_check(e));
	art_free_all(&e->tree, &e->a);
	CHECK(arena_bytes_used(e->t.base) == 0);
	env_free(e);
}

/* All 720 insertion orders of keys that are prefixes of each other. */
static void
test_prefix_keys(void)
{
	static const char *keys[] = {"", "a", "ab", "abc", "abd", "b"};
	int			perm[6];
	int			count = 0;
	int			p;

	for (p = 0; p < 720; p++)
	{
		Env		   *e = env_new(1 << 16);
		Model		m = {0};
		int			used[6] = {0};
		int			i,
					r = p;

		for (i = 0; i < 6; i++)
		{
			int			k = r % (6 - i),
						j;

			r /= 6 - i;
			for (j = 0; j < 6; j++)
				if (!used[j] && k-- == 0)
					break;
			used[j] = 1;
			perm[i] = j;
		}
		for (i = 0; i < 6; i++)
		{
			CHECK(ins(e, keys[perm[i]], strlen(keys[perm[i]]), perm[i]) == ART_OK);
			model_insert(&m, (const uint8_t *) keys[perm[i]], strlen(keys[perm[i]]), perm[i]);
			CHECK(env_check(e));
			CHECK(compare_lookup(e, &m));
		}
		/* absent keys around the present ones */
		{
			const ArtTid *t;

			CHECK(art_lookup(&e->tree, &e->a, (const uint8_t *) "abcd", 4, &t) == 0);
			CHECK(art_lookup(&e->tree, &e->a, (const uint8_t *) "aa", 2, &t) == 0);
			CHECK(art_lookup(&e->tree, &e->a, (const uint8_t *) "c", 1, &t) == 0);
			CHECK(art_lookup(&e->tree, &e->a, (const uint8_t *) "ba", 2, &t) == 0);
		}
		CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
		CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
		CHECK(random_walks(e, &m, 20, "abcd"));
		/* delete keys one at a time in a permuted order (TID == key index) */
		for (i = 0; i < 6; i++)
		{
			Pred		pr;
			uint32_t	j;

			/* a predicate that kills exactly TID perm[5 - i] */
			for (pr.mod = 2; pr.mod < 1000; pr.mod++)
			{
				int			kills = 0;

				pr.rem = 0;
				for (j = 0; j < 6; j++)
					if (pred_dead_num(j, &(Pred) {pr.mod, ((j * 2654435761u) >> 7) % pr.mod}))
						(void) 0;
				pr.rem = ((perm[5 - i] * 2654435761u) >> 7) % pr.mod;
				for (j = 0; j < 6; j++)
					kills += pred_dead_num(j, &pr);
				if (kills == 1)
					break;
			}
			CHECK(pr.mod < 1000);
			CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) <= 1);
			model_delete(&m, &pr);
			CHECK(env_check(e));
			CHECK(compare_lookup(e, &m));
			CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
		}
		CHECK(e->tree.root == ARENA_NULL);
		CHECK(arena_bytes_used(e->t.base) == 0);
		model_free(&m);
		env_free(e);
		count++;
	}
	CHECK(count == 720);
}

static void
test_single_bytes(void)
{
	Env		   *e = env_new(1 << 20);
	Model		m = {0};
	int			b,
				round;

	for (round = 0; round < 2; round++)
	{
		for (b = 255; b >= 1; b--)
		{
			uint8_t		k[2] = {(uint8_t) b, (uint8_t) b};
			size_t		len = 1 + (size_t) round;

			CHECK(art_insert(&e->tree, &e->a, k, len, &(ArtTid) {0, (uint16_t) (b + 256 * round), 1}) == ART_OK);
			model_insert(&m, k, len, (uint32_t) (b + 256 * round));
		}
		CHECK(env_check(e));
	}
	CHECK(ins(e, "", 0, 9999) == ART_OK);
	model_insert(&m, (const uint8_t *) "", 0, 9999);
	CHECK(env_check(e));
	CHECK(compare_lookup(e, &m));
	CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
	CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
	CHECK(random_walks(e, &m, 300, "\x01\x02\x7f\x80\xfe\xff"));
	{
		Pred		pr = {3, 1};

		art_delete_tids(&e->tree, &e->a, pred_dead, &pr);
		model_delete(&m, &pr);
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(random_walks(e, &m, 100, "\x01\x02\x7f\x80\xfe\xff"));
		pr.mod = 1;
		pr.rem = 0;
		art_delete_tids(&e->tree, &e->a, pred_dead, &pr);
		CHECK(e->tree.root == ARENA_NULL && arena_bytes_used(e->t.base) == 0);
	}
	model_free(&m);
	env_free(e);
}

static void
test_long_keys(void)
{
	Env		   *e = env_new(8 << 20);
	Model		m = {0};
	static uint8_t k[60 * 1024 + 2];
	size_t		lens[] = {2048, 2047, 2049, 4095, 4096, 8191, 8192, 8193,
	60 * 1024, 60 * 1024 - 1, 60 * 1024 + 1, 300, 255, 256, 257, 0, 1};
	size_t		i;
	int			v;

	for (i = 0; i < sizeof(k); i++)
		k[i] = (uint8_t) ('a' + i % 23);
	for (v = 0; v < 3; v++)
	{
		for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		{
			size_t		len = lens[i];

			if (v == 1 && len > 10)
				k[len / 2] = 'Z';	/* branch in the middle */
			if (v == 2 && len > 0)
				k[len - 1] = 'Y';
			CHECK(art_insert(&e->tree, &e->a, k, len, &(ArtTid) {(uint16_t) v, (uint16_t) i, 1}) == ART_OK);
			model_insert(&m, k, len, (uint32_t) v << 16 | (uint32_t) i);
			if (v == 1 && len > 10)
				k[len / 2] = (uint8_t) ('a' + (len / 2) % 23);
			if (v == 2 && len > 0)
				k[len - 1] = (uint8_t) ('a' + (len - 1) % 23);
		}
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
		CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
	}
	{
		/* the walk borrows a key buffer from the arena and gives it back */
		size_t		used = arena_bytes_used(e->t.base);
		Collect		c;

		CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
		CHECK(arena_bytes_used(e->t.base) == used);
		/* if it cannot have one, it stops before the first long key */
		memset(&c, 0, sizeof(c));
		c.m = &m;
		c.expect = malloc(m.n * sizeof(size_t));
		for (i = 0; i < m.n; i++)
			c.expect[i] = i;
		c.nexpect = m.n;
		e->t.fail_after = 0;
		art_walk(&e->tree, &e->a, NULL, NULL, false, collect_visit, &c);
		e->t.fail_after = -1;
		free(c.expect);
		CHECK(!c.bad);
		CHECK(c.n < m.n);
		for (i = 0; i < m.n; i++)
			if (m.k[i].len > 8192)
				break;
		CHECK(c.n <= i);
		CHECK(arena_bytes_used(e->t.base) == used);
	}
	{
		ArtBound	lo = {k, 5000, true},
					hi = {k, 61000, false};

		CHECK(compare_walk(e, &m, &lo, &hi, false, 0));
		CHECK(compare_walk(e, &m, &lo, &hi, true, 0));
		CHECK(compare_walk(e, &m, &lo, NULL, true, 2));
	}
	{
		Pred		pr = {2, 0};

		art_delete_tids(&e->tree, &e->a, pred_dead, &pr);
		model_delete(&m, &pr);
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
	}
	art_free_all(&e->tree, &e->a);
	CHECK(arena_bytes_used(e->t.base) == 0);
	model_free(&m);
	env_free(e);
}

/* Keys each a prefix of the next: a tree 3000 nodes deep. */
static void
test_deep_chain(void)
{
	Env		   *e = env_new(4 << 20);
	Model		m = {0};
	static uint8_t k[3001];
	uint32_t	order[3000];
	int			i;

	memset(k, 'q', sizeof(k));
	for (i = 0; i < 3000; i++)
		order[i] = (uint32_t) i + 1;
	for (i = 2999; i > 0; i--)
	{
		int			j = (int) (rnd() % (uint64_t) (i + 1));
		uint32_t	t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (i = 0; i < 3000; i++)
	{
		CHECK(art_insert(&e->tree, &e->a, k, order[i], &(ArtTid) {0, (uint16_t) order[i], 1}) == ART_OK);
		model_insert(&m, k, order[i], order[i]);
	}
	CHECK(env_check(e));
	CHECK(compare_lookup(e, &m));
	CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
	CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
	{
		ArtBound	lo = {k, 1000, false},
					hi = {k, 2000, true};

		CHECK(compare_walk(e, &m, &lo, &hi, false, 0));
		CHECK(compare_walk(e, &m, &lo, &hi, true, 0));
	}
	{
		Pred		pr = {2, 1};

		CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) == model_delete(&m, &pr));
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(compare_walk(e, &m, NULL, NULL, false, 0));
	}
	art_free_all(&e->tree, &e->a);
	CHECK(arena_bytes_used(e->t.base) == 0);
	model_free(&m);
	env_free(e);
}

/* 100,000 copies of one key, next to its prefix and an extension. */
static void
test_many_duplicates(void)
{
	Env		   *e = env_new(16 << 20);
	Model		m = {0};
	uint32_t	i;
	const char *key = "usr/share/doc/duplicated";

	CHECK(ins(e, "usr/share/doc", 13, 1u << 30) == ART_OK);
	model_insert(&m, (const uint8_t *) "usr/share/doc", 13, 1u << 30);
	for (i = 0; i < 100000; i++)
	{
		CHECK(ins(e, key, strlen(key), i) == ART_OK);
		model_insert(&m, (const uint8_t *) key, strlen(key), i);
	}
	CHECK(ins(e, "usr/share/doc/duplicated/x", 26, (1u << 30) + 1) == ART_OK);
	model_insert(&m, (const uint8_t *) "usr/share/doc/duplicated/x", 26, (1u << 30) + 1);
	CHECK(env_check(e));
	CHECK(compare_lookup(e, &m));
	/* amortized growth: far fewer allocations than inserts */
	CHECK(e->t.nallocs < 2000);
	/* and the leaf is not much bigger than the TIDs */
	CHECK(e->tree.bytes < 100000 * 6 * 2 + 4096);
	CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
	{
		Pred		pr = {7, 3};

		CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) == model_delete(&m, &pr));
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		pr.mod = 100;
		pr.rem = 5;
		for (pr.rem = 0; pr.rem < 99; pr.rem++)
		{
			art_delete_tids(&e->tree, &e->a, pred_dead, &pr);
			model_delete(&m, &pr);
		}
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(e->tree.bytes < 100000 * 6 / 100 * 2 + 4096);
	}
	art_free_all(&e->tree, &e->a);
	CHECK(arena_bytes_used(e->t.base) == 0);
	model_free(&m);
	env_free(e);
}

/* Dead when the TID number's bit is set in a bitmap. */
static bool
bitmap_dead(const ArtTid *tid, void *arg)
{
	const uint8_t *bits = arg;
	uint32_t	n = tid_num(tid);

	return n < 4096 && (bits[n / 8] >> (n % 8)) & 1;
}

/*
 * Nodes growing through every kind to node256 and shrinking back step by
 * step, with a terminal key and a common prefix, checked after each step.
 */
static void
test_grow_shrink(void)
{
	int			variant;

	for (variant = 0; variant < 2; variant++)
	{
		Env		   *e = env_new(4 << 20);
		Model		m = {0};
		uint8_t		bits[512];
		uint32_t	order[256];
		int			b,
					i,
					j;

		for (b = 1; b <= 255; b++)
		{
			uint8_t		k[3] = {'x', 'y', (uint8_t) b};

			CHECK(art_insert(&e->tree, &e->a, variant ? k : k + 2, variant ? 3 : 1,
							 &(ArtTid) {0, (uint16_t) b, 1}) == ART_OK);
			model_insert(&m, variant ? k : k + 2, variant ? 3 : 1, (uint32_t) b);
			if (b % 7 == 0)
			{
				CHECK(env_check(e));
				CHECK(compare_lookup(e, &m));
			}
		}
		CHECK(ins(e, "xy", variant ? 2 : 0, 300) == ART_OK);
		model_insert(&m, (const uint8_t *) "xy", variant ? 2 : 0, 300);
		CHECK(env_check(e));
		CHECK(compare_walk(e, &m, NULL, NULL, true, 0));
		/* delete the keys in a random order, a few at a time */
		for (i = 0; i < 255; i++)
			order[i] = (uint32_t) i + 1;
		for (i = 254; i > 0; i--)
		{
			uint32_t	t;

			j = (int) (rnd() % (uint64_t) (i + 1));
			t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (i = 0; i < 255; i += 3)
		{
			memset(bits, 0, sizeof(bits));
			for (j = i; j < i + 3 && j < 255; j++)
				bits[order[j] / 8] |= (uint8_t) (1 << (order[j] % 8));
			CHECK(art_delete_tids(&e->tree, &e->a, bitmap_dead, bits) == (uint64_t) (j - i));
			{
				size_t		a,
							k = 0;

				for (a = 0; a < m.n; a++)
				{
					if (m.k[a].tids[0] < 4096 && (bits[m.k[a].tids[0] / 8] >> (m.k[a].tids[0] % 8)) & 1)
					{
						free(m.k[a].key);
						free(m.k[a].tids);
						continue;
					}
					m.k[k++] = m.k[a];
				}
				m.n = k;
			}
			CHECK(env_check(e));
			CHECK(compare_lookup(e, &m));
			if (i % 30 == 0)
				CHECK(random_walks(e, &m, 20, "\x01\x02xy\x7f\x80\xfe\xff"));
		}
		CHECK(e->tree.nkeys == 1);
		CHECK(e->tree.bytes <= 16);	/* merged into a single leaf */
		art_free_all(&e->tree, &e->a);
		CHECK(arena_bytes_used(e->t.base) == 0);
		model_free(&m);
		env_free(e);
	}
}

static size_t
random_key(uint8_t *buf, const char *alpha, size_t maxlen)
{
	size_t		alen = strlen(alpha);
	size_t		len = rnd() % (maxlen + 1),
				i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t) alpha[rnd() % alen];
	return len;
}

/* Random key sets against the model: lookup, walks, delete, free. */
static void
test_random_model(void)
{
	static const char *alphas[] = {"ab", "abc", "a/b", "abcdefghijklmnopqrstuvwxyz0123456789",
	"\x01\x02\x03\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff"};
	int			round;

	for (round = 0; round < 25; round++)
	{
		Env		   *e = env_new(8 << 20);
		Model		m = {0};
		const char *alpha = alphas[round % 5];
		size_t		maxlen = 1 + rnd() % 12;
		int			nins = 1 + (int) (rnd() % (round % 3 == 0 ? 4000 : 500));
		int			i,
					pass;
		uint32_t	tid = 1;

		for (pass = 0; pass < 3; pass++)
		{
			for (i = 0; i < nins; i++)
			{
				uint8_t		k[64];
				size_t		len = random_key(k, alpha, maxlen);

				CHECK(art_insert(&e->tree, &e->a, k, len, &(ArtTid) {(uint16_t) (tid >> 16), (uint16_t) tid, 1}) == ART_OK);
				model_insert(&m, k, len, tid);
				tid++;
			}
			CHECK(env_check(e));
			CHECK(compare_lookup(e, &m));
			CHECK(random_walks(e, &m, 200, alpha));
			{
				Pred		pr = {1 + (uint32_t) (rnd() % 5), 0};

				pr.rem = (uint32_t) (rnd() % pr.mod);
				CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) == model_delete(&m, &pr));
				CHECK(env_check(e));
				CHECK(compare_lookup(e, &m));
				CHECK(random_walks(e, &m, 100, alpha));
			}
		}
		art_free_all(&e->tree, &e->a);
		CHECK(arena_bytes_used(e->t.base) == 0);
		CHECK(env_check(e));
		model_free(&m);
		env_free(e);
	}
}

/*
 * Narrow range walks (narrow_walks) over path-like keys: long shared
 * prefixes, sorted nodes of every size, node48s and node256s (a level of
 * up to 200 distinct bytes), keys that are prefixes of others.
 */
static void
test_narrow_walks(void)
{
	int			round;

	for (round = 0; round < 12; round++)
	{
		Env		   *e = env_new(16 << 20);
		Model		m = {0};
		int			nkeys = 200 + (int) (rnd() % (round % 3 == 0 ? 6000 : 1500));
		int			fanout = (int) (2 + rnd() % (round % 4 == 0 ? 200 : 30));
		int			i;

		for (i = 0; i < nkeys; i++)
		{
			uint8_t		k[600];
			size_t		len;
			ArtTid		tid;
			int			depth = 1 + (int) (rnd() % 5),
						d;

			len = (size_t) snprintf((char *) k, sizeof(k), "/usr/share/doc");
			for (d = 0; d < depth && len < sizeof(k) - 16; d++)
			{
				int			c = 1 + (int) (rnd() % fanout);

				k[len++] = '/';
				/* one byte of many values, then a run of a few */
				k[len++] = (uint8_t) (c + 40);
				if (rnd() % 3)
					len += (size_t) snprintf((char *) k + len, 12, "%u",
											 (unsigned) (rnd() % 7));
				if (rnd() % 5 == 0)
					len += (size_t) snprintf((char *) k + len, 12,
											 "-common.d");
			}
			if (rnd() % 10 == 0)
				len = rnd() % (len + 1);	/* a prefix of a path */
			tid = mktid((uint32_t) (i + 1));
			CHECK(art_insert(&e->tree, &e->a, k, len, &tid) == ART_OK);
			model_insert(&m, k, len, (uint32_t) (i + 1));
		}
		CHECK(env_check(e));
		CHECK(narrow_walks(e, &m, 3000));
		CHECK(random_walks(e, &m, 200, "/abc0123"));
		art_free_all(&e->tree, &e->a);
		model_free(&m);
		env_free(e);
	}
}

/* Allocation failures at every point: the tree stays as it was. */
static void
test_out_of_memory(void)
{
	int			round;

	for (round = 0; round < 8; round++)
	{
		Env		   *e = env_new(4 << 20);
		Model		m = {0};
		const char *alpha = round % 2 ? "abc" : "ab/cdefgh";
		int			i,
					fails = 0;
		uint32_t	tid = 1;

		for (i = 0; i < 3000; i++)
		{
			uint8_t		k[400];
			size_t		len = random_key(k, alpha, round < 4 ? 10 : 300);
			ArtTree		before = e->tree;
			size_t		used = arena_bytes_used(e->t.base);
			ArtResult	r;
			int			dup = (int) (rnd() % 5 == 0) && m.n > 0;

			if (dup)
			{
				const MKey *mk = &m.k[rnd() % m.n];

				memcpy(k, mk->key, mk->len);
				len = mk->len;
			}
			e->t.fail_after = (long) (rnd() % 4);
			r = art_insert(&e->tree, &e->a, k, len, &(ArtTid) {(uint16_t) (tid >> 16), (uint16_t) tid, 1});
			e->t.fail_after = -1;
			if (r == ART_OUT_OF_MEMORY)
			{
				fails++;
				CHECK(memcmp(&before, &e->tree, sizeof(before)) == 0);
				CHECK(arena_bytes_used(e->t.base) == used);
				if (rnd() % 50 == 0)
				{
					CHECK(env_check(e));
					CHECK(compare_lookup(e, &m));
				}
				continue;
			}
			CHECK(r == ART_OK);
			model_insert(&m, k, len, tid);
			tid++;
			if (i % 500 == 0)
			{
				Pred		pr = {4, (uint32_t) (rnd() % 4)};

				/* deletes with failing allocations stay valid too */
				e->t.fail_after = (long) (rnd() % 3);
				CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) == model_delete(&m, &pr));
				e->t.fail_after = -1;
				CHECK(env_check(e));
				CHECK(compare_lookup(e, &m));
			}
		}
		CHECK(fails > 100);
		CHECK(env_check(e));
		CHECK(compare_lookup(e, &m));
		CHECK(random_walks(e, &m, 200, alpha));
		art_free_all(&e->tree, &e->a);
		CHECK(arena_bytes_used(e->t.base) == 0);
		model_free(&m);
		env_free(e);
	}
}

/* A full arena: inserts fail cleanly, and work again after a delete. */
static void
test_arena_full(void)
{
	Env		   *e = env_new(256 * 1024);
	Model		m = {0};
	uint32_t	i;
	int			oom = 0;

	for (i = 1; i < 100000 && oom < 50; i++)
	{
		char		k[32];
		int			len = snprintf(k, sizeof(k), "key/%u/%u", i % 977, i);
		ArtResult	r = ins(e, k, (size_t) len, i);

		if (r == ART_OUT_OF_MEMORY)
		{
			oom++;
			continue;
		}
		CHECK(r == ART_OK);
		model_insert(&m, (const uint8_t *) k, (size_t) len, i);
	}
	CHECK(oom == 50);
	CHECK(env_check(e));
	CHECK(compare_lookup(e, &m));
	{
		Pred		pr = {2, 0};

		CHECK(art_delete_tids(&e->tree, &e->a, pred_dead, &pr) == model_delete(&m, &pr));
		CHECK(env_check(e));
		CHECK(ins(e, "key/new", 7, 7) == ART_OK);
		model_insert(&m, (const uint8_t *) "key/new", 7, 7);
		CHECK(compare_lookup(e, &m));
	}
	art_free_all(&e->tree, &e->a);
	CHECK(arena_bytes_used(e->t.base) == 0);
	model_free(&m);
	env_free(e);
}

/* art_check notices a broken tree. */
static void
test_check_detects(void)
{
	Env		   *e = env_new(1 << 20);
	char		err[128];

	CHECK(ins(e, "abc", 3, 1) == ART_OK);
	CHECK(ins(e, "abd", 3, 2) == ART_OK);
	CHECK(env_check(e));
	e->tree.nkeys++;
	CHECK(!art_check(&e->tree, &e->a, e->t.size, err, sizeof(err)));
	CHECK(strstr(err, "nkeys") != NULL);
	e->tree.nkeys--;
	{
		ArenaPtr	root = e->tree.root;

		e->tree.root = (ArenaPtr) (e->t.size / 8 + 5);
		CHECK(!art_check(&e->tree, &e->a, e->t.size, err, sizeof(err)));
		e->tree.root = root;
	}
	CHECK(env_check(e));
	art_free_all(&e->tree, &e->a);
	env_free(e);
}

int
main(void)
{
	run("empty_tree", test_empty_tree);
	run("bad_keys", test_bad_keys);
	run("prefix_keys_all_orders", test_prefix_keys);
	run("single_bytes", test_single_bytes);
	run("grow_shrink", test_grow_shrink);
	run("long_keys", test_long_keys);
	run("deep_chain", test_deep_chain);
	run("many_duplicates", test_many_duplicates);
	run("random_model", test_random_model);
	run("narrow_walks", test_narrow_walks);
	run("out_of_memory", test_out_of_memory);
	run("arena_full", test_arena_full);
	run("check_detects", test_check_detects);
	printf("SUMMARY %d %d\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
