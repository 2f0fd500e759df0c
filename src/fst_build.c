/*-------------------------------------------------------------------------
 *
 * fst_build.c
 *	  One-pass construction of a minimal acyclic FST from sorted keys.
 *
 * The classic algorithm (Daciuk et al.; the Rust fst crate and Lucene use
 * the same idea): the path of the previous key is kept as a stack of
 * unfinished nodes, one per depth.  When the next key arrives, the part of
 * the stack below the common prefix can never change again, so those nodes
 * are "compiled" deepest first: looked up among the nodes already written
 * (suffix sharing) and written to the sink only if not found.  Only the
 * nodes where keys branch are kept as UNodes; the others, most of the path
 * for long keys, are implicit in the previous key's bytes.
 *
 * Memory is bounded (FstBuildOptions.registry_bytes), so it does not grow
 * with the number of keys; when the builder forgets a node the automaton
 * just becomes a little less minimal.  How the nodes of a path are compiled
 * and found among those already written (the suffix registry) is explained
 * in fst_registry.c.
 *
 * The byte format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst_build_int.h"

#include <string.h>

#define DEFAULT_REGISTRY_BYTES	((size_t) 2 << 20)

/* Labels frequent in paths, URLs and names. */
static const uint8_t default_common[FST_NCOMMON] = {
	'/', '.', '-', '_', 'e', 'a', 't', 's', 'o', 'i', 'r', 'n', 'l', 'c',
	'm', 'd', 'p', 'u', 'h', 'g', 'b', 'y', 'f', 'k', 'v', 'w', '0', '1',
	'2', '3', 'x', '4', '5', '6', '7', '8', '9', 'j', 'q', 'z', 'S', 'C',
	'A', 'T', 'E', 'M', 'P', 'R', 'D', 'I', 'L', 'N', 'O', 'B', 'F', 'G',
	'H', 'U', 'V', 'W', '+', '@', ':'
};

/* Record an error message; the builder refuses further work. */
static int
build_error(FstBuilder *b, const char *msg)
{
	size_t		n = strlen(msg);

	if (n >= FST_ERRMSG_LEN)
		n = FST_ERRMSG_LEN - 1;
	memcpy(b->errmsg, msg, n);
	b->errmsg[n] = '\0';
	b->failed = true;
	return -1;
}

/*
 * Hand the complete CHUNKs of output to the sink, and with `all` also the
 * rest.  Returns 0, or -1 if the sink failed.
 */
int
fst_build_flush_out(FstBuilder *b, bool all)
{
	while (b->written - b->flushed >= CHUNK ||
		   (all && b->written > b->flushed))
	{
		uint64_t	n = b->written - b->flushed;

		if (n > CHUNK)
			n = CHUNK;
		if (b->sink(b->sink_arg, b->ring + (b->flushed & b->ring_mask),
					(size_t) n) != 0)
			return build_error(b, "fst sink failed");
		b->flushed += n;
	}
	return 0;
}

/*
 * Append bytes that are not a node (preamble, trailer) to the output.
 * Returns 0 or -1.
 */
static int
emit(FstBuilder *b, const uint8_t *data, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		ring_put(b, data[i]);
		if (b->written - b->flushed >= CHUNK &&
			fst_build_flush_out(b, false) != 0)
			return -1;
	}
	return 0;
}

/* Resize an allocation; ptr may be NULL (then oldsize is 0). */
static void *
grow(FstBuilder *b, void *ptr, size_t oldsize, size_t newsize)
{
	if (ptr == NULL)
		return b->a.alloc(b->a.arg, newsize);
	return b->a.realloc(b->a.arg, ptr, oldsize, newsize);
}

