/*-------------------------------------------------------------------------
 *
 * test_fst.c
 *	  Unit tests of the FST builder, reader, cursor and posting lists
 *	  against a sorted-array model, plus corruption tests.
 *
 * Prints failures as they happen and "SUMMARY <passed> <failed>" last;
 * exits non-zero if anything failed.
 *
 *-------------------------------------------------------------------------
 */
#include "unit_check.h"
#include "fst_node.h"			/* white box: the top region's units */

/* ------------------------------------------------------------ utilities */

typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

static int
buf_sink(void *arg, const uint8_t *data, size_t len)
{
	Buf		   *b = arg;

	if (b->len + len > b->cap)
	{
		size_t		nc = b->cap ? b->cap : 1024;

		while (nc < b->len + len)
			nc *= 2;
		b->data = realloc(b->data, nc);
		b->cap = nc;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* A source that copies, like index pages would, and polices bounds. */
typedef struct PageSrc
{
	const uint8_t *data;
	uint64_t	size;
	long		violations;
} PageSrc;

static const uint8_t *
page_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	PageSrc    *s = arg;

	if (off > s->size || len > s->size - off || len > FST_MAX_NODE_BYTES)
	{
		s->violations++;
		return NULL;
	}
	memcpy(buf, s->data + off, len);
	return buf;
}

/* A sink that always fails. */
static int
failing_sink(void *arg, const uint8_t *data, size_t len)
{
	(void) arg;
	(void) data;
	(void) len;
	return 1;
}

typedef struct Key
{
	uint8_t    *b;
	size_t		len;
} Key;

static int
keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	int			c = memcmp(a, b, n);

	if (c)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static int
keycmp_q(const void *x, const void *y)
{
	const Key  *a = x;
	const Key  *b = y;

	return keycmp(a->b, a->len, b->b, b->len);
}

/* Sort and deduplicate; frees duplicates. */
static size_t
sort_unique(Key *k, size_t n)
{
	size_t		i,
				m = 0;

	qsort(k, n, sizeof(Key), keycmp_q);
	for (i = 0; i < n; i++)
	{
		if (m > 0 && keycmp_q(&k[m - 1], &k[i]) == 0)
		{
			free(k[i].b);
			continue;
		}
		k[m++] = k[i];
	}
	return m;
}

static void
free_keys(Key *k, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		free(k[i].b);
	free(k);
}

/* First index with key >= (or > when strict) the bound. */
static size_t
model_bound(const Key *k, size_t n, const uint8_t *b, size_t blen, bool strict)
{
	size_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = keycmp(k[mid].b, k[mid].len, b, blen);

		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Build the FST of k[0..n) (sorted, distinct); with `pack`, return it
 * re-encoded by fst_pack.  Packing with the builder's pack map and
 * without one must give the same bytes.
 */
static Buf build_fst_unit_opts(const Key *k, size_t n, size_t registry_bytes,
							   bool pack, uint64_t unit_bytes,
							   uint64_t share_window);

static Buf
build_fst_unit(const Key *k, size_t n, size_t registry_bytes, bool pack,
			   uint64_t unit_bytes)
{
	return build_fst_unit_opts(k, n, registry_bytes, pack, unit_bytes, 0);
}

/* build_fst_unit with FstBuildOptions.share_window too */
static Buf
build_fst_unit_window(const Key *k, size_t n, bool pack, uint64_t unit_bytes,
					  uint64_t share_window)
{
	return build_fst_unit_opts(k, n, 0, pack, unit_bytes, share_window);
}

static Buf
build_fst_unit_opts(const Key *k, size_t n, size_t registry_bytes, bool pack,
					uint64_t unit_bytes, uint64_t share_window)
{
	Buf			out = {0};
	FstBuildOptions opts = {0};
	FstBuilder *b;
	FstInfo		info;
	FstPackMap *map;
	size_t		i;
	int			rc = 0;

	opts.registry_bytes = registry_bytes;
	opts.pack_map = pack;
	opts.unit_bytes = unit_bytes;
	opts.share_window = share_window;
	b = fst_builder_create(&talloc, buf_sink, &out, &opts);
	for (i = 0; i < n && rc == 0; i++)
		rc = fst_builder_add(b, k[i].b, k[i].len);
	CHECK(rc == 0, "builder add: %s", fst_builder_error(b));
	CHECK(fst_builder_nkeys(b) == n && fst_builder_written(b) >= FST_PREAMBLE_SIZE,
		  "builder progress");
	rc = fst_builder_finish(b, &info);
	CHECK(rc == 0, "builder finish: %s", fst_builder_error(b));
	CHECK(info.size == out.len && info.nkeys == n, "builder info");
	CHECK(info.top_start <= out.len - FST_TRAILER_SIZE -
		  (unit_bytes ? FST_TOP_FIELD_SIZE : 0) &&
		  (unit_bytes > 0 || info.top_nodes == 0), "builder top info");
	map = fst_builder_take_pack_map(b);
	CHECK((map != NULL) == pack, "pack map only when asked for");
	CHECK(fst_builder_take_pack_map(b) == NULL, "pack map taken once");
	fst_builder_destroy(b);
	if (pack)
	{
		Buf			packed = {0};
		Buf			walked = {0};
		char		err[FST_ERRMSG_LEN];

		rc = fst_pack(out.data, out.len, map, &talloc, buf_sink, &packed,
					  &info, err);
		CHECK(rc == 0, "pack: %s", err);
		CHECK(info.size == packed.len && info.nkeys == n, "pack info");
		fst_pack_map_free(&talloc, map);
		rc = fst_pack(out.data, out.len, NULL, &talloc, buf_sink, &walked,
					  &info, err);
		CHECK(rc == 0 && walked.len == packed.len &&
			  memcmp(walked.data, packed.data, packed.len) == 0,
			  "pack without the builder's map: the same image");
		free(walked.data);
		/*
		 * Never much bigger: at most the code table and the single nodes
		 * that lose their common-label code (binary keys).
		 */
		CHECK(packed.len <= out.len + out.len / 50 + FST_CODE_TABLE_SIZE,
			  "packed image larger: %zu > %zu", packed.len, out.len);
		/* a packed image is not packed again */
		rc = fst_pack(packed.data, packed.len, NULL, &talloc, buf_sink,
					  &packed, &info, err);
		CHECK(rc == -1 && strlen(err) > 0, "pack of a packed image refused");
		free(out.data);
		return packed;
	}
	return out;
}

/* build_fst_unit without a top region (a version 1 or 2 image). */
static Buf
build_fst(const Key *k, size_t n, size_t registry_bytes, bool pack)
{
	return build_fst_unit(k, n, registry_bytes, pack, 0);
}

static int
u64cmp_q(const void *x, const void *y)
{
	uint64_t	a = *(const uint64_t *) x;
	uint64_t	b = *(const uint64_t *) y;

	return a < b ? -1 : (a > b ? 1 : 0);
}

/* What check_units found. */
typedef struct UnitStats
{
	uint64_t	top_bytes;		/* size of the top region */
	uint64_t	top_nodes;
	uint64_t	units;			/* distinct leaf-region targets of top nodes */
	uint64_t	max_unit;		/* bytes of the largest unit */
} UnitStats;

/*
 * Check the placement of a version 3 image (fst.h, "TOP REGION"): the top
 * region is a sequence of whole nodes from the top start to the root, and
 * the leaf units -- the stretches of the leaf region that end at a target
 * of a top node, each starting after the previous one -- hold at most
 * unit_bytes bytes each, the last ending right below the top start.  A
 * unit's own bytes are consecutive and below the top node that leads to
 * it, so this holds only if every top node was held back and no node of
 * a unit landed elsewhere.
 */
static void
check_units(const uint8_t *img, size_t size, uint64_t unit_bytes,
			const char *what, UnitStats *st)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstSource	src = {fst_memory_read, (void *) img, size};
	uint64_t   *targets = NULL;
	size_t		ntargets = 0;
	size_t		cap = 0;
	uint64_t	addr;
	uint64_t	prev;
	size_t		i;
	Node		nd;
	FstWindow	win;

	memset(st, 0, sizeof(*st));
	if (fst_reader_open(r, &src) != 0)
	{
		CHECK(false, "%s: open: %s", what, r->errmsg);
		free(r);
		return;
	}
	CHECK(r->version == FST_VERSION_TOP, "%s: version %d", what, r->version);
	st->top_bytes = r->nodes_end - r->top_start;
	if (r->nkeys == 0 || r->top_start == r->nodes_end)
	{
		/* no top region: the whole node area is one unit */
		CHECK(r->nodes_end - FST_PREAMBLE_SIZE <= unit_bytes ||
			  r->nkeys == 0, "%s: %llu bytes without a top region", what,
			  (unsigned long long) (r->nodes_end - FST_PREAMBLE_SIZE));
		free(r);
		return;
	}
	window_start(r, &win);
	for (addr = r->root; addr >= r->top_start; addr = nd.start - 1)
	{
		uint32_t	t;

		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
		{
			CHECK(false, "%s: top node: %s", what, r->errmsg);
			break;
		}
		st->top_nodes++;
		for (t = 0; t < nd.n; t++)
		{
			uint64_t	target;
			uint64_t	out;

			if (nd.chain)
				target = nd.chain_next[nd.chain_n - 1];
			else if (fst_node_trans(&nd, t, &target, &out, r->errmsg) != 0)
				break;
			if (target >= r->top_start)
				continue;
			if (ntargets == cap)
			{
				cap = cap ? cap * 2 : 64;
				targets = realloc(targets, sizeof(uint64_t) * cap);
			}
			targets[ntargets++] = target;
		}
		if (nd.start == r->top_start)
			break;
		CHECK(nd.start > r->top_start, "%s: top node across the top start",
			  what);
		if (nd.start < r->top_start)
			break;
	}
	CHECK(ntargets > 0, "%s: no top node leads to the leaf region", what);
	qsort(targets, ntargets, sizeof(uint64_t), u64cmp_q);
	prev = FST_PREAMBLE_SIZE - 1;
	for (i = 0; i < ntargets; i++)
	{
		if (targets[i] == prev)
			continue;
		st->units++;
		if (targets[i] - prev > st->max_unit)
			st->max_unit = targets[i] - prev;
		prev = targets[i];
	}
	CHECK(st->max_unit <= unit_bytes, "%s: a unit of %llu bytes > %llu", what,
		  (unsigned long long) st->max_unit, (unsigned long long) unit_bytes);
	CHECK(ntargets > 0 && targets[ntargets - 1] == r->top_start - 1,
		  "%s: the leaf region does not end with a unit", what);
	free(targets);
	free(r);
}

/*
 * The longest jump of the leaf region of a version 3 image: the largest
 * distance from a node below the top start to a target of its (other
 * than the final leaf, written once and shared by all).  Nodes of the
 * leaf region lie end to end, so they are walked from the top start
 * down.
 */
static uint64_t
longest_leaf_jump(const uint8_t *img, size_t size, const char *what)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstSource	src = {fst_memory_read, (void *) img, size};
	uint64_t	longest = 0;
	uint64_t	addr;
	Node		nd;
	FstWindow	win;

	if (fst_reader_open(r, &src) != 0)
	{
		CHECK(false, "%s: open: %s", what, r->errmsg);
		free(r);
		return 0;
	}
	window_start(r, &win);
	for (addr = r->top_start - 1; addr >= FST_PREAMBLE_SIZE; addr = nd.start - 1)
	{
		uint32_t	t;

		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
		{
			CHECK(false, "%s: leaf node at %llu: %s", what,
				  (unsigned long long) addr, r->errmsg);
			break;
		}
		for (t = 0; t < nd.n; t++)
		{
			uint64_t	target;
			uint64_t	out;
			Node		tn;

			if (nd.chain)
				target = nd.chain_next[nd.chain_n - 1];
			else if (fst_node_trans(&nd, t, &target, &out, r->errmsg) != 0)
				break;
			if (nd.start - target <= longest)
				continue;
			if (fst_node_read(r, &win, target, &tn, r->buf, r->errmsg) != 0)
			{
				CHECK(false, "%s: target %llu: %s", what,
					  (unsigned long long) target, r->errmsg);
				break;
			}
			if (tn.n > 0)
				longest = nd.start - target;
			/* the window moved: read the node again */
			if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
				break;
		}
		if (nd.start <= FST_PREAMBLE_SIZE)
			break;
	}
	free(r);
	return longest;
}

