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
 * just becomes a little less minimal.  Nodes are found in two ways:
 *
 *	- A node is written right after its last transition's target whenever
 *	  that target is the last node written, which is the rule along the
 *	  tails of keys.  So a node identical to one being compiled is first
 *	  looked for right after its target: the last part of the output is
 *	  kept in a ring, with a bitmap of where nodes end, and the candidate's
 *	  encoding there is compared byte for byte.  A shared chain of
 *	  single-transition nodes (a common file name, say) is thus found by
 *	  reading consecutive bytes, without touching any table.
 *	- The other nodes, written away from their target, are entered in a
 *	  registry table.  Single-transition non-final nodes have a table of
 *	  their own whose 16-byte entries hold the whole identity (label and
 *	  target address); the others are described in a ring of descriptions
 *	  that their table points into.  The one final leaf is kept by address.
 *
 * Nodes are placed in the tables by a structural hash, computed from their
 * labels and the structural hashes of their targets (so it needs no
 * addresses and is carried up a key's tail as it is compiled).  Entries
 * are compared by target addresses, so a hash collision only costs a
 * comparison.
 *
 * The byte format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#include <string.h>

#define CHUNK			65536	/* bytes handed to the sink at a time */
#define DESC_MAX		(3 + 256 * 11)
#define REG_WAYS		4		/* entries per bucket */

#define DEFAULT_REGISTRY_BYTES	((size_t) 2 << 20)

#if defined(__GNUC__) || defined(__clang__)
#define FST_PREFETCH(p) __builtin_prefetch(p)
#define FST_NOINLINE __attribute__((noinline))
#else
#define FST_PREFETCH(p) ((void) 0)
#define FST_NOINLINE
#endif

/* Structural hash of the final leaf, and the mixing constant. */
#define HASH_LEAF		UINT64_C(0x6a09e667f3bcc908)
#define HASH_MUL		UINT64_C(0x9e3779b97f4a7c15)

/* A transition of an unfinished node. */
typedef struct UTrans
{
	uint64_t	target;			/* address; unset (0) for the last one */
	uint64_t	start;			/* ordinal of the first key under it */
	uint64_t	hash;			/* structural hash of the target */
	uint8_t		label;
} UTrans;

/* A node on the unfinished stack. */
typedef struct UNode
{
	bool		final;
	uint32_t	n;				/* transitions */
	uint32_t	cap;
	uint64_t	first;			/* ordinal of the first key through here */
	uint64_t	hash;			/* structural hash, once the node is closed */
	UTrans	   *t;
} UNode;

/*
 * An entry of the table of single-transition non-final nodes: the node's
 * identity, target << 8 | label (never 0: targets are beyond the
 * preamble), and its address, with above bit 40 what is right after it:
 * label + 1 if that is a single-transition node whose "next" leads to
 * this one, else 0.  key 0 marks an empty entry.
 */
typedef struct SingleEntry
{
	uint64_t	key;
	uint64_t	addr;
} SingleEntry;

#define ENTRY_ADDR(e)	((e)->addr & FST_ADDR_MASK)
#define ENTRY_AFTER(e)	((e)->addr >> 40)

/*
 * An entry of the table of other nodes: where the node was written, 12
 * bits of its structural hash and the length of its description (less
 * than 4096; 0: empty entry), packed as addr << 24 | tag << 12 | len, and
 * where the description is in the description ring.
 */
typedef struct MultiEntry
{
	uint64_t	word;
	uint64_t	poolpos;		/* absolute position in the description ring */
} MultiEntry;

struct FstBuilder
{
	FstAllocator a;
	FstSinkFn	sink;
	void	   *sink_arg;

	/*
	 * The unfinished path is the previous key's.  Only the nodes at the
	 * depths listed in real[0..nreal) (ascending; always the root) are
	 * UNodes in stack[]; the node at any other depth j is implicit: the
	 * final leaf at the key's end, else a single transition labelled
	 * prev[j].
	 *
	 * The ordinal of the first key through depth j of the path is that of
	 * the last key added whose own new depths began at or above j: the
	 * keys are kept in born[0..nborn) with the first depth they added
	 * (born_depth, ascending), so that a key can be found and dropped
	 * once a later key's new depths begin at or above its own.
	 */
	UNode	   *stack;
	uint32_t	stack_cap;		/* entries of stack, prev, born* and real */
	uint32_t	depth;			/* length of the previous key */
	uint8_t    *prev;			/* the previous key */
	uint64_t   *born;
	uint32_t   *born_depth;
	uint32_t	nborn;
	uint32_t   *real;
	uint32_t	nreal;

	uint64_t	nkeys;
	uint64_t	written;		/* bytes emitted so far (logical) */
	uint32_t	max_key_len;
	uint64_t	nodes;
	uint64_t	hits;
	bool		failed;
	bool		finished;

	uint8_t		preamble[FST_PREAMBLE_SIZE];
	uint8_t		code_of[256];	/* label -> common code (0: none) */

	uint64_t	leaf;			/* address of the final leaf, or 0 */

	/*
	 * The single-transition node last entered in the table and its entry
	 * (valid while that node is the last one written); the node last found
	 * there and what its entry says is right after it.
	 */
	uint64_t	entered;
	SingleEntry *entered_entry;
	uint64_t	found;
	uint64_t	found_after;

	void	   *single_mem;		/* allocation holding single_tab */
	SingleEntry *single_tab;	/* nsingle buckets of REG_WAYS, aligned */
	uint64_t	nsingle;
	void	   *multi_mem;		/* allocation holding multi_tab */
	MultiEntry *multi_tab;		/* nmulti buckets of REG_WAYS, aligned */
	uint64_t	nmulti;
	uint8_t    *pool;			/* the description ring, pool_cap bytes */
	uint64_t	pool_cap;
	uint64_t	pool_written;	/* bytes of descriptions written so far */

	/*
	 * The last ring_mask + 1 bytes of output (a power of two, a multiple of
	 * CHUNK): bytes [flushed, written) are still to be handed to the sink,
	 * the older ones are kept to find nodes in.  Bit p % ring size of ends
	 * is set when byte p is the last byte of a node (valid for all but the
	 * oldest 64 bytes; see ring_put).
	 */
	uint8_t    *ring;
	uint64_t   *ends;
	uint64_t	ring_mask;
	uint64_t	flushed;
	uint8_t		desc[DESC_MAX];
	uint8_t		node[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];

	/* what fst_pack will need (FstBuildOptions.pack_map), or NULL */
	FstPackMap *map;
};

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
static int
flush_out(FstBuilder *b, bool all)
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
 * Append one byte to the ring (not yet handed to the sink).  The word of
 * the ends bitmap a byte starts is cleared, so the bits of the ring's
 * previous round are gone for all bytes but the last 64 (see ring_match).
 */
static inline void
ring_put(FstBuilder *b, uint8_t byte)
{
	uint64_t	r = b->written & b->ring_mask;

	if ((r & 63) == 0)
		b->ends[r >> 6] = 0;
	b->ring[r] = byte;
	b->written++;
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
		if (b->written - b->flushed >= CHUNK && flush_out(b, false) != 0)
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

	memset(b->code_of, 0, sizeof(b->code_of));
	for (i = FST_NCOMMON - 1; i >= 0; i--)
		b->code_of[common[i]] = (uint8_t) (i + 1);

	put_u32(b->preamble, FST_MAGIC);
	put_u16(b->preamble + 4, FST_VERSION);
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
static FST_NOINLINE void
map_grow(FstBuilder *b, uint64_t pos)
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

/* Make the pack map cover the image up to byte pos. */
static inline void
map_cover(FstBuilder *b, uint64_t pos)
{
	if ((pos >> 6) >= b->map->nwords)
		map_grow(b, pos);
}

/*
 * Record in the pack map a single-transition node with this label and
 * target being written now (before its bytes).
 */
static inline void
map_single(FstBuilder *b, uint8_t label, uint64_t target)
{
	if (b->map)
	{
		pm_set(b->map, target == b->written - 1 ? PM_NEXT : PM_FAR, target);
		b->map->counts[label]++;
	}
}

/* Mix one more 64-bit value into a structural hash. */
static inline uint64_t
hash_mix(uint64_t h, uint64_t v)
{
	return (((h << 23) | (h >> 41)) ^ v) * HASH_MUL;
}

/*
 * The structural hash of a node whose targets' hashes are all set: equal
 * for nodes with equal labels, finality and (structurally equal) targets.
 */
static inline uint64_t
node_hash(const UNode *u)
{
	uint64_t	h;
	uint32_t	i;

	if (u->n == 0)
		return HASH_LEAF;
	if (u->n == 1 && !u->final)
		return hash_mix(u->t[0].hash, u->t[0].label);
	h = (u->final ? 0x300 : 0x200) + u->n;
	for (i = 0; i < u->n; i++)
		h = hash_mix(hash_mix(h, u->t[i].label), u->t[i].hash);
	return h;
}

/* Bucket index in a table of n buckets for structural hash h. */
static inline uint64_t
bucket_of(uint64_t h, uint64_t n)
{
	return ((h >> 32) * n) >> 32;
}

/*
 * Mark the last byte written as the end of a node and count the node.
 * Returns the node's address, or 0 with b->failed set.
 */
static inline uint64_t
end_node(FstBuilder *b)
{
	uint64_t	p = b->written - 1;
	uint64_t	r = p & b->ring_mask;

	b->ends[r >> 6] |= (uint64_t) 1 << (r & 63);
	if (b->map)
	{
		map_cover(b, p);
		pm_set(b->map, PM_END, p);
	}
	b->nodes++;
	if (b->written - b->flushed >= CHUNK && flush_out(b, false) != 0)
		return 0;
	return p;
}

/*
 * Append the encoded node L[0..len) (logical order, len <= FST_MAX_NODE_BYTES)
 * to the output, last byte first.  Returns the node's address, or 0 with
 * b->failed set.
 */
static inline uint64_t
put_node(FstBuilder *b, const uint8_t *L, size_t len)
{
	size_t		i;

	for (i = len; i > 0; i--)
		ring_put(b, L[i - 1]);
	return end_node(b);
}

/*
 * Is there a node right after the node ending at `after` (that is, one
 * starting at after + 1) whose encoding is L[0..len), still in the ring?
 * Only bytes more than 64 younger than the ring's oldest have valid end
 * bits (ring_put).
 */
static inline bool
ring_match(const FstBuilder *b, uint64_t after, const uint8_t *L, size_t len)
{
	uint64_t	s = after + 1;
	uint64_t	e = after + len;
	uint64_t	p;
	size_t		i;

	if (e >= b->written || b->written - s > b->ring_mask + 1 - 64)
		return false;
	for (i = 0; i < len; i++)
	{
		p = (s + i) & b->ring_mask;
		if (b->ring[p] != L[len - 1 - i] ||
			((b->ends[p >> 6] >> (p & 63)) & 1) != (i == len - 1))
			return false;
	}
	return true;
}

/*
 * Encode a single-transition non-final node with the given label and
 * target as if it started at `start` (> target) into L; returns the
 * length.
 */
static inline size_t
encode_single(const FstBuilder *b, uint8_t *L, uint8_t label, uint64_t target,
			  uint64_t start)
{
	return fst_encode_single(L, b->code_of[label], label, start - 1 - target);
}

/*
 * Encode node u as if it started at `start` (beyond all its targets) into
 * L (FST_MAX_NODE_BYTES).  Returns the length, or 0 if a delta or output
 * is too large for the format.
 */
static size_t
encode_node(const FstBuilder *b, const UNode *u, uint64_t start, uint8_t *L)
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
static uint64_t
write_node(FstBuilder *b, const UNode *u)
{
	size_t		len = encode_node(b, u, b->written, b->node);
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
 * Write a single-transition non-final node right after its target, the
 * last node written (the usual case along a key's tail; such a node cannot
 * exist yet).  Returns its address, or 0 with b->failed set.
 */
static inline uint64_t
write_single_next(FstBuilder *b, uint8_t label, uint64_t target)
{
	uint8_t		code = b->code_of[label];

	map_single(b, label, target);
	if (target == b->entered)
		b->entered_entry->addr |= (uint64_t) (label + 1) << 40;
	if (code == 0)
		ring_put(b, label);
	ring_put(b, 0xc0 | code);	/* single, "next" */
	return end_node(b);
}

/*
 * Compile a single-transition non-final node whose target is not the last
 * node written: return the address of an identical node if one can be
 * found, else write it.
 *
 * A node is written right after its target whenever it can be, so an
 * identical node is first looked for right after the target: in the
 * table entry of the target if the target was just found there, else in
 * the ring.  Only nodes written elsewhere are entered in the table.
 */
static FST_NOINLINE uint64_t
find_single(FstBuilder *b, uint8_t label, uint64_t target, uint64_t hash)
{
	uint64_t	key = target << 8 | label;
	uint8_t		code = b->code_of[label];
	uint8_t		hdr = 0xc0 | code;	/* single, "next" */
	uint64_t	e;
	SingleEntry *ent;
	uint8_t		L[11];
	size_t		len;
	uint64_t	addr;
	int			i;

	/* its bucket is fetched while the ring is looked at */
	ent = b->single_tab + bucket_of(hash, b->nsingle) * REG_WAYS;
	FST_PREFETCH(ent);
	e = target + (code == 0 ? 2 : 1);
	if (target == b->found)
	{
		/*
		 * The target came from the table, whose entry tells what is right
		 * after it: no need to read the ring there (a cache miss, most
		 * likely).
		 */
		if (b->found_after == (uint64_t) label + 1)
		{
			b->hits++;
			return e;
		}
	}
	else if (e < b->written && b->written - target <= b->ring_mask + 1 - 64)
	{
		uint64_t	r = e & b->ring_mask;

		if (b->ring[r] == hdr && ((b->ends[r >> 6] >> (r & 63)) & 1) != 0)
		{
			uint64_t	q = (target + 1) & b->ring_mask;

			if (code != 0 ||
				(b->ring[q] == label &&
				 ((b->ends[q >> 6] >> (q & 63)) & 1) == 0))
			{
				b->hits++;
				return e;
			}
		}
	}

	for (i = 0; i < REG_WAYS; i++)
		if (ent[i].key == key)
		{
			b->hits++;
			b->found = ENTRY_ADDR(&ent[i]);
			b->found_after = ENTRY_AFTER(&ent[i]);
			return b->found;
		}
	map_single(b, label, target);
	len = encode_single(b, L, label, target, b->written);
	addr = put_node(b, L, len);
	/* newest first; the oldest falls out */
	for (i = REG_WAYS - 1; i > 0; i--)
		ent[i] = ent[i - 1];
	ent[0].key = key;
	ent[0].addr = addr;
	b->entered = addr;
	b->entered_entry = &ent[0];
	return addr;
}

/*
 * Compile a single-transition non-final node whose target is set: return
 * the address of an identical node if one can be found, else write it.
 */
static inline uint64_t
compile_single(FstBuilder *b, uint8_t label, uint64_t target, uint64_t hash)
{
	if (target == b->written - 1)
		return write_single_next(b, label, target);
	return find_single(b, label, target, hash);
}

/* Compile the final leaf: written once, then shared. */
static inline uint64_t
compile_leaf(FstBuilder *b)
{
	uint8_t		L = 0x40;

	if (b->leaf != 0)
	{
		b->hits++;
		return b->leaf;
	}
	b->leaf = put_node(b, &L, 1);
	return b->leaf;
}

/*
 * Compile any other node (n > 0, its targets set), as compile_single; the
 * table entries of these nodes point to their descriptions in the
 * description ring, which are compared.
 */
static uint64_t
compile_multi(FstBuilder *b, const UNode *u)
{
	size_t		len = 0;
	uint64_t	tag;
	uint64_t	last;
	MultiEntry *e;
	uint64_t	addr;
	uint64_t	ringpos;
	uint32_t	i;

	last = u->t[u->n - 1].target;
	if (last == b->written - 1)
		return write_node(b, u);
	len = encode_node(b, u, last + 1, b->node);
	if (len != 0 && ring_match(b, last, b->node, len))
	{
		b->hits++;
		return last + len;
	}

	len = 0;
	b->desc[len++] = u->final ? 1 : 0;
	len += put_varint(b->desc + len, u->n);
	for (i = 0; i < u->n; i++)
	{
		b->desc[len++] = u->t[i].label;
		len += put_varint(b->desc + len, u->t[i].target);
	}
	tag = (u->hash & 0xfff) << 12 | len;
	e = b->multi_tab + bucket_of(u->hash, b->nmulti) * REG_WAYS;
	for (i = 0; i < REG_WAYS; i++)
	{
		if (e[i].word == 0 || b->pool_written - e[i].poolpos > b->pool_cap)
			break;				/* empty, or its description was overwritten */
		if ((e[i].word & 0xffffff) == tag &&
			memcmp(b->pool + e[i].poolpos % b->pool_cap, b->desc, len) == 0)
		{
			b->hits++;
			return e[i].word >> 24;
		}
	}

	addr = write_node(b, u);
	if (b->failed)
		return 0;

	/* remember it; descriptions never wrap around the end of the ring */
	ringpos = b->pool_written % b->pool_cap;
	if (ringpos + len > b->pool_cap)
		b->pool_written += b->pool_cap - ringpos;
	memcpy(b->pool + b->pool_written % b->pool_cap, b->desc, len);
	for (i = REG_WAYS - 1; i > 0; i--)
		e[i] = e[i - 1];
	e[0].word = addr << 24 | tag;
	e[0].poolpos = b->pool_written;
	b->pool_written += len;
	return addr;
}

/* Compile a real node whose targets are all set; sets u->hash. */
static uint64_t
compile_real(FstBuilder *b, UNode *u)
{
	u->hash = node_hash(u);
	if (u->n == 0)
		return compile_leaf(b);
	if (u->n == 1 && !u->final)
		return compile_single(b, u->t[0].label, u->t[0].target, u->hash);
	return compile_multi(b, u);
}

/*
 * Compile the nodes of the previous key's path deeper than `keep`, deepest
 * first, each pointing to the one compiled before it.  Returns 0 and the
 * address and structural hash of the node at depth keep + 1 (which the
 * caller points the node at depth keep to), or -1.
 */
static int
close_path(FstBuilder *b, uint32_t keep, uint64_t *addr_out,
		   uint64_t *hash_out)
{
	uint32_t	j = b->depth;
	uint64_t	addr = 0;
	uint64_t	h = 0;
	bool		child = false;
	uint32_t	next_real = b->real[b->nreal - 1];

	for (; j > keep; j--)
	{
		if (j == next_real)
		{
			UNode	   *u = &b->stack[j];

			if (child)
			{
				u->t[u->n - 1].target = addr;
				u->t[u->n - 1].hash = h;
			}
			addr = compile_real(b, u);
			h = u->hash;
			b->nreal--;
			/* the root is real and never closed here: nreal stays > 0 */
			next_real = b->real[b->nreal - 1];
		}
		else if (!child)
		{
			h = HASH_LEAF;
			addr = compile_leaf(b);
		}
		else
		{
			h = hash_mix(h, b->prev[j]);
			addr = compile_single(b, b->prev[j], addr, h);
		}
		/* every failure sets b->failed and returns address 0 */
		if (addr == 0 && b->failed)
			return -1;
		child = true;
	}
	*addr_out = addr;
	*hash_out = h;
	return 0;
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

		/* eight bytes at a time, then the differing word byte by byte */
		while (lcp + 8 <= minlen)
		{
			uint64_t	x;
			uint64_t	y;

			memcpy(&x, prev + lcp, 8);
			memcpy(&y, key + lcp, 8);
			if (x != y)
				break;
			lcp += 8;
		}
		while (lcp < minlen && prev[lcp] == key[lcp])
			lcp++;
		if (lcp == len || (lcp < prevlen && key[lcp] < prev[lcp]))
			return build_error(b, "fst keys not in strictly ascending order");
		if (close_path(b, lcp, &addr, &h) != 0)
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

	if (b->failed)
		return -1;
	if (b->finished)
		return build_error(b, "fst builder already finished");
	if (b->nkeys > 0)
	{
		uint64_t	addr;
		uint64_t	h;
		UNode	   *u;

		if (close_path(b, 0, &addr, &h) != 0)
			return -1;
		u = make_real(b, 0, addr, h);
		/* the root is never shared: it accepts more than any other node */
		root = write_node(b, u);
		if (b->failed)
			return -1;
	}
	put_u32(t, FST_TRAILER_MAGIC);
	put_u16(t + 4, FST_VERSION);
	put_u16(t + 6, 0);
	put_u64(t + 8, root);
	put_u64(t + 16, b->nkeys);
	put_u64(t + 24, b->written + FST_TRAILER_SIZE);
	put_u32(t + 32, b->max_key_len);
	put_u32(t + 36, trailer_checksum(t, b->preamble));
	if (emit(b, t, FST_TRAILER_SIZE) != 0 || flush_out(b, true) != 0)
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
	b->a.free(b->a.arg, b->real);
	b->a.free(b->a.arg, b->single_mem);
	b->a.free(b->a.arg, b->multi_mem);
	b->a.free(b->a.arg, b->pool);
	b->a.free(b->a.arg, b->ring);
	b->a.free(b->a.arg, b->ends);
	b->a.free(b->a.arg, b);
}