/* Grow the unfinished stack to hold `need` nodes. */
static void
ensure_stack(FstBuilder *b, uint32_t need)
{
	uint32_t	newcap;

	if (need <= b->stack_cap)
		return;
	newcap = b->stack_cap ? b->stack_cap : 16;
	while (newcap < need)
		newcap *= 2;
	b->stack = grow(b, b->stack,
					sizeof(UNode) * b->stack_cap,
					sizeof(UNode) * newcap);
	b->prev = grow(b, b->prev, b->stack_cap, newcap);
	b->born = grow(b, b->born, sizeof(uint64_t) * b->stack_cap,
				   sizeof(uint64_t) * newcap);
	b->born_depth = grow(b, b->born_depth, sizeof(uint32_t) * b->stack_cap,
						 sizeof(uint32_t) * newcap);
	b->born_written = grow(b, b->born_written,
						   sizeof(uint64_t) * b->stack_cap,
						   sizeof(uint64_t) * newcap);
	b->real = grow(b, b->real, sizeof(uint32_t) * b->stack_cap,
				   sizeof(uint32_t) * newcap);
	memset(b->stack + b->stack_cap, 0,
		   sizeof(UNode) * (newcap - b->stack_cap));
	b->stack_cap = newcap;
}

/* Append a transition to an unfinished node. */
static void
unode_push(FstBuilder *b, UNode *u, uint8_t label, uint64_t start)
{
	UTrans	   *t;

	if (u->n == u->cap)
	{
		uint32_t	newcap = u->cap ? u->cap * 2 : 2;

		if (newcap > 256)
			newcap = 256;
		u->t = grow(b, u->t, sizeof(UTrans) * u->cap, sizeof(UTrans) * newcap);
		u->cap = newcap;
	}
	t = &u->t[u->n++];
	t->label = label;
	t->target = 0;
	t->start = start;
	t->hash = 0;
}

/* Reset a stack slot to an empty node whose first key is `first`. */
static void
unode_reset(UNode *u, uint64_t first)
{
	u->final = false;
	u->n = 0;
	u->first = first;
}

/*
 * Create a builder.  The preamble is buffered at once; nothing reaches the
 * sink before the first flush.
 */
FstBuilder *
fst_builder_create(const FstAllocator *alloc, FstSinkFn sink, void *sink_arg,
				   const FstBuildOptions *opts)
{
	FstBuilder *b;
	size_t		budget = DEFAULT_REGISTRY_BYTES;
	const uint8_t *common = default_common;
	size_t		ring;
	int			i;

	if (opts && opts->registry_bytes)
		budget = opts->registry_bytes;
	if (opts && opts->common_labels)
		common = opts->common_labels;

	b = alloc->alloc(alloc->arg, sizeof(FstBuilder));
	memset(b, 0, sizeof(FstBuilder));
	b->a = *alloc;
	b->sink = sink;
	b->sink_arg = sink_arg;

	/*
	 * Half of the budget (rounded down to a power of two) for the output
	 * ring and an eighth of that for its bitmap, 1/4 for the table of
	 * single-transition nodes, 1/16 for the table of other nodes and 1/8
	 * for the ring of their descriptions.  All of it is deliberately
	 * small: a node found far back costs its parent a long delta, often
	 * more than writing it again would, and small tables forget such nodes
	 * first and stay in cache.  On 1M npm names and 1M Debian paths, 8 MB
	 * gave the same image sizes (within 0.01 B/key) as 64 MB did with the
	 * ring taking 32 MB and the tables and descriptions 17 MB.  The default
	 * of 2 MB costs npm 0.25 B/key and the paths 0.07 against 8 MB, and
	 * builds 4-19% faster (six interleaved pairs of fst_measure -n 3):
	 * the tables fit in a core's L2 cache and stay fast when other work
	 * on the machine crowds the shared L3.
	 */
	ring = 2 * CHUNK;
	while (ring * 2 <= budget / 2)
		ring *= 2;
	b->ring = alloc->alloc(alloc->arg, ring);
	b->ends = alloc->alloc(alloc->arg, ring / 8);
	memset(b->ends, 0, ring / 8);
	b->ring_mask = ring - 1;
	b->nsingle = budget / 4 / (REG_WAYS * sizeof(SingleEntry));
	if (b->nsingle < 1)
		b->nsingle = 1;
	if (b->nsingle > UINT32_MAX)
		b->nsingle = UINT32_MAX;
	b->single_mem = alloc->alloc(alloc->arg,
								 b->nsingle * REG_WAYS * sizeof(SingleEntry) + 63);
	b->single_tab = (SingleEntry *)
		(((uintptr_t) b->single_mem + 63) & ~(uintptr_t) 63);
	memset(b->single_tab, 0, b->nsingle * REG_WAYS * sizeof(SingleEntry));
	b->nmulti = budget / 16 / (REG_WAYS * sizeof(MultiEntry));
	if (b->nmulti < 1)
		b->nmulti = 1;
	if (b->nmulti > UINT32_MAX)
		b->nmulti = UINT32_MAX;
	b->multi_mem = alloc->alloc(alloc->arg,
								b->nmulti * REG_WAYS * sizeof(MultiEntry) + 63);
	b->multi_tab = (MultiEntry *)
		(((uintptr_t) b->multi_mem + 63) & ~(uintptr_t) 63);
	memset(b->multi_tab, 0, b->nmulti * REG_WAYS * sizeof(MultiEntry));
	b->pool_cap = budget / 8;
	if (b->pool_cap < DESC_MAX)
		b->pool_cap = DESC_MAX;
	b->pool = alloc->alloc(alloc->arg, b->pool_cap);

	if (opts)
	{
		b->unit_bytes = opts->unit_bytes;
		b->share_window = opts->unit_bytes ? opts->share_window : 0;
	}
	/*
	 * With a top region only the codes a packed image has too (fst.h, "TOP
	 * REGION"), so that no node grows when fst_pack re-encodes it.
	 */
	memset(b->code_of, 0, sizeof(b->code_of));
	for (i = (b->unit_bytes ? FST_CHAIN_CODE0 - 1 : FST_NCOMMON) - 1; i >= 0;
		 i--)
		b->code_of[common[i]] = (uint8_t) (i + 1);

	put_u32(b->preamble, FST_MAGIC);
	put_u16(b->preamble + 4, b->unit_bytes ? FST_VERSION_TOP : FST_VERSION);
	put_u16(b->preamble + 6, 0);
	memcpy(b->preamble + 8, common, FST_NCOMMON);
	b->preamble[8 + FST_NCOMMON] = 0;
	(void) emit(b, b->preamble, FST_PREAMBLE_SIZE);

	if (opts && opts->pack_map)
		b->map = fst_pack_map_new(alloc, 0);

	ensure_stack(b, 16);
	return b;
}