/* ------------------------------------------------------------ FST tests */

static void
check_cursor_at(FstCursor *c, int rc, const Key *k, size_t n, size_t expect,
				const char *what)
{
	if (expect >= n)
	{
		CHECK(rc == 0, "%s: expected end, rc %d (%s)", what, rc, c->errmsg);
		return;
	}
	CHECK(rc == 1, "%s: expected key %zu, rc %d (%s)", what, expect, rc,
		  c->errmsg);
	if (rc == 1)
		CHECK(c->ordinal == expect &&
			  keycmp(c->key, c->keylen, k[expect].b, k[expect].len) == 0,
			  "%s: at ordinal %llu, expected %zu", what,
			  (unsigned long long) c->ordinal, expect);
}

static void run_keyset_image(const Key *k, size_t n, const char *name,
							 bool pack);
static void check_unit_decode(const uint8_t *img, size_t size, const Key *k,
							  size_t n, const char *what);

/* Everything about one key set, through one source. */
static void
verify_fst(const Key *k, size_t n, const FstSource *src)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstCursor  *c = malloc(sizeof(FstCursor));
	size_t		i;
	int			rc;

	rc = fst_reader_open(r, src);
	CHECK(rc == 0, "open: %s", r->errmsg);
	if (rc != 0)
	{
		free(r);
		free(c);
		return;
	}
	CHECK(r->nkeys == n, "nkeys");

	/* lookups of present keys */
	for (i = 0; i < n; i++)
	{
		uint64_t	ord = ~(uint64_t) 0;

		rc = fst_lookup(r, k[i].b, k[i].len, &ord);
		CHECK(rc == 1 && ord == i, "lookup key %zu: rc %d ord %llu (%s)", i,
			  rc, (unsigned long long) ord, r->errmsg);
	}

	fst_cursor_init(c, r, &talloc);

	/* full iteration both ways */
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; i < n; i++)
	{
		check_cursor_at(c, rc, k, n, i, "forward");
		if (rc != 1)
			break;
		rc = fst_cursor_next(c);
	}
	if (i == n)
		CHECK(rc == 0, "forward end rc %d", rc);
	rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
	for (i = n; i > 0; i--)
	{
		check_cursor_at(c, rc, k, n, i - 1, "backward");
		if (rc != 1)
			break;
		rc = fst_cursor_prev(c);
	}
	if (i == 0)
		CHECK(rc == 0, "backward end rc %d", rc);

	/* probes: present keys, mutations, prefixes, extensions */
	for (i = 0; i < 300 + n / 4 && i < 3000; i++)
	{
		uint8_t		probe[2100];
		size_t		plen = 0;
		size_t		lb,
					ub;
		uint64_t	ord;
		int			op;

		if (n > 0)
		{
			const Key  *src_key = &k[rndn(n)];

			plen = src_key->len;
			memcpy(probe, src_key->b, plen);
		}
		switch (rndn(5))
		{
			case 0:
				break;
			case 1:
				plen = rndn(plen + 1);
				break;
			case 2:
				if (plen > 0)
					probe[rndn(plen)] = (uint8_t) (1 + rndn(255));
				break;
			case 3:
				if (plen < 2000)
					probe[plen++] = (uint8_t) (1 + rndn(255));
				break;
			case 4:
				plen = rndn(4);
				{
					size_t		j;

					for (j = 0; j < plen; j++)
						probe[j] = (uint8_t) (1 + rndn(255));
				}
				break;
		}
		lb = model_bound(k, n, probe, plen, false);
		ub = model_bound(k, n, probe, plen, true);
		rc = fst_lookup(r, probe, plen, &ord);
		if (ub > lb)
			CHECK(rc == 1 && ord == lb, "probe lookup present rc %d", rc);
		else
			CHECK(rc == 0, "probe lookup absent rc %d (%s)", rc, r->errmsg);

		for (op = FST_SEEK_GE; op <= FST_SEEK_LT; op++)
		{
			size_t		expect;
			int			steps;
			bool		fwd = (rndn(2) == 0);

			switch (op)
			{
				case FST_SEEK_GE:
					expect = lb;
					break;
				case FST_SEEK_GT:
					expect = ub;
					break;
				case FST_SEEK_LE:
					expect = ub == 0 ? n : ub - 1;
					break;
				default:
					expect = lb == 0 ? n : lb - 1;
					break;
			}
			rc = fst_cursor_seek(c, (FstSeekOp) op, probe, plen);
			check_cursor_at(c, rc, k, n, expect, "seek");
			for (steps = 0; steps < 5 && rc == 1; steps++)
			{
				if (fwd)
				{
					rc = fst_cursor_next(c);
					expect = expect + 1;
				}
				else
				{
					rc = fst_cursor_prev(c);
					expect = expect == 0 ? n : expect - 1;
				}
				check_cursor_at(c, rc, k, n, expect, "step after seek");
			}
		}
	}
	/* prefix ranges, forward from >= prefix, backward from < successor */
	for (i = 0; i < 50 && n > 0; i++)
	{
		const Key  *src_key = &k[rndn(n)];
		size_t		plen = rndn(src_key->len + 1);
		uint8_t    *succ = malloc(plen + 1);
		size_t		slen = plen;
		size_t		lb = model_bound(k, n, src_key->b, plen, false);
		size_t		cnt = 0;
		size_t		got;

		while (lb + cnt < n && k[lb + cnt].len >= plen &&
			   memcmp(k[lb + cnt].b, src_key->b, plen) == 0)
			cnt++;
		got = 0;
		rc = fst_cursor_seek(c, FST_SEEK_GE, src_key->b, plen);
		while (rc == 1 && c->keylen >= plen &&
			   memcmp(c->key, src_key->b, plen) == 0)
		{
			CHECK(c->ordinal == lb + got, "prefix forward ordinal");
			got++;
			rc = fst_cursor_next(c);
		}
		CHECK(rc >= 0 && got == cnt, "prefix forward count %zu vs %zu", got,
			  cnt);

		memcpy(succ, src_key->b, plen);
		while (slen > 0 && succ[slen - 1] == 0xff)
			slen--;
		if (slen > 0)
		{
			succ[slen - 1]++;
			rc = fst_cursor_seek(c, FST_SEEK_LT, succ, slen);
		}
		else
			rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
		got = 0;
		while (rc == 1 && c->keylen >= plen &&
			   memcmp(c->key, src_key->b, plen) == 0)
		{
			CHECK(c->ordinal == lb + cnt - 1 - got, "prefix backward ordinal");
			got++;
			rc = fst_cursor_prev(c);
		}
		CHECK(rc >= 0 && got == cnt, "prefix backward count %zu vs %zu", got,
			  cnt);
		free(succ);
	}

	fst_cursor_free(c);
	free(c);
	free(r);
}

