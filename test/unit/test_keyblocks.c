/*-------------------------------------------------------------------------
 *
 * test_keyblocks.c
 *	  Unit tests of the front-coded key blocks (src/keyblocks.c) against a
 *	  sorted array: every seek operation at random bounds, full iteration
 *	  both ways, direction changes, block boundaries, malformed images.
 *
 * Prints failures as they happen and "SUMMARY <passed> <failed>" last.
 *
 *-------------------------------------------------------------------------
 */
#include "keyblocks.h"
#include "unit_check.h"

typedef struct Key
{
	uint8_t    *b;
	size_t		len;
} Key;

static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			c = m ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int
qcmp(const void *x, const void *y)
{
	const Key  *a = x;
	const Key  *b = y;

	return key_cmp(a->b, a->len, b->b, b->len);
}

/* A random key over a small alphabet, so keys share prefixes. */
static void
random_key(Key *k, size_t maxlen)
{
	static const uint8_t alpha[] = {'a', 'b', '/', 0x00, 0xff, 'z'};
	size_t		i;

	k->len = (size_t) (rnd() % (maxlen + 1));
	k->b = malloc(k->len + 1);
	for (i = 0; i < k->len; i++)
		k->b[i] = alpha[rnd() % sizeof(alpha)];
}

/* Expected answer of a seek in the sorted array: index or -1. */
static long
model_seek(const Key *keys, size_t n, FstSeekOp op, const Key *bound)
{
	long		i;

	switch (op)
	{
		case FST_SEEK_FIRST:
			return n ? 0 : -1;
		case FST_SEEK_LAST:
			return n ? (long) n - 1 : -1;
		case FST_SEEK_GE:
		case FST_SEEK_GT:
			for (i = 0; i < (long) n; i++)
			{
				int			c = qcmp(&keys[i], bound);

				if (c > 0 || (c == 0 && op == FST_SEEK_GE))
					return i;
			}
			return -1;
		case FST_SEEK_LE:
		case FST_SEEK_LT:
			for (i = (long) n - 1; i >= 0; i--)
			{
				int			c = qcmp(&keys[i], bound);

				if (c < 0 || (c == 0 && op == FST_SEEK_LE))
					return i;
			}
			return -1;
	}
	return -2;
}

static bool
at(const KbIter *it, const Key *keys, long i)
{
	return it->positioned && it->ordinal == (uint64_t) i &&
		it->keylen == keys[i].len &&
		(keys[i].len == 0 || memcmp(it->key, keys[i].b, keys[i].len) == 0);
}