/* Grow the pack map to cover the image up to byte pos. */
FST_NOINLINE void
fst_build_map_grow(FstBuilder *b, uint64_t pos)
{
	FstPackMap *m = b->map;
	uint64_t	need = (pos >> 6) + 1;
	uint64_t	n;
	int			i;

	n = m->nwords ? m->nwords * 2 : 1024;
	if (n < need)
		n = need;
	for (i = 0; i < PM_NBITMAPS; i++)
	{
		m->bits[i] = grow(b, m->bits[i], sizeof(uint64_t) * m->nwords,
						  sizeof(uint64_t) * n);
		memset(m->bits[i] + m->nwords, 0,
			   sizeof(uint64_t) * (n - m->nwords));
	}
	m->nwords = n;
}

/*
 * Encode node u as if it started at `start` (beyond all its targets) into
 * L (FST_MAX_NODE_BYTES).  Returns the length, or 0 if a delta or output
 * is too large for the format.
 */
size_t
fst_build_encode_node(const FstBuilder *b, const UNode *u, uint64_t start,
					  uint8_t *L)
{
	size_t		len = 0;
	size_t		i;

	if (u->n == 0)
		L[len++] = 0x40;		/* final leaf */
	else if (u->n == 1 && !u->final)
		len = encode_single(b, L, u->t[0].label, u->t[0].target, start);
	else
	{
		uint8_t		labels[256];
		uint64_t	deltas[256];
		uint64_t	outs[256];

		for (i = 0; i < u->n; i++)
		{
			labels[i] = u->t[i].label;
			deltas[i] = start - 1 - u->t[i].target;
			outs[i] = u->t[i].start - u->first;
		}
		len = fst_encode_multi(L, u->final, u->n, labels, deltas, outs);
	}
	return len;
}

/*
 * Encode node u at the current output position and emit it.  Returns the
 * node's address (its last byte), or 0 with b->failed set.
 */