static void
run_keyset(Key *k, size_t n, const char *name)
{
	int			pack;

	n = sort_unique(k, n);
	for (pack = 0; pack < 2; pack++)
		run_keyset_image(k, n, name, pack);
	free_keys(k, n);
}

/* Everything about one sorted key set, plain or packed. */
static void
run_keyset_image(const Key *k, size_t n, const char *name, bool pack)
{
	Buf			img;
	FstSource	msrc;
	FstSource	psrc;
	PageSrc		ps;
	long		before = failed;

	img = build_fst(k, n, 0, pack);
	msrc.read = fst_memory_read;
	msrc.arg = img.data;
	msrc.size = img.len;
	verify_fst(k, n, &msrc);

	ps.data = img.data;
	ps.size = img.len;
	ps.violations = 0;
	psrc.read = page_read;
	psrc.arg = &ps;
	psrc.size = img.len;
	verify_fst(k, n, &psrc);
	CHECK(ps.violations == 0, "source bounds violated");
	check_unit_decode(img.data, img.len, k, n, name);

	/* fst_verify accepts the image with matching postings */
	{
		Buf			pout = {0};
		FstPostingsWriter *w = fst_postings_writer_create(&talloc, buf_sink,
														  &pout);
		FstReader  *r = malloc(sizeof(FstReader));
		FstPostings p;
		FstSource	ppsrc = {fst_memory_read, NULL, 0};
		FstVerifyInfo vi;
		char		err[FST_ERRMSG_LEN];
		size_t		i;
		int			rc = 0;

		for (i = 0; i < n && rc == 0; i++)
		{
			FstTid		t[3] = {{0, (uint16_t) i, 1}, {0, (uint16_t) i, 2},
			{1, 0, 7}};

			rc = fst_postings_add(w, t, i % 4 == 3 ? 0 : 1 + i % 3);
		}
		rc |= fst_postings_finish(w, NULL);
		CHECK(rc == 0, "postings for verify");
		fst_postings_writer_destroy(w);
		ppsrc.arg = pout.data;
		ppsrc.size = pout.len;
		msrc.arg = img.data;
		msrc.size = img.len;
		CHECK(fst_reader_open(r, &msrc) == 0, "open for verify");
		CHECK(fst_postings_open(&p, &ppsrc) == 0, "postings open for verify");
		rc = fst_verify(r, &p, &talloc, &vi, err);
		CHECK(rc == 0 && vi.nkeys == n, "fst_verify: %s", err);
		rc = fst_verify(r, NULL, &talloc, &vi, err);
		CHECK(rc == 0 && vi.nkeys == n, "fst_verify without postings: %s",
			  err);
		free(r);
		free(pout.data);
	}

	/*
	 * With a top region (small units, so that small sets have one): the
	 * same answers, and the units within their bound.
	 */
	{
		uint64_t	unit = 1 + rndn(rndn(2) ? 64 : 1000);
		Buf			top = build_fst_unit(k, n, 0, pack, unit);
		UnitStats	st;

		msrc.arg = top.data;
		msrc.size = top.len;
		verify_fst(k, n, &msrc);
		check_units(top.data, top.len, unit, name, &st);
		check_unit_decode(top.data, top.len, k, n, name);
		free(top.data);
	}

	/* a tiny registry still gives a correct (less minimal) automaton */
	if (n > 0)
	{
		Buf			small = build_fst(k, n, 4096, pack);

		msrc.arg = small.data;
		msrc.size = small.len;
		verify_fst(k, n, &msrc);
		free(small.data);
	}
	if (failed != before)
		printf("key set %s (%zu keys, %s) failed\n", name, n,
			   pack ? "packed" : "plain");
	free(img.data);
}

static Key *
gen_random(size_t n, int alphabet, size_t maxlen)
{
	Key		   *k = malloc(sizeof(Key) * (n ? n : 1));
	size_t		i,
				j;

	for (i = 0; i < n; i++)
	{
		k[i].len = rndn(maxlen + 1);
		k[i].b = malloc(k[i].len + 1);
		for (j = 0; j < k[i].len; j++)
			k[i].b[j] = alphabet ? (uint8_t) ('a' + rndn(alphabet))
				: (uint8_t) (1 + rndn(255));
	}
	return k;
}

/* Paths with shared directories and suffixes, some 2 KB long. */
static Key *
gen_paths(size_t n)
{
	static const char *parts[] = {"usr", "share", "doc", "lib", "python3",
		"dist-packages", "__init__.py", "locale", "LC_MESSAGES", "x.mo",
		"README", "copyright", "bin", "a", ".so"};
	Key		   *k = malloc(sizeof(Key) * n);
	size_t		i;

	for (i = 0; i < n; i++)
	{
		uint8_t		tmp[2200];
		size_t		len = 0;
		int			depth = 1 + (int) rndn(8);
		int			d;

		if (rndn(50) == 0)
		{
			size_t		target = 2000 + rndn(48);

			while (len < target)
			{
				tmp[len] = (uint8_t) ('a' + (len % 7 == 0 ? rndn(3) : 0));
				len++;
			}
		}
		for (d = 0; d < depth && len < 2100; d++)
		{
			const char *p = parts[rndn(sizeof(parts) / sizeof(parts[0]))];
			size_t		pl = strlen(p);

			if (len + pl + 1 >= 2100)
				break;
			tmp[len++] = '/';
			memcpy(tmp + len, p, pl);
			len += pl;
		}
		k[i].b = malloc(len + 1);
		memcpy(k[i].b, tmp, len);
		k[i].len = len;
	}
	return k;
}

static Key *
gen_chain(size_t n)
{
	Key		   *k = malloc(sizeof(Key) * n);
	size_t		i;

	for (i = 0; i < n; i++)
	{
		k[i].len = i;
		k[i].b = malloc(i + 1);
		memset(k[i].b, i % 2 ? 'z' : 'z', i);
	}
	return k;
}