/* Build an image of n random keys and check everything against the array. */
static void
test_set(size_t want, size_t maxlen)
{
	Key		   *keys = malloc(sizeof(Key) * (want + 1));
	size_t		n = 0;
	size_t		i;
	KbBuilder  *b;
	uint8_t    *img;
	size_t		size;
	KbImage		kb;
	KbIter		it;
	int			rc;
	int			q;

	for (i = 0; i < want; i++)
		random_key(&keys[i], maxlen);
	qsort(keys, want, sizeof(Key), qcmp);
	for (i = 0; i < want; i++)
	{
		if (n > 0 && qcmp(&keys[n - 1], &keys[i]) == 0)
			free(keys[i].b);
		else
			keys[n++] = keys[i];
	}

	b = kb_builder_create(&talloc);
	for (i = 0; i < n; i++)
		CHECK(kb_builder_add(b, keys[i].b, keys[i].len) == 0, "add %zu", i);
	if (n > 0)
		CHECK(kb_builder_add(b, keys[n - 1].b, keys[n - 1].len) == -1,
			  "duplicate key refused");
	size = kb_builder_size(b);
	img = malloc(size);
	kb_builder_finish(b, img);
	kb_builder_destroy(b);
	CHECK(kb_open(&kb, img, size) == 0, "open (%zu keys)", n);
	CHECK(kb_open(&kb, img, size - 1) == -1, "short image refused");
	CHECK(kb_open(&kb, img, size) == 0 && kb.hdr->nkeys == n, "key count");

	kb_iter_init(&it, &kb, &talloc);

	/* full iteration both ways */
	rc = kb_iter_seek(&it, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; i < n; i++)
	{
		CHECK(rc == 1 && at(&it, keys, (long) i), "forward %zu of %zu", i, n);
		rc = kb_iter_next(&it);
	}
	CHECK(rc == 0 && !it.positioned, "forward end");
	rc = kb_iter_seek(&it, FST_SEEK_LAST, NULL, 0);
	for (i = n; i > 0; i--)
	{
		CHECK(rc == 1 && at(&it, keys, (long) i - 1), "backward %zu", i - 1);
		rc = kb_iter_prev(&it);
	}
	CHECK(rc == 0 && !it.positioned, "backward end");

	/* random seeks, then a few steps in a random direction */
	for (q = 0; q < 2000; q++)
	{
		FstSeekOp	op = (FstSeekOp) (rnd() % 6);
		Key			bound;
		long		expect;
		int			s;

		if (n > 0 && rnd() % 2)
		{
			Key		   *k = &keys[rnd() % n];

			bound.len = k->len > 0 && rnd() % 3 == 0 ? k->len - 1 : k->len;
			bound.b = malloc(bound.len + 1);
			memcpy(bound.b, k->b, bound.len);
		}
		else
			random_key(&bound, maxlen);
		expect = model_seek(keys, n, op, &bound);
		rc = kb_iter_seek(&it, op, bound.b, bound.len);
		CHECK(expect < 0 ? rc == 0 : (rc == 1 && at(&it, keys, expect)),
			  "seek op %d: expected %ld, rc %d ord %llu", (int) op, expect, rc,
			  (unsigned long long) it.ordinal);
		for (s = 0; expect >= 0 && s < 40; s++)
		{
			bool		fwd = rnd() % 3 != 0;

			rc = fwd ? kb_iter_next(&it) : kb_iter_prev(&it);
			expect += fwd ? 1 : -1;
			if (expect < 0 || expect >= (long) n)
			{
				CHECK(rc == 0, "step past the end");
				break;
			}
			CHECK(rc == 1 && at(&it, keys, expect), "step to %ld", expect);
		}
		free(bound.b);
	}

	/*
	 * Moved to another image (every other key), the iterator must forget
	 * the block it decoded from the first: each seek lands where the model
	 * of the second image says.
	 */
	if (n > 1)
	{
		Key		   *half = malloc(sizeof(Key) * n);
		size_t		nh = 0;
		KbImage		kb2;
		uint8_t    *img2;
		size_t		size2;

		for (i = 0; i < n; i += 2)
			half[nh++] = keys[i];
		b = kb_builder_create(&talloc);
		for (i = 0; i < nh; i++)
			CHECK(kb_builder_add(b, half[i].b, half[i].len) == 0, "add half %zu", i);
		size2 = kb_builder_size(b);
		img2 = malloc(size2);
		kb_builder_finish(b, img2);
		kb_builder_destroy(b);
		CHECK(kb_open(&kb2, img2, size2) == 0, "open half image");
		for (q = 0; q < 200; q++)
		{
			FstSeekOp	op = (FstSeekOp) (rnd() % 6);
			Key		   *k = &keys[rnd() % n];
			long		expect;

			/* position in the first image, then seek the same in the second */
			kb_iter_set_image(&it, &kb);
			rc = kb_iter_seek(&it, op, k->b, k->len);
			kb_iter_set_image(&it, &kb2);
			CHECK(!it.positioned, "set_image forgets the position");
			expect = model_seek(half, nh, op, k);
			rc = kb_iter_seek(&it, op, k->b, k->len);
			CHECK(expect < 0 ? rc == 0 : (rc == 1 && at(&it, half, expect)),
				  "seek op %d after set_image: expected %ld, rc %d", (int) op,
				  expect, rc);
		}
		kb_iter_set_image(&it, &kb);
		free(img2);
		free(half);
	}
	kb_iter_free(&it);

	/* corrupted data must not crash or read out of bounds (ASan) */
	if (size > sizeof(KbHeader) + 8)
	{
		int			iter;
		uint8_t    *copy = malloc(size);

		for (iter = 0; iter < 300; iter++)
		{
			size_t		off = sizeof(KbHeader) + rnd() % (size - sizeof(KbHeader));

			memcpy(copy, img, size);
			copy[off] ^= (uint8_t) (1 + rnd() % 255);
			if (kb_open(&kb, copy, size) == 0)
			{
				Key			bound;

				kb_iter_init(&it, &kb, &talloc);
				random_key(&bound, maxlen);
				rc = kb_iter_seek(&it, (FstSeekOp) (rnd() % 6), bound.b,
								  bound.len);
				for (q = 0; rc == 1 && q < 100; q++)
					rc = rnd() % 2 ? kb_iter_next(&it) : kb_iter_prev(&it);
				kb_iter_free(&it);
				free(bound.b);
			}
		}
		free(copy);
		passed++;
	}

	free(img);
	for (i = 0; i < n; i++)
		free(keys[i].b);
	free(keys);
}

int
main(void)
{
	rng_state = 0x2545f4914f6cdd1dULL;
	test_set(0, 5);
	test_set(1, 0);				/* only the empty key */
	test_set(1, 5);
	test_set(31, 4);
	test_set(32, 8);
	test_set(33, 8);
	test_set(64, 8);
	test_set(1000, 3);			/* dense: many prefix keys */
	test_set(5000, 12);
	test_set(3000, 300);		/* long keys */
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