uint64_t
fst_build_write_node(FstBuilder *b, const UNode *u)
{
	size_t		len = fst_build_encode_node(b, u, b->written, b->node);
	uint32_t	i;

	if (len == 0)
	{
		build_error(b, "fst image or key count too large for the format");
		return 0;
	}
	if (u->n == 1 && !u->final)
		map_single(b, u->t[0].label, u->t[0].target);
	else if (b->map)
		for (i = 0; i < u->n; i++)
			pm_set(b->map, PM_FAR, u->t[i].target);
	return put_node(b, b->node, len);
}

/*
 * Is node u, whose first transition's subtree began when b->written was
 * `birth`, a top node (fst.h, "TOP REGION")?  It is if one of its
 * targets is, or if its own bytes -- those written since birth and its
 * own encoding -- exceed unit_bytes.  Only asked when unit_bytes > 0.
 */
bool
fst_build_is_top(FstBuilder *b, const UNode *u, uint64_t birth)
{
	uint64_t	own = b->written - birth;
	size_t		len;
	uint32_t	i;

	for (i = 0; i < u->n; i++)
		if (u->t[i].target & TOP_REF)
			return true;
	if (own + FST_MAX_NODE_BYTES <= b->unit_bytes)
		return false;
	len = fst_build_encode_node(b, u, b->written, b->node);
	/* a node too large for the format fails when it is written */
	return len != 0 && own + len > b->unit_bytes;
}

/*
 * Keep top node u in memory, to be written by fst_builder_finish; returns
 * the reference its parent records as the target (TOP_REF | index).
 */
uint64_t
fst_build_hold_top(FstBuilder *b, const UNode *u)
{
	TopNode    *t;

	if (b->ntop == b->top_cap)
	{
		uint64_t	cap = b->top_cap ? b->top_cap * 2 : 64;

		b->top = grow(b, b->top, sizeof(TopNode) * b->top_cap,
					  sizeof(TopNode) * cap);
		b->top_cap = cap;
	}
	if (b->ntop_t + u->n > b->top_t_cap)
	{
		uint64_t	cap = b->top_t_cap ? b->top_t_cap * 2 : 256;

		while (cap < b->ntop_t + u->n)
			cap *= 2;
		b->top_t = grow(b, b->top_t, sizeof(UTrans) * b->top_t_cap,
						sizeof(UTrans) * cap);
		b->top_t_cap = cap;
	}
	t = &b->top[b->ntop];
	t->final = u->final;
	t->n = u->n;
	t->first = u->first;
	t->trans = b->ntop_t;
	memcpy(b->top_t + b->ntop_t, u->t, sizeof(UTrans) * u->n);
	b->ntop_t += u->n;
	return TOP_REF | b->ntop++;
}

/*
 * Write the top nodes held back, in the order they were compiled, each
 * target resolved to the address its node got (targets in the leaf region
 * are final already).  Returns the address of the last (the root), or 0
 * with b->failed set.
 */
static uint64_t
write_top_region(FstBuilder *b)
{
	uint64_t   *placed;
	uint64_t	addr = 0;
	uint64_t	i;

	placed = b->a.alloc(b->a.arg, sizeof(uint64_t) * b->ntop);
	for (i = 0; i < b->ntop; i++)
	{
		TopNode    *t = &b->top[i];
		UNode		u;
		uint32_t	k;

		memset(&u, 0, sizeof(u));
		u.final = t->final;
		u.n = t->n;
		u.first = t->first;
		u.t = b->top_t + t->trans;
		for (k = 0; k < u.n; k++)
			if (u.t[k].target & TOP_REF)
				u.t[k].target = placed[u.t[k].target & ~TOP_REF];
		addr = fst_build_write_node(b, &u);
		if (addr == 0)
			break;
		placed[i] = addr;
	}
	b->a.free(b->a.arg, placed);
	return addr;
}

/*
 * The ordinal of the first key through depth d of the path; the keys
 * whose new depths begin below d are forgotten (the caller is about to
 * add a key whose new depths begin at d + 1, or to finish).
 */
static inline uint64_t
born_at(FstBuilder *b, uint32_t d)
{
	while (b->born_depth[b->nborn - 1] > d)
		b->nborn--;
	return b->born[b->nborn - 1];
}

/* Note the key being added as the first through depths d + 1 and on. */
static inline void
born_push(FstBuilder *b, uint32_t d)
{
	(void) born_at(b, d);
	b->born[b->nborn] = b->nkeys;
	b->born_depth[b->nborn] = d + 1;
	b->born_written[b->nborn] = b->written;
	b->nborn++;
}