static void
test_fst_keysets(void)
{
	Key		   *k;
	int			round;

	k = gen_random(0, 3, 4);
	run_keyset(k, 0, "empty");
	k = gen_random(1, 3, 0);
	run_keyset(k, 1, "empty key only");
	k = gen_chain(300);
	run_keyset(k, 300, "prefix chain");
	k = gen_random(1, 0, 2047);
	run_keyset(k, 1, "one long key");
	for (round = 0; round < 24; round++)
	{
		size_t		n = 1 + rndn(round < 10 ? 20 : 2000);

		k = gen_random(n, 1 + (int) rndn(4), rndn(12));
		run_keyset(k, n, "small alphabet");
		k = gen_random(n, 0, 1 + rndn(10));
		run_keyset(k, n, "binary");
	}
	k = gen_random(8000, 0, 3);
	run_keyset(k, 8000, "dense binary");
	k = gen_random(5000, 26, 20);
	run_keyset(k, 5000, "letters");
	k = gen_paths(5000);
	run_keyset(k, 5000, "paths");
	/* an image several times the builder's smallest output ring */
	k = gen_paths(40000);
	run_keyset(k, 40000, "many paths");
}

static void
test_builder_errors(void)
{
	Buf			out = {0};
	FstBuilder *b = fst_builder_create(&talloc, buf_sink, &out, NULL);

	CHECK(fst_builder_add(b, (const uint8_t *) "b", 1) == 0, "add b");
	CHECK(fst_builder_add(b, (const uint8_t *) "a", 1) == -1, "reject a");
	CHECK(strlen(fst_builder_error(b)) > 0, "message");
	fst_builder_destroy(b);
	free(out.data);

	memset(&out, 0, sizeof(out));
	b = fst_builder_create(&talloc, buf_sink, &out, NULL);
	CHECK(fst_builder_add(b, (const uint8_t *) "ab", 2) == 0, "add ab");
	CHECK(fst_builder_add(b, (const uint8_t *) "a", 1) == -1, "reject prefix");
	fst_builder_destroy(b);
	free(out.data);

	memset(&out, 0, sizeof(out));
	b = fst_builder_create(&talloc, buf_sink, &out, NULL);
	CHECK(fst_builder_add(b, (const uint8_t *) "a", 1) == 0, "add a");
	CHECK(fst_builder_add(b, (const uint8_t *) "a", 1) == -1, "reject dup");
	fst_builder_destroy(b);
	free(out.data);
}

/* -------------------------------------------------------- corruptions */

static uint32_t
fnv32(uint32_t h, const uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= 0x01000193u;
	}
	return h;
}

/* Rewrite the trailer of an FST image so it passes the header checks. */
static void
fix_fst_trailer(uint8_t *img, size_t size, uint64_t root, uint64_t nkeys,
				uint32_t maxlen, bool packed)
{
	uint8_t    *t = img + size - FST_TRAILER_SIZE;
	int			i;
	uint32_t	h;

	t[0] = 0x4d;
	t[1] = 0x4d;
	t[2] = 0x4b;
	t[3] = 0x54;
	t[4] = packed ? FST_VERSION_PACKED : FST_VERSION;
	t[5] = 0;
	t[6] = t[7] = 0;
	for (i = 0; i < 8; i++)
	{
		t[8 + i] = (uint8_t) (root >> (8 * i));
		t[16 + i] = (uint8_t) (nkeys >> (8 * i));
		t[24 + i] = (uint8_t) ((uint64_t) size >> (8 * i));
	}
	for (i = 0; i < 4; i++)
		t[32 + i] = (uint8_t) (maxlen >> (8 * i));
	h = fnv32(0x811c9dc5u, t, 36);
	h = fnv32(h, img, FST_PREAMBLE_SIZE);
	if (packed && size >= FST_PREAMBLE_SIZE + FST_CODE_TABLE_SIZE + FST_TRAILER_SIZE)
		h = fnv32(h, t - FST_CODE_TABLE_SIZE, FST_CODE_TABLE_SIZE);
	for (i = 0; i < 4; i++)
		t[36 + i] = (uint8_t) (h >> (8 * i));
}

/* Exercise every reader operation on an image; must just terminate. */
static void
exercise_image(const uint8_t *img, size_t size, const Key *k, size_t n)
{
	PageSrc		ps = {img, size, 0};
	FstSource	src = {page_read, &ps, size};
	FstReader  *r = malloc(sizeof(FstReader));
	FstCursor  *c;
	size_t		i;
	uint64_t	steps;
	uint64_t	ord;
	int			rc;

	if (fst_reader_open(r, &src) != 0)
	{
		free(r);
		return;
	}
	c = malloc(sizeof(FstCursor));
	for (i = 0; i < n && i < 50; i++)
	{
		const Key  *q = &k[rndn(n)];

		(void) fst_lookup(r, q->b, q->len, &ord);
	}
	fst_cursor_init(c, r, &talloc);
	steps = 0;
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	while (rc == 1 && steps <= r->nkeys)
	{
		steps++;
		rc = fst_cursor_next(c);
	}
	CHECK(rc != 1, "forward iteration of a corrupt image does not end");
	steps = 0;
	rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
	while (rc == 1 && steps <= r->nkeys)
	{
		steps++;
		rc = fst_cursor_prev(c);
	}
	CHECK(rc != 1, "backward iteration of a corrupt image does not end");
	for (i = 0; i < n && i < 20; i++)
	{
		const Key  *q = &k[rndn(n)];

		(void) fst_cursor_seek(c, (FstSeekOp) (FST_SEEK_GE + rndn(4)),
							   q->b, q->len);
		(void) fst_cursor_next(c);
		(void) fst_cursor_prev(c);
	}
	{
		char		err[FST_ERRMSG_LEN];

		(void) fst_verify(r, NULL, &talloc, NULL, err);
	}
	CHECK(ps.violations == 0, "corrupt image read out of bounds");
	fst_cursor_free(c);
	free(c);
	free(r);
}

static void test_corruption_of(bool packed);

static void
test_corruption(void)
{
	test_corruption_of(false);
	test_corruption_of(true);
}

/* Damage an image of paths (plain or packed) in many ways; read it all. */
static void
test_corruption_of(bool packed)
{
	Key		   *k = gen_paths(2000);
	size_t		n = sort_unique(k, 2000);
	Buf			img = build_fst(k, n, 0, packed);
	size_t		tail = FST_TRAILER_SIZE + (packed ? FST_CODE_TABLE_SIZE : 0);
	uint8_t    *copy = malloc(img.len);
	int			iter;
	uint64_t	root = 0;
	int			i;

	for (i = 0; i < 8; i++)
		root |= (uint64_t) img.data[img.len - FST_TRAILER_SIZE + 8 + i] << (8 * i);

	for (iter = 0; iter < 3000; iter++)
	{
		size_t		size = img.len;
		int			mode = (int) rndn(4);
		int			flips;

		memcpy(copy, img.data, img.len);
		switch (mode)
		{
			case 0:				/* flip bytes in the node area */
				for (flips = 1 + (int) rndn(4); flips > 0; flips--)
					copy[FST_PREAMBLE_SIZE +
						 rndn(img.len - FST_PREAMBLE_SIZE - tail)] ^=
						(uint8_t) (1 + rndn(255));
				break;
			case 1:				/* truncate the node area, keep a trailer */
				size = FST_PREAMBLE_SIZE + tail +
					rndn(img.len - FST_PREAMBLE_SIZE - tail);
				if (packed && rndn(2))	/* keep the code table */
					memcpy(copy + size - tail, img.data + img.len - tail,
						   FST_CODE_TABLE_SIZE);
				fix_fst_trailer(copy, size,
								FST_PREAMBLE_SIZE +
								rndn(size - FST_PREAMBLE_SIZE - tail + 1),
								1 + rndn(n * 2), (uint32_t) rndn(3000), packed);
				break;
			case 2:				/* lie in the trailer */
				fix_fst_trailer(copy, size,
								rndn(2) ? root : rndn(size),
								rndn(3) ? n : rnd() >> rndn(64),
								(uint32_t) rndn(5000), packed);
				break;
			case 3:				/* plain truncation or random flips anywhere */
				if (rndn(2))
					size = rndn(img.len);
				else
					copy[rndn(img.len)] ^= (uint8_t) (1 + rndn(255));
				break;
		}
		exercise_image(copy, size, k, n);
	}
	/* pure garbage */
	for (iter = 0; iter < 500; iter++)
	{
		size_t		size = FST_PREAMBLE_SIZE + tail + rndn(400);
		size_t		j;

		for (j = 0; j < size; j++)
			copy[j] = (uint8_t) rnd();
		memcpy(copy, img.data, FST_PREAMBLE_SIZE);
		if (packed)
			memcpy(copy + size - tail, img.data + img.len - tail,
				   FST_CODE_TABLE_SIZE);
		fix_fst_trailer(copy, size,
						FST_PREAMBLE_SIZE + rndn(size - FST_PREAMBLE_SIZE - tail),
						1 + rndn(1000), (uint32_t) rndn(400), packed);
		exercise_image(copy, size, k, n);
	}
	free(copy);
	free(img.data);
	free_keys(k, n);
}

