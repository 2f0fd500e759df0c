/*
 * fuzz_art.c
 *	  libFuzzer target for the ART: the input is a sequence of operations
 *	  (insert, delete by predicate, bounded walk, lookup) run against the
 *	  tree in a small arena, so allocation failures happen, and against a
 *	  sorted-array model.  Any difference, or a failed art_check, aborts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "art.h"

#define ARENA_SIZE	(48 * 1024)
#define MAX_KEYS	4096
#define MAX_KEY		48

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FKey
{
	uint8_t		key[MAX_KEY];
	size_t		len;
	uint32_t	tids[64];
	uint32_t	ntids;			/* at most 64 kept in the model */
} FKey;

static FKey model[MAX_KEYS];
static size_t nmodel;
static uint64_t arena_mem[ARENA_SIZE / 8];

typedef struct In
{
	const uint8_t *p;
	size_t		n;
} In;

static uint8_t
next(In *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_art mismatch: %s\n", what);
	abort();
}

static int
cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			r = m ? memcmp(a, b, m) : 0;

	if (r)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static size_t
model_lb(const uint8_t *key, size_t len)
{
	size_t		lo = 0,
				hi = nmodel;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;

		if (cmp_bytes(model[mid].key, model[mid].len, key, len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const uint8_t alphabet[8] = {'a', 'b', 'c', '/', 0x01, 0x7f, 0x80, 0xff};

/*
 * A key from the input: a length, then per byte either one of a small
 * alphabet (many shared prefixes) or, for bytes 0xc0.., one of 64 letters
 * (nodes with many children).
 */
static size_t
read_key(In *in, uint8_t *key, bool allow_zero)
{
	uint8_t		h = next(in);
	size_t		len = h % 12,
				i;

	if (h >= 0xf0)
		len = 12 + next(in) % (MAX_KEY - 12);
	for (i = 0; i < len; i++)
	{
		uint8_t		b = next(in);

		key[i] = (b & 0xc0) == 0xc0 ? (uint8_t) (0x40 + (b & 0x3f)) : alphabet[b & 7];
		if (allow_zero && b == 0xee)
			key[i] = 0;
	}
	return len;
}

static ArtTid
mktid(uint32_t n)
{
	ArtTid		t;

	t.bi_hi = (uint16_t) (n >> 16);
	t.bi_lo = (uint16_t) n;
	t.offset = 1;
	return t;
}

static uint32_t
tid_num(const void *p)
{
	ArtTid		t;

	memcpy(&t, p, sizeof(t));
	return ((uint32_t) t.bi_hi << 16) | t.bi_lo;
}

typedef struct Pred
{
	uint8_t		mod;
	uint8_t		rem;
} Pred;

static bool
dead_num(uint32_t n, const Pred *p)
{
	return (n * 2654435761u >> 9) % p->mod == p->rem;
}

static bool
is_dead(const ArtTid *tid, void *arg)
{
	return dead_num(tid_num(tid), arg);
}

/* Allocator over the static arena, failing on demand. */
static long fail_after;

static ArenaPtr
f_alloc(void *arg, size_t size)
{
	if (fail_after >= 0)
	{
		if (fail_after == 0)
			return ARENA_NULL;
		fail_after--;
	}
	return arena_alloc(arg, size);
}

static void
f_free(void *arg, ArenaPtr p, size_t size)
{
	arena_free(arg, p, size);
}

typedef struct WalkCheck
{
	size_t		i;				/* next model index expected */
	size_t		end;			/* model index past the last expected */
	bool		backward;
	size_t		visited;
	size_t		limit;
} WalkCheck;

static bool
visit(const uint8_t *key, size_t keylen, const ArtTid *tids, uint32_t ntids,
	  void *arg)
{
	WalkCheck  *w = arg;
	const FKey *k;
	uint32_t	t;

	if (w->backward ? w->i <= w->end : w->i >= w->end)
		fail("walk visited too many keys");
	k = &model[w->backward ? w->i - 1 : w->i];
	if (cmp_bytes(key, keylen, k->key, k->len) != 0)
		fail("walk key");
	if (ntids != k->ntids)
		fail("walk ntids");
	for (t = 0; t < ntids; t++)
		if (tid_num((const char *) tids + 6 * t) != k->tids[t])
			fail("walk tid");
	if (w->backward)
		w->i--;
	else
		w->i++;
	w->visited++;
	return w->limit == 0 || w->visited < w->limit;
}

static void
check_tree(const ArtTree *tree, const ArtAllocator *a)
{
	char		err[200];
	uint64_t	ntids = 0;
	size_t		i;

	if (!art_check(tree, a, ARENA_SIZE, err, sizeof(err)))
	{
		fprintf(stderr, "art_check: %s\n", err);
		abort();
	}
	if (tree->bytes != arena_bytes_used(a->base))
		fail("tree bytes != arena bytes used");
	for (i = 0; i < nmodel; i++)
		ntids += model[i].ntids;
	if (tree->nkeys != nmodel || tree->ntids != ntids)
		fail("counts");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	In			in = {data, size};
	ArtTree		tree;
	ArtAllocator a;
	uint32_t	tidno = 1;

	memset(&tree, 0, sizeof(tree));
	arena_init(arena_mem, ARENA_SIZE);
	memset(&a, 0, sizeof(a));	/* retire = NULL: freed at once */
	a.base = arena_mem;
	a.alloc = f_alloc;
	a.free = f_free;
	a.arg = arena_mem;
	nmodel = 0;
	fail_after = -1;

	while (in.n > 0)
	{
		uint8_t		op = next(&in);
		uint8_t		key[MAX_KEY];
		size_t		len;

		switch (op % 8)
		{
			case 0:
			case 1:
			case 2:
				{
					/* insert, sometimes with an allocation failure injected */
					ArtTid		t = mktid(tidno);
					ArtTree		before = tree;
					size_t		used = arena_bytes_used(arena_mem);
					ArtResult	r;
					size_t		i;
					bool		has_zero;

					len = read_key(&in, key, true);
					has_zero = len > 0 && memchr(key, 0, len) != NULL;
					i = model_lb(key, len);
					if (!has_zero && i < nmodel && model[i].ntids == 64 &&
						cmp_bytes(model[i].key, model[i].len, key, len) == 0)
						break;	/* the model keeps at most 64 TIDs a key */
					fail_after = (op & 0x80) ? (long) ((op >> 4) & 7) : -1;
					r = art_insert(&tree, &a, key, len, &t);
					fail_after = -1;
					if (has_zero)
					{
						if (r != ART_BAD_KEY)
							fail("zero byte accepted");
						break;
					}
					if (r != ART_OK)
					{
						if (r != ART_OUT_OF_MEMORY)
							fail("unexpected result");
						if (memcmp(&before, &tree, sizeof(tree)) != 0 ||
							used != arena_bytes_used(arena_mem))
							fail("failed insert changed the tree");
						break;
					}
					i = model_lb(key, len);
					if (i == nmodel || cmp_bytes(model[i].key, model[i].len, key, len) != 0)
					{
						if (nmodel == MAX_KEYS)
							abort();
						memmove(&model[i + 1], &model[i], (nmodel - i) * sizeof(FKey));
						nmodel++;
						memcpy(model[i].key, key, len);
						model[i].len = len;
						model[i].ntids = 0;
					}
					model[i].tids[model[i].ntids++] = tidno++;
					break;
				}
			case 3:
				{
					/* delete by predicate, sometimes with failing allocations */
					Pred		p;
					size_t		i,
								j = 0;
					uint64_t	removed = 0;

					p.mod = (uint8_t) (1 + next(&in) % 6);
					p.rem = (uint8_t) (next(&in) % p.mod);
					for (i = 0; i < nmodel; i++)
					{
						uint32_t	t,
									kept = 0;

						for (t = 0; t < model[i].ntids; t++)
							if (!dead_num(model[i].tids[t], &p))
								model[i].tids[kept++] = model[i].tids[t];
						removed += model[i].ntids - kept;
						model[i].ntids = kept;
						if (kept > 0)
							model[j++] = model[i];
					}
					nmodel = j;
					fail_after = (op & 0x80) ? (long) ((op >> 4) & 7) : -1;
					if (art_delete_tids(&tree, &a, is_dead, &p) != removed)
						fail("delete count");
					fail_after = -1;
					break;
				}
			case 4:
			case 5:
				{
					/* walk between bounds */
					uint8_t		lok[MAX_KEY],
								hik[MAX_KEY];
					ArtBound	lo,
								hi;
					uint8_t		flags = next(&in);
					WalkCheck	w;
					size_t		first,
								last;

					lo.len = read_key(&in, lok, false);
					lo.key = lok;
					lo.inclusive = flags & 1;
					hi.len = read_key(&in, hik, false);
					hi.key = hik;
					hi.inclusive = (flags >> 1) & 1;
					/* model range [first, last) */
					first = 0;
					last = nmodel;
					if (flags & 4)
					{
						first = model_lb(lok, lo.len);
						if (!lo.inclusive && first < nmodel &&
							cmp_bytes(model[first].key, model[first].len, lok, lo.len) == 0)
							first++;
					}
					if (flags & 8)
					{
						last = model_lb(hik, hi.len);
						if (hi.inclusive && last < nmodel &&
							cmp_bytes(model[last].key, model[last].len, hik, hi.len) == 0)
							last++;
					}
					if (last < first)
						last = first;
					memset(&w, 0, sizeof(w));
					w.backward = (flags & 16) != 0;
					w.i = w.backward ? last : first;
					w.end = w.backward ? first : last;
					w.limit = (flags >> 5) & 3;
					art_walk(&tree, &a, (flags & 4) ? &lo : NULL,
							 (flags & 8) ? &hi : NULL, w.backward, visit, &w);
					if (w.limit == 0 ? w.i != w.end :
						w.visited != (last - first < w.limit ? last - first : w.limit))
						fail("walk missed keys");
					break;
				}
			default:
				{
					/* lookup of a key, present or not */
					const ArtTid *tids;
					uint32_t	n,
								t;
					size_t		i;

					len = read_key(&in, key, false);
					if ((op & 0x80) && nmodel > 0)
					{
						i = next(&in) % nmodel;
						memcpy(key, model[i].key, model[i].len);
						len = model[i].len;
					}
					n = art_lookup(&tree, &a, key, len, &tids);
					i = model_lb(key, len);
					if (i < nmodel && cmp_bytes(model[i].key, model[i].len, key, len) == 0)
					{
						if (n != model[i].ntids)
							fail("lookup count");
						for (t = 0; t < n; t++)
							if (tid_num((const char *) tids + 6 * t) != model[i].tids[t])
								fail("lookup tid");
					}
					else if (n != 0)
						fail("lookup found an absent key");
					break;
				}
		}
		check_tree(&tree, &a);
	}
	art_free_all(&tree, &a);
	if (arena_bytes_used(arena_mem) != 0)
		fail("free_all left memory in use");
	return 0;
}