/*
 * Make the node at depth d (<= b->depth, nothing deeper unfinished) a
 * real one, its last transition (if any) pointing to addr with hash h.
 */
static UNode *
make_real(FstBuilder *b, uint32_t d, uint64_t addr, uint64_t h)
{
	UNode	   *u = &b->stack[d];

	if (b->real[b->nreal - 1] != d)
	{
		/* implicit: the final leaf at the key's end, else a single */
		u->final = (d == b->depth);
		u->n = 0;
		u->first = born_at(b, d);
		if (d < b->depth)
			unode_push(b, u, b->prev[d], u->first);
		b->real[b->nreal++] = d;
	}
	if (d < b->depth)
	{
		u->t[u->n - 1].target = addr;
		u->t[u->n - 1].hash = h;
	}
	return u;
}

/*
 * Add the next key.  Everything of the previous key's path below the common
 * prefix is compiled; the new suffix is pushed as unfinished nodes.
 */
int
fst_builder_add(FstBuilder *b, const uint8_t *key, size_t len)
{
	uint32_t	lcp = 0;
	uint64_t	addr = 0;
	uint64_t	h = 0;

	if (b->failed)
		return -1;
	if (b->finished)
		return build_error(b, "fst builder already finished");
	if (len >= UINT32_MAX)
		return build_error(b, "fst key too long");
	ensure_stack(b, (uint32_t) len + 1);

	if (b->nkeys > 0)
	{
		uint32_t	prevlen = b->depth;
		const uint8_t *prev = b->prev;
		uint32_t	minlen = prevlen < len ? prevlen : (uint32_t) len;

		lcp = (uint32_t) common_prefix_len(prev, key, minlen);
		if (lcp == len || (lcp < prevlen && key[lcp] < prev[lcp]))
			return build_error(b, "fst keys not in strictly ascending order");
		if (fst_registry_close_path(b, lcp, &addr, &h) != 0)
			return -1;
	}
	else
	{
		/* the root is always real */
		unode_reset(&b->stack[0], 0);
		b->real[0] = 0;
		b->nreal = 1;
		b->born[0] = 0;
		b->born_depth[0] = 0;
		b->born_written[0] = b->written;
		b->nborn = 1;
	}

	if (lcp == len)
		b->stack[0].final = true;	/* the empty key, first */
	else
		unode_push(b, make_real(b, lcp, addr, h), key[lcp], b->nkeys);
	if (lcp < len)
		born_push(b, lcp);		/* the depths lcp + 1 .. len are this key's */
	memcpy(b->prev + lcp, key + lcp, len - lcp);
	b->depth = (uint32_t) len;
	if ((uint32_t) len > b->max_key_len)
		b->max_key_len = (uint32_t) len;
	b->nkeys++;
	return 0;
}