/* A piece of the key order: a leaf unit, or the key of a top node. */
typedef struct Piece
{
	uint64_t	addr;			/* unit root; 0: the key prefix itself */
	uint64_t	ord;
	uint8_t    *prefix;
	uint32_t	plen;
} Piece;

typedef struct PieceList
{
	Piece	   *p;
	size_t		n;
	size_t		cap;
} PieceList;

static void
piece_add(PieceList *l, uint64_t addr, uint64_t ord, const uint8_t *prefix,
		  uint32_t plen)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? 2 * l->cap : 64;
		l->p = realloc(l->p, sizeof(Piece) * l->cap);
	}
	l->p[l->n].addr = addr;
	l->p[l->n].ord = ord;
	l->p[l->n].plen = plen;
	l->p[l->n].prefix = malloc(plen + 1);
	memcpy(l->p[l->n].prefix, prefix, plen);
	l->n++;
}

/*
 * The pieces of the key order below node addr (reached by prefix, with
 * ordinal ord), in key order: walk the top region depth first, each
 * transition into the leaf region giving a unit, each final top node its
 * own key.  Returns 0 or -1.
 */
static int
top_pieces(FstReader *r, uint64_t addr, uint64_t ord, uint8_t *prefix,
		   uint32_t plen, PieceList *l)
{
	FstWindow	win;
	Node		nd;
	uint32_t	i;

	for (;;)
	{
		if ((addr & FST_ADDR_MASK) < r->top_start)
		{
			piece_add(l, addr, ord, prefix, plen);
			return 0;
		}
		window_start(r, &win);
		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
			return -1;
		if (nd.chain)
		{
			for (i = 0; i < nd.chain_n; i++)
				prefix[plen++] = nd.chain_labels[i];
			addr = nd.chain_next[nd.chain_n - 1];
		}
		else if (nd.single)
		{
			prefix[plen++] = nd.label;
			addr = nd.target;
		}
		else
			break;
	}
	if (nd.final)
		piece_add(l, 0, ord, prefix, plen);
	for (i = 0; i < nd.n; i++)
	{
		uint64_t	target;
		uint64_t	out;

		/* nd is overwritten by the recursion: read transition i again */
		window_start(r, &win);
		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0 ||
			fst_node_trans(&nd, i, &target, &out, r->errmsg) != 0)
			return -1;
		prefix[plen] = fst_node_label(&nd, i);
		if (top_pieces(r, target, ord + out, prefix, plen + 1, l) != 0)
			return -1;
	}
	return 0;
}

/*
 * fst_unit_decode: the keys of every piece, decoded forward and backward,
 * give the key set in order; so does the whole image decoded from the
 * root.
 */
static void
check_unit_decode(const uint8_t *img, size_t size, const Key *k, size_t n,
				  const char *what)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstSource	src = {fst_memory_read, (void *) img, size};
	FstUnitWalker *w;
	PieceList	l = {0};
	uint8_t    *prefix;
	uint8_t    *key;
	int			pass;
	size_t		i;

	if (fst_reader_open(r, &src) != 0 || n == 0)
	{
		CHECK(n == 0, "%s: open: %s", what, r->errmsg);
		free(r);
		return;
	}
	prefix = malloc(r->max_key_len + 1);
	key = malloc(r->max_key_len + 1);
	w = fst_unit_walker_create(r, &talloc);
	CHECK(top_pieces(r, r->root, 0, prefix, 0, &l) == 0, "%s: pieces: %s",
		  what, r->errmsg);
	for (pass = 0; pass < 4; pass++)
	{
		bool		backward = (pass & 1) != 0;
		bool		whole = pass >= 2;
		size_t		got = 0;
		size_t		np = whole ? 1 : l.n;
		size_t		j;

		for (j = 0; j < np; j++)
		{
			const Piece *pc = whole ? NULL : &l.p[backward ? np - 1 - j : j];
			const FstKeyBlock *b;
			uint64_t	pos = 0;
			uint32_t	keylen = 0;
			uint64_t	m;

			if (pc != NULL && pc->addr == 0)
			{
				/* a top node's own key */
				size_t		want = backward ? n - 1 - got : got;

				CHECK(pc->ord == want &&
					  keycmp(pc->prefix, pc->plen, k[want].b, k[want].len) == 0,
					  "%s: top key %zu", what, want);
				got++;
				continue;
			}
			if (fst_unit_decode(w, whole ? r->root : pc->addr,
								whole ? 0 : pc->ord, whole ? NULL : pc->prefix,
								whole ? 0 : pc->plen, backward, &b) != 0)
			{
				CHECK(false, "%s: decode: %s", what, fst_unit_walker_error(w));
				break;
			}
			for (m = 0; m < b->nkeys; m++)
			{
				size_t		want = backward ? n - 1 - got : got;

				if (!fst_key_block_next(b, &pos, key, &keylen, r->max_key_len))
				{
					CHECK(false, "%s: block ends early", what);
					break;
				}
				if (keycmp(key, keylen, k[want].b, k[want].len) != 0)
				{
					CHECK(false, "%s: pass %d: key %zu differs", what, pass,
						  want);
					break;
				}
				got++;
			}
			CHECK(pos == b->len, "%s: block has trailing bytes", what);
			CHECK(b->first_ordinal == (backward ? n - got : got - b->nkeys),
				  "%s: block ordinal", what);
		}
		CHECK(got == n, "%s: pass %d decoded %zu of %zu keys", what, pass,
			  got, n);
	}
	for (i = 0; i < l.n; i++)
		free(l.p[i].prefix);
	free(l.p);
	fst_unit_walker_destroy(w);
	free(prefix);
	free(key);
	free(r);
}

/* FNV-1a 64 of an image, to compare it with a recorded one. */
static uint64_t
fnv64(const uint8_t *p, size_t n)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

/* The keys of ../data/debian-paths.txt, sorted and distinct; *n set. */
static Key *
read_data_keys(size_t *n)
{
	FILE	   *fp = fopen("../data/debian-paths.txt", "r");
	char		line[4096];
	size_t		cap = 1024;
	Key		   *k = malloc(sizeof(Key) * cap);

	*n = 0;
	CHECK(fp != NULL, "cannot open ../data/debian-paths.txt");
	if (fp == NULL)
		return k;
	while (fgets(line, sizeof(line), fp))
	{
		size_t		len = strlen(line);

		while (len > 0 && line[len - 1] == '\n')
			len--;
		if (*n == cap)
		{
			cap *= 2;
			k = realloc(k, sizeof(Key) * cap);
		}
		k[*n].b = malloc(len + 1);
		memcpy(k[*n].b, line, len);
		k[*n].len = len;
		(*n)++;
	}
	fclose(fp);
	*n = sort_unique(k, *n);
	return k;
}

/*
 * The top region on test/data's 20,000 paths and on generated ones.
 * Without it (unit_bytes 0) the images are byte for byte those of the
 * builder before the top region existed (lengths and FNV-1a 64 recorded
 * from commit 8d31361's fst_build.c and fst_pack.c, default and 4 kB
 * registries, plain and packed).  With it, page-sized units: the same
 * answers, units within the bound, and a small top region.
 */
