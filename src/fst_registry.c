/*-------------------------------------------------------------------------
 *
 * fst_registry.c
 *	  The FST builder's suffix registry: compiling the nodes of the
 *	  previous key's path that can no longer change (fst_build.c), each
 *	  found among the nodes already written or else written.
 *
 * Nodes are found in two ways:
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
 * The registry's memory is bounded (FstBuildOptions.registry_bytes; the
 * builder sizes the ring and the tables when it is created), so a node it
 * has forgotten is written again.
 *
 * With a top region (FstBuildOptions.unit_bytes), a node found to be a
 * top node as its path is closed bypasses the registry altogether: it is
 * neither looked for nor entered, but held back (fst_build_hold_top).  So
 * no node of the leaf region ever points to a top node.
 *
 *-------------------------------------------------------------------------
 */
#include "fst_build_int.h"

#include <string.h>

/* Structural hash of the final leaf, and the mixing constant. */
#define HASH_LEAF		UINT64_C(0x6a09e667f3bcc908)
#define HASH_MUL		UINT64_C(0x9e3779b97f4a7c15)

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
 * May a node found at `addr` be shared?  Unless it ends within the share
 * window of the end of the output (FstBuildOptions.share_window), it is
 * written again instead.
 */
static inline bool
near_enough(const FstBuilder *b, uint64_t addr)
{
	return b->share_window == 0 || addr + b->share_window >= b->written;
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
		if (b->found_after == (uint64_t) label + 1 && near_enough(b, e))
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

			if ((code != 0 ||
				 (b->ring[q] == label &&
				  ((b->ends[q >> 6] >> (q & 63)) & 1) == 0)) &&
				near_enough(b, e))
			{
				b->hits++;
				return e;
			}
		}
	}

	for (i = 0; i < REG_WAYS; i++)
		if (ent[i].key == key && near_enough(b, ENTRY_ADDR(&ent[i])))
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
		return fst_build_write_node(b, u);
	len = fst_build_encode_node(b, u, last + 1, b->node);
	if (len != 0 && near_enough(b, last + len) &&
		ring_match(b, last, b->node, len))
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
			memcmp(b->pool + e[i].poolpos % b->pool_cap, b->desc, len) == 0 &&
			near_enough(b, e[i].word >> 24))
		{
			b->hits++;
			return e[i].word >> 24;
		}
	}

	addr = fst_build_write_node(b, u);
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
 * compile_single for a builder with a top region: the node is held back
 * if it is a top node (its target is, or its own bytes since `birth` are
 * too many), else compiled as usual (`hash` is the node's own structural
 * hash, which only the registry uses).
 */
static uint64_t
close_single_top(FstBuilder *b, uint8_t label, uint64_t target, uint64_t hash,
				 uint64_t birth)
{
	UTrans		t;
	UNode		u;

	memset(&t, 0, sizeof(t));
	t.label = label;
	t.target = target;
	memset(&u, 0, sizeof(u));
	u.n = 1;
	u.cap = 1;
	u.t = &t;
	if (fst_build_is_top(b, &u, birth))
		return fst_build_hold_top(b, &u);
	return compile_single(b, label, target, hash);
}

/*
 * Compile the nodes of the previous key's path deeper than `keep`, deepest
 * first, each pointing to the one compiled before it.  Returns 0 and the
 * address and structural hash of the node at depth keep + 1 (which the
 * caller points the node at depth keep to), or -1.
 */
int
fst_registry_close_path(FstBuilder *b, uint32_t keep, uint64_t *addr_out,
						uint64_t *hash_out)
{
	uint32_t	j = b->depth;
	uint64_t	addr = 0;
	uint64_t	h = 0;
	bool		child = false;
	uint32_t	next_real = b->real[b->nreal - 1];
	uint32_t	bi = b->nborn - 1;	/* the key born at or above depth j */

	for (; j > keep; j--)
	{
		uint64_t	birth = 0;

		if (b->unit_bytes)
		{
			while (b->born_depth[bi] > j)
				bi--;
			birth = b->born_written[bi];
		}
		if (j == next_real)
		{
			UNode	   *u = &b->stack[j];

			if (child)
			{
				u->t[u->n - 1].target = addr;
				u->t[u->n - 1].hash = h;
			}
			if (b->unit_bytes && fst_build_is_top(b, u, birth))
			{
				u->hash = node_hash(u);
				addr = fst_build_hold_top(b, u);
			}
			else
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
			if (b->unit_bytes)
				addr = close_single_top(b, b->prev[j], addr, h, birth);
			else
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