/* Compile the rest of the stack, write the trailer, flush the sink. */
int
fst_builder_finish(FstBuilder *b, FstInfo *info)
{
	uint64_t	root = 0;
	uint8_t		t[FST_TRAILER_SIZE];
	uint8_t		top[FST_TOP_FIELD_SIZE];

	if (b->failed)
		return -1;
	if (b->finished)
		return build_error(b, "fst builder already finished");
	if (b->nkeys > 0)
	{
		uint64_t	addr;
		uint64_t	h;
		UNode	   *u;

		if (fst_registry_close_path(b, 0, &addr, &h) != 0)
			return -1;
		u = make_real(b, 0, addr, h);
		/* the root is never shared: it accepts more than any other node */
		if (b->unit_bytes && fst_build_is_top(b, u, b->born_written[0]))
			(void) fst_build_hold_top(b, u);
		if (b->ntop > 0)
		{
			b->top_start = b->written;
			root = write_top_region(b);
		}
		else
			root = fst_build_write_node(b, u);
		if (b->failed)
			return -1;
	}
	if (b->ntop == 0)
		b->top_start = b->written;	/* an empty top region */
	put_u32(t, FST_TRAILER_MAGIC);
	put_u16(t + 4, b->unit_bytes ? FST_VERSION_TOP : FST_VERSION);
	put_u16(t + 6, 0);
	put_u64(t + 8, root);
	put_u64(t + 16, b->nkeys);
	put_u64(t + 24, b->written + FST_TRAILER_SIZE +
			(b->unit_bytes ? FST_TOP_FIELD_SIZE : 0));
	put_u32(t + 32, b->max_key_len);
	put_u64(top, b->top_start);
	put_u32(t + 36, fst_image_checksum(t, b->preamble, NULL,
									   b->unit_bytes ? top : NULL));
	if ((b->unit_bytes && emit(b, top, FST_TOP_FIELD_SIZE) != 0) ||
		emit(b, t, FST_TRAILER_SIZE) != 0 ||
		fst_build_flush_out(b, true) != 0)
		return -1;
	if (b->map)
	{
		/* the trailer points to the root */
		map_cover(b, b->written - 1);
		if (b->nkeys > 0)
			pm_set(b->map, PM_FAR, root);
	}
	b->finished = true;
	if (info)
	{
		info->nkeys = b->nkeys;
		info->size = b->written;
		info->root = root;
		info->max_key_len = b->max_key_len;
		info->nodes = b->nodes;
		info->registry_hits = b->hits;
		info->top_start = b->top_start;
		info->top_nodes = b->ntop;
	}
	return 0;
}

/* The last error message. */
const char *
fst_builder_error(const FstBuilder *b)
{
	return b->errmsg;
}

/* Keys added so far. */
uint64_t
fst_builder_nkeys(const FstBuilder *b)
{
	return b->nkeys;
}

/* Bytes produced so far, including those still buffered. */
uint64_t
fst_builder_written(const FstBuilder *b)
{
	return b->written;
}

/* The pack map of a finished builder; see fst.h. */
FstPackMap *
fst_builder_take_pack_map(FstBuilder *b)
{
	FstPackMap *m = b->map;

	if (!b->finished || b->failed)
		return NULL;
	b->map = NULL;
	return m;
}

/* A pack map covering nwords 64-byte groups, all clear (fst_node.h). */
FstPackMap *
fst_pack_map_new(const FstAllocator *alloc, uint64_t nwords)
{
	FstPackMap *map = alloc->alloc(alloc->arg, sizeof(FstPackMap));
	int			i;

	memset(map, 0, sizeof(FstPackMap));
	map->nwords = nwords;
	for (i = 0; i < PM_NBITMAPS && nwords > 0; i++)
	{
		map->bits[i] = alloc->alloc(alloc->arg, sizeof(uint64_t) * nwords);
		memset(map->bits[i], 0, sizeof(uint64_t) * nwords);
	}
	return map;
}

/* Free a pack map taken from a builder. */
void
fst_pack_map_free(const FstAllocator *alloc, FstPackMap *map)
{
	int			i;

	if (map == NULL)
		return;
	for (i = 0; i < PM_NBITMAPS; i++)
		if (map->bits[i])
			alloc->free(alloc->arg, map->bits[i]);
	alloc->free(alloc->arg, map);
}

/* Free everything the builder allocated. */
void
fst_builder_destroy(FstBuilder *b)
{
	uint32_t	i;

	if (b == NULL)
		return;
	fst_pack_map_free(&b->a, b->map);
	for (i = 0; i < b->stack_cap; i++)
	{
		UNode	   *u = &b->stack[i];

		if (u->cap)
			b->a.free(b->a.arg, u->t);
	}
	b->a.free(b->a.arg, b->stack);
	b->a.free(b->a.arg, b->prev);
	b->a.free(b->a.arg, b->born);
	b->a.free(b->a.arg, b->born_depth);
	b->a.free(b->a.arg, b->born_written);
	if (b->top)
		b->a.free(b->a.arg, b->top);
	if (b->top_t)
		b->a.free(b->a.arg, b->top_t);
	b->a.free(b->a.arg, b->real);
	b->a.free(b->a.arg, b->single_mem);
	b->a.free(b->a.arg, b->multi_mem);
	b->a.free(b->a.arg, b->pool);
	b->a.free(b->a.arg, b->ring);
	b->a.free(b->a.arg, b->ends);
	b->a.free(b->a.arg, b);
}