static void
test_top_region(void)
{
	static const struct
	{
		size_t		registry;
		bool		pack;
		size_t		len;
		uint64_t	fnv;
	}			golden[] = {
		{0, false, 324334, UINT64_C(0x63a81402e8f43225)},
		{0, true, 283390, UINT64_C(0xcf93b826fe432491)},
		{4096, false, 347771, UINT64_C(0xf4fce28e4b44e71e)},
		{4096, true, 298529, UINT64_C(0x89f2bb557559266c)},
	};
	size_t		n;
	Key		   *k = read_data_keys(&n);
	size_t		i;
	int			pack;

	CHECK(n == 20000, "test/data holds %zu distinct keys", n);
	for (i = 0; i < sizeof(golden) / sizeof(golden[0]); i++)
	{
		Buf			img = build_fst(k, n, golden[i].registry, golden[i].pack);

		CHECK(img.len == golden[i].len &&
			  fnv64(img.data, img.len) == golden[i].fnv,
			  "test/data, registry %zu, %s: %zu bytes, fnv64 %016llx: not "
			  "the image of the builder without a top region",
			  golden[i].registry, golden[i].pack ? "packed" : "plain",
			  img.len, (unsigned long long) fnv64(img.data, img.len));
		free(img.data);
	}
	for (pack = 0; pack < 2; pack++)
	{
		Buf			img = build_fst_unit(k, n, 0, pack, 8150);
		Buf			flat = build_fst(k, n, 0, pack);
		FstSource	msrc = {fst_memory_read, img.data, img.len};
		UnitStats	st;

		verify_fst(k, n, &msrc);
		check_units(img.data, img.len, 8150, "test/data", &st);
		check_unit_decode(img.data, img.len, k, n, "test/data");
		CHECK(st.units >= img.len / 8150 && st.top_bytes * 50 < img.len,
			  "test/data %s: %llu units, top region %llu of %zu bytes",
			  pack ? "packed" : "plain", (unsigned long long) st.units,
			  (unsigned long long) st.top_bytes, img.len);
		/* the price: longer deltas of top nodes, the code table kept */
		CHECK(img.len < flat.len + flat.len / 20,
			  "test/data %s: %zu bytes with a top region, %zu without",
			  pack ? "packed" : "plain", img.len, flat.len);
		free(img.data);
		free(flat.data);
	}
	free_keys(k, n);

	k = gen_paths(20000);
	n = sort_unique(k, 20000);
	for (pack = 0; pack < 2; pack++)
	{
		Buf			img = build_fst_unit(k, n, 0, pack, 8150);
		FstSource	msrc = {fst_memory_read, img.data, img.len};
		UnitStats	st;

		verify_fst(k, n, &msrc);
		check_units(img.data, img.len, 8150, "generated paths", &st);
		free(img.data);
	}
	free_keys(k, n);
}

/*
 * FstBuildOptions.share_window: with a top region of 2 kB units and a
 * 2 kB window, no node of the leaf region points farther down than its
 * unit and the window (plus a node's bytes) but to the final leaf;
 * without the window some do (shared suffixes far below).  The answers
 * are the same, units within their bound, and the image a little larger.
 */
static void
test_share_window(void)
{
	size_t		n;
	Key		   *k = read_data_keys(&n);
	int			pack;

	for (pack = 0; pack < 2; pack++)
	{
		Buf			far = build_fst_unit(k, n, 0, pack, 2048);
		Buf			near = build_fst_unit_window(k, n, pack, 2048, 2048);
		FstSource	msrc = {fst_memory_read, near.data, near.len};
		UnitStats	st;
		uint64_t	jump_far = longest_leaf_jump(far.data, far.len, "far");
		uint64_t	jump_near = longest_leaf_jump(near.data, near.len, "near");

		verify_fst(k, n, &msrc);
		check_units(near.data, near.len, 2048, "share window", &st);
		CHECK(jump_near <= 2048 + 2048 + FST_MAX_NODE_BYTES,
			  "share window %s: a jump of %llu bytes", pack ? "packed" : "plain",
			  (unsigned long long) jump_near);
		CHECK(jump_far > 2048 + 2048 + FST_MAX_NODE_BYTES,
			  "no share window %s: the longest jump is only %llu bytes",
			  pack ? "packed" : "plain", (unsigned long long) jump_far);
		CHECK(near.len >= far.len && near.len < far.len + far.len / 2,
			  "share window %s: %zu bytes, %zu without", pack ? "packed" : "plain",
			  near.len, far.len);
		free(far.data);
		free(near.data);
	}
	free_keys(k, n);
}

/* Rewrite the top start of a version 3 image, the checksum with it. */
static void
set_top_start(uint8_t *img, size_t size, uint64_t top, bool packed)
{
	uint8_t    *t = img + size - FST_TRAILER_SIZE;
	uint8_t    *f = t - FST_TOP_FIELD_SIZE;
	uint32_t	h;
	int			i;

	for (i = 0; i < 8; i++)
		f[i] = (uint8_t) (top >> (8 * i));
	h = fnv32(0x811c9dc5u, t, 36);
	h = fnv32(h, img, FST_PREAMBLE_SIZE);
	if (packed)
		h = fnv32(h, f - FST_CODE_TABLE_SIZE, FST_CODE_TABLE_SIZE);
	h = fnv32(h, f, FST_TOP_FIELD_SIZE);
	for (i = 0; i < 4; i++)
		t[36 + i] = (uint8_t) (h >> (8 * i));
}

/*
 * Damaged top starts (with a valid checksum) are refused by the reader
 * where a rule is broken, and never make a read go wrong; so are bad
 * flags and a root that is not the last node.
 */
static void
test_top_corruption(void)
{
	Key		   *k = gen_paths(3000);
	size_t		n = sort_unique(k, 3000);
	int			pack;

	for (pack = 0; pack < 2; pack++)
	{
		Buf			img = build_fst_unit(k, n, 0, pack, 600);
		uint8_t    *copy = malloc(img.len);
		FstReader  *r = malloc(sizeof(FstReader));
		FstSource	src = {fst_memory_read, copy, img.len};
		uint64_t	nodes_end;
		uint64_t	top;
		uint64_t	bad[6];
		int			i;

		memcpy(copy, img.data, img.len);
		CHECK(fst_reader_open(r, &src) == 0, "open: %s", r->errmsg);
		nodes_end = r->nodes_end;
		top = r->top_start;
		CHECK(top > FST_PREAMBLE_SIZE && top < nodes_end, "a top region");
		bad[0] = 0;
		bad[1] = FST_PREAMBLE_SIZE - 1;
		bad[2] = FST_PREAMBLE_SIZE;
		bad[3] = nodes_end + 1;
		bad[4] = img.len;
		bad[5] = UINT64_MAX;
		for (i = 0; i < 6; i++)
		{
			memcpy(copy, img.data, img.len);
			set_top_start(copy, img.len, bad[i], pack);
			CHECK(fst_reader_open(r, &src) == -1 &&
				  strstr(r->errmsg, "top") != NULL,
				  "top start %llu refused: %s", (unsigned long long) bad[i],
				  r->errmsg);
		}
		/* any other place: refused, or the image reads as before */
		for (i = 0; i < 400; i++)
		{
			uint64_t	at = FST_PREAMBLE_SIZE + 1 +
				rndn(nodes_end - FST_PREAMBLE_SIZE);

			memcpy(copy, img.data, img.len);
			set_top_start(copy, img.len, at, pack);
			if (fst_reader_open(r, &src) == 0)
			{
				uint64_t	ord;
				const Key  *q = &k[rndn(n)];

				CHECK(fst_lookup(r, q->b, q->len, &ord) == 1 &&
					  ord == (uint64_t) (q - k), "lookup, top start moved");
			}
			exercise_image(copy, img.len, k, n);
		}
		/* the empty top region is allowed: then one unit */
		memcpy(copy, img.data, img.len);
		set_top_start(copy, img.len, nodes_end, pack);
		CHECK(fst_reader_open(r, &src) == 0, "empty top region: %s",
			  r->errmsg);
		/* unknown flags, flags that differ, a root that is not last */
		memcpy(copy, img.data, img.len);
		copy[img.len - FST_TRAILER_SIZE + 6] ^= 0x02;
		copy[6] ^= 0x02;
		set_top_start(copy, img.len, top, pack);
		CHECK(fst_reader_open(r, &src) == -1, "unknown flag refused");
		memcpy(copy, img.data, img.len);
		copy[6] ^= FST_FLAG_PACKED;
		set_top_start(copy, img.len, top, pack);
		CHECK(fst_reader_open(r, &src) == -1, "preamble flags differ");
		memcpy(copy, img.data, img.len);
		copy[img.len - FST_TRAILER_SIZE + 8]--;	/* root - 1 */
		set_top_start(copy, img.len, top, pack);
		CHECK(fst_reader_open(r, &src) == -1 &&
			  strstr(r->errmsg, "root") != NULL, "root not last refused: %s",
			  r->errmsg);
		free(r);
		free(copy);
		free(img.data);
	}
	free_keys(k, n);
}

/* Packing shrinks an image of paths by a tenth at least. */
static void
test_pack_gain(void)
{
	Key		   *k = gen_paths(40000);
	size_t		n = sort_unique(k, 40000);
	Buf			plain = build_fst(k, n, 0, false);
	Buf			packed = build_fst(k, n, 0, true);

	CHECK(packed.len * 10 <= plain.len * 9, "packed %zu B, plain %zu B",
		  packed.len, plain.len);
	free(plain.data);
	free(packed.data);
	free_keys(k, n);
}

/* fst_pack refuses what is not a valid plain image, and a failing sink. */
static void
test_pack_errors(void)
{
	Key		   *k = gen_paths(500);
	size_t		n = sort_unique(k, 500);
	Buf			img = build_fst(k, n, 0, false);
	Buf			out = {0};
	char		err[FST_ERRMSG_LEN];
	FstInfo		info;
	int			rc;

	rc = fst_pack(img.data, img.len - 1, NULL, &talloc, buf_sink, &out, &info,
				  err);
	CHECK(rc == -1 && strlen(err) > 0, "pack of a truncated image refused");
	img.data[FST_PREAMBLE_SIZE + 3] ^= 0x55;
	rc = fst_pack(img.data, img.len, NULL, &talloc, buf_sink, &out, &info,
				  err);
	CHECK(rc == -1 ? strlen(err) > 0 : info.size == out.len,
		  "pack of a damaged image: an error or a whole image");
	img.data[FST_PREAMBLE_SIZE + 3] ^= 0x55;
	rc = fst_pack(img.data, img.len, NULL, &talloc, failing_sink, NULL, &info,
				  err);
	CHECK(rc == -1 && strlen(err) > 0, "pack into a failing sink");
	free(out.data);
	free(img.data);
	free_keys(k, n);
}

/* ----------------------------------------------------------- postings */

static int
tidcmp(const void *x, const void *y)
{
	const FstTid *a = x;
	const FstTid *b = y;
	uint32_t	ab = ((uint32_t) a->bi_hi << 16) | a->bi_lo;
	uint32_t	bb = ((uint32_t) b->bi_hi << 16) | b->bi_lo;

	if (ab != bb)
		return ab < bb ? -1 : 1;
	return a->offset < b->offset ? -1 : (a->offset > b->offset ? 1 : 0);
}

typedef struct List
{
	FstTid	   *t;
	uint64_t	n;
} List;

static uint64_t
make_list(FstTid *t, uint64_t n, uint32_t maxblock, int dense)
{
	uint64_t	i,
				m = 0;

	for (i = 0; i < n; i++)
	{
		uint32_t	blk;

		if (dense)
			blk = (uint32_t) (i / 50 + rndn(2));
		else
			blk = (uint32_t) rndn((uint64_t) maxblock + 1);
		t[i].bi_hi = (uint16_t) (blk >> 16);
		t[i].bi_lo = (uint16_t) blk;
		t[i].offset = (uint16_t) (rndn(8) == 0 ? rndn(65536) : 1 + rndn(300));
	}
	qsort(t, n, sizeof(FstTid), tidcmp);
	for (i = 0; i < n; i++)
		if (m == 0 || tidcmp(&t[m - 1], &t[i]) != 0)
			t[m++] = t[i];
	return m;
}

static void
test_postings_set(size_t nkeys, uint32_t maxblock, int withhuge)
{
	List	   *l = malloc(sizeof(List) * nkeys);
	Buf			out = {0};
	FstPostingsWriter *w = fst_postings_writer_create(&talloc, buf_sink, &out);
	FstPostingsInfo info;
	FstPostings p;
	FstSource	src;
	PageSrc		ps;
	size_t		i;
	FstTid	   *got;
	uint64_t	maxn = 0;
	int			rc = 0;
	size_t		buffered;
	size_t		sunk;

	for (i = 0; i < nkeys; i++)
	{
		uint64_t	r = rndn(100);
		uint64_t	n = r < 80 ? 1 : (r < 85 ? 0 : (r < 97 ? 2 + rndn(10) : rndn(2000)));

		if (withhuge && i == nkeys / 2)
			n = 100000;
		l[i].t = malloc(sizeof(FstTid) * (n ? n : 1));
		l[i].n = make_list(l[i].t, n, maxblock, n >= 100000 || rndn(2));
		if (l[i].n > maxn)
			maxn = l[i].n;
		if (rc == 0 && rndn(3) == 0 && l[i].n > 3)
		{
			/* streaming form, in pieces */
			fst_postings_begin_key(w);
			rc |= fst_postings_append(w, l[i].t, 2);
			rc |= fst_postings_append(w, l[i].t + 2, l[i].n - 2);
			rc |= fst_postings_end_key(w);
		}
		else if (rc == 0)
			rc = fst_postings_add(w, l[i].t, l[i].n);
	}
	CHECK(rc == 0, "postings add: %s", fst_postings_writer_error(w));
	/*
	 * what the sink has plus what is buffered covers the image but for
	 * the group table (8 bytes a group) and the trailer
	 */
	buffered = fst_postings_buffered(w);
	CHECK(nkeys == 0 || buffered > 0, "postings buffered: nothing");
	sunk = out.len;
	rc = fst_postings_finish(w, &info);
	CHECK(rc == 0 && info.size == out.len && info.nkeys == nkeys,
		  "postings finish");
	CHECK(sunk + buffered + 8 * (nkeys / FST_POSTINGS_GROUP + 1) + 256 >=
		  info.size, "postings buffered: %zu + %zu, image %llu", sunk, buffered,
		  (unsigned long long) info.size);
	fst_postings_writer_destroy(w);

	ps.data = out.data;
	ps.size = out.len;
	ps.violations = 0;
	src.read = page_read;
	src.arg = &ps;
	src.size = out.len;
	rc = fst_postings_open(&p, &src);
	CHECK(rc == 0, "postings open: %s", p.errmsg);
	got = malloc(sizeof(FstTid) * (maxn + 1));
	for (i = 0; rc == 0 && i < nkeys; i++)
	{
		size_t		ord = rndn(3) ? i : rndn(nkeys);
		FstPostingsIter it;
		uint64_t	total = 0;
		int64_t		m;

		rc = fst_postings_seek(&p, &it, ord);
		CHECK(rc == 0 && it.count == l[ord].n, "postings seek %zu: %s", ord,
			  p.errmsg);
		if (rc != 0)
			break;
		while ((m = fst_postings_next(&it, got + total, 1 + rndn(1000))) > 0)
			total += (uint64_t) m;
		CHECK(m == 0 && total == l[ord].n &&
			  memcmp(got, l[ord].t, sizeof(FstTid) * total) == 0,
			  "postings list %zu mismatch (%llu of %llu)", ord,
			  (unsigned long long) total, (unsigned long long) l[ord].n);
	}
	{
		FstPostingsIter it;

		CHECK(fst_postings_seek(&p, &it, nkeys) == -1, "ordinal out of range");
	}

	/*
	 * The same lists through one FstPostingsGroup: forward, backward and
	 * random walks, with jumps within and across groups.
	 */
	{
		FstPostingsGroup grp;
		int			walk;

		fst_postings_group_reset(&grp);
		for (walk = 0; rc == 0 && walk < 3; walk++)
		{
			for (i = 0; rc == 0 && i < nkeys; i++)
			{
				size_t		ord = walk == 0 ? i : walk == 1 ? nkeys - 1 - i :
					(rndn(4) ? (i * 7) % nkeys : rndn(nkeys));
				FstPostingsIter it;
				uint64_t	total = 0;
				int64_t		m;

				rc = fst_postings_seek_group(&p, &grp, &it, ord);
				CHECK(rc == 0 && it.count == l[ord].n,
					  "group seek %zu (walk %d): %s", ord, walk, p.errmsg);
				if (rc != 0)
					break;
				while ((m = fst_postings_next(&it, got + total,
											  1 + rndn(1000))) > 0)
					total += (uint64_t) m;
				CHECK(m == 0 && total == l[ord].n &&
					  memcmp(got, l[ord].t, sizeof(FstTid) * total) == 0,
					  "group seek list %zu mismatch (walk %d)", ord, walk);
			}
		}
		{
			FstPostingsIter it;

			CHECK(fst_postings_seek_group(&p, &grp, &it, nkeys) == -1,
				  "group seek: ordinal out of range");
		}

		/* the same through an in-memory source (its single fast path) */
		{
			FstSource	msrc;
			FstPostings mp;
			FstPostingsGroup grp2;

			msrc.read = fst_memory_read;
			msrc.arg = out.data;
			msrc.size = out.len;
			CHECK(fst_postings_open(&mp, &msrc) == 0, "memory postings open");
			fst_postings_group_reset(&grp);
			fst_postings_group_reset(&grp2);
			for (i = 0; rc == 0 && i < nkeys; i++)
			{
				size_t		ord = rndn(2) ? i : rndn(nkeys);
				FstPostingsIter it;
				uint64_t	total = 0;
				int64_t		m;

				{
					FstTid		one;
					int			r1 = fst_postings_single(&mp, &grp, ord, &one);

					CHECK(l[ord].n == 1 ?
						  (r1 == 1 && memcmp(&one, l[ord].t, sizeof(FstTid)) == 0) :
						  r1 == 0,
						  "postings single %zu: %d (n %llu)", ord, r1,
						  (unsigned long long) l[ord].n);
					r1 = fst_postings_single(&p, &grp2, ord, &one);
					CHECK(l[ord].n == 1 ?
						  (r1 == 1 && memcmp(&one, l[ord].t, sizeof(FstTid)) == 0) :
						  r1 == 0,
						  "postings single (page source) %zu: %d", ord, r1);
				}
				rc = fst_postings_seek_group(&mp, &grp, &it, ord);
				CHECK(rc == 0 && it.count == l[ord].n,
					  "memory group seek %zu: %s", ord, mp.errmsg);
				if (rc != 0)
					break;
				while ((m = fst_postings_next(&it, got + total, 7)) > 0)
					total += (uint64_t) m;
				CHECK(m == 0 && total == l[ord].n &&
					  memcmp(got, l[ord].t, sizeof(FstTid) * total) == 0,
					  "memory group seek list %zu mismatch", ord);
			}
		}
	}
	CHECK(ps.violations == 0, "postings read out of bounds");

	/* corruptions must not crash or read out of bounds */
	{
		uint8_t    *copy = malloc(out.len);
		int			iter;

		for (iter = 0; iter < 500; iter++)
		{
			FstPostings cp;
			size_t		size = out.len;
			int			flips;

			memcpy(copy, out.data, out.len);
			for (flips = 1 + (int) rndn(4); flips > 0; flips--)
				copy[rndn(out.len - FST_POSTINGS_TRAILER_SIZE)] ^=
					(uint8_t) (1 + rndn(255));
			if (rndn(4) == 0)
				size = rndn(out.len);
			ps.data = copy;
			ps.size = size;
			src.size = size;
			if (fst_postings_open(&cp, &src) == 0)
			{
				size_t		j;
				FstPostingsGroup grp;

				fst_postings_group_reset(&grp);
				for (j = 0; j < 40; j++)
				{
					FstPostingsIter it;

					if (fst_postings_seek(&cp, &it, rndn(nkeys + 1)) == 0)
					{
						/* callers size buffers by the count */
						CHECK(it.count <= 1 + 4 * (uint64_t) size &&
							  it.count <= cp.ntids + 1,
							  "corrupt postings: count %llu unbounded",
							  (unsigned long long) it.count);
						while (fst_postings_next(&it, got, maxn + 1) > 0)
							;
					}
					if (fst_postings_seek_group(&cp, &grp, &it,
												j % 2 ? rndn(nkeys + 1) :
												(j * 3) % (nkeys + 1)) == 0)
						while (fst_postings_next(&it, got, maxn + 1) > 0)
							;
					(void) fst_postings_single(&cp, &grp, rndn(nkeys + 1),
											   got);
				}
			}
		}
		CHECK(ps.violations == 0, "corrupt postings read out of bounds");
		free(copy);
	}

	free(got);
	for (i = 0; i < nkeys; i++)
		free(l[i].t);
	free(l);
	free(out.data);
}

/*
 * Write varint v at p (LEB128); returns its length.  Local to the test:
 * fst_bytes.h's is internal.
 */
static size_t
test_varint(uint8_t *p, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		p[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t) v;
	return n;
}

/*
 * A posting list's count is checked before fst_postings_seek returns it:
 * not more than its payload can hold (1 + 4 per byte), than the image's
 * TIDs, than its longest list.  The image: key 0 with 100 neighbouring
 * TIDs (a payload of some 28 bytes), key 1 with 2, no singles, so group
 * 0 starts with a flags byte 0 and then key 0's count.
 */
static void
test_postings_count_bound(void)
{
	Buf			out = {0};
	FstPostingsWriter *w = fst_postings_writer_create(&talloc, buf_sink, &out);
	FstTid		t[100];
	uint8_t    *img;
	const uint8_t *tr;
	uint64_t	table;
	uint64_t	g0;
	int			i;
	static const struct
	{
		uint64_t	count;
		const char *what;
	}			cases[] = {
		{127, "count past what the payload holds"},
		{UINT64_C(0x2AAAAAAAAAAAAAAB), "count whose TID array size wraps"},
		{101, "count past the image's longest list"},
		{UINT64_MAX >> 1, "count past 2^62"},
	};

	for (i = 0; i < 100; i++)
	{
		t[i].bi_hi = 0;
		t[i].bi_lo = 7;
		t[i].offset = (uint16_t) (i + 1);
	}
	CHECK(fst_postings_add(w, t, 100) == 0 && fst_postings_add(w, t, 2) == 0 &&
		  fst_postings_finish(w, NULL) == 0, "count bound: image built");
	fst_postings_writer_destroy(w);
	tr = out.data + out.len - FST_POSTINGS_TRAILER_SIZE;
	table = 0;
	for (i = 0; i < 8; i++)
		table |= (uint64_t) tr[24 + i] << (8 * i);
	g0 = 0;
	for (i = 0; i < tr[6]; i++)
		g0 |= (uint64_t) out.data[table + i] << (8 * i);
	CHECK(out.data[g0] == 0 && out.data[g0 + 1] == 100,
		  "count bound: group 0 starts with key 0's count");
	img = malloc(out.len);
	for (i = 0; i < (int) (sizeof(cases) / sizeof(cases[0])); i++)
	{
		PageSrc		ps;
		FstSource	src;
		FstPostings p;
		FstPostingsIter it;
		uint8_t		v[10];
		size_t		n = test_varint(v, cases[i].count);
		int			rc;

		memcpy(img, out.data, out.len);
		if (n == 1)
			img[g0 + 1] = v[0];
		else
		{
			/*
			 * Over the old count, its payload length and payload start: a
			 * payload length inside the group, then a first TID (7,1).
			 */
			memcpy(img + g0 + 1, v, n);
			img[g0 + 1 + n] = 20;
			img[g0 + 2 + n] = 7;
			img[g0 + 3 + n] = 1;
		}
		ps.data = img;
		ps.size = out.len;
		ps.violations = 0;
		src.read = page_read;
		src.arg = &ps;
		src.size = out.len;
		CHECK(fst_postings_open(&p, &src) == 0, "count bound: open");
		rc = fst_postings_seek(&p, &it, 0);
		CHECK(rc < 0, "count bound: %s accepted (count %llu)", cases[i].what,
			  (unsigned long long) it.count);
		CHECK(rc >= 0 || strstr(p.errmsg, "out of range") != NULL,
			  "count bound: %s: message \"%s\"", cases[i].what, p.errmsg);
		CHECK(ps.violations == 0, "count bound: read out of bounds");
		/* key 1 is undamaged, and found past key 0 if its length is */
		if (n == 1)
			CHECK(fst_postings_seek(&p, &it, 1) == 0 && it.count == 2,
				  "count bound: the next key still reads");
	}
	free(img);
	free(out.data);
}

static void
test_postings(void)
{
	test_postings_set(1, 10, 0);
	test_postings_set(64, 1000, 0);
	test_postings_set(65, 0, 0);
	test_postings_set(128, 5, 0);
	test_postings_set(129, 70000, 0);
	test_postings_set(257, 1, 0);
	test_postings_set(1000, 20000, 1);
	test_postings_set(3000, UINT32_MAX, 0);
}

int
main(void)
{
	test_builder_errors();
	test_fst_keysets();
	test_top_region();
	test_share_window();
	test_top_corruption();
	test_corruption();
	test_pack_errors();
	test_pack_gain();
	test_postings();
	test_postings_count_bound();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
