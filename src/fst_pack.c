/*-------------------------------------------------------------------------
 *
 * fst_pack.c
 *	  Re-encode a finished FST image in the packed format (version 2).
 *
 * The builder (fst_build.c) writes one node per key byte along the tails of
 * keys: a single-transition node of one byte, its label drawn from a table
 * of common labels.  Such tails are most of an image of paths or URLs, and
 * a byte per label is far from their entropy (about 5 bits on Debian
 * paths).  It cannot do better in one pass: the label nodes of a tail must
 * stay addressable, because a later key may share any suffix of the tail,
 * and it cannot know which.
 *
 * Packing is a second pass over the whole image, when all sharing is
 * known.  A run of single-transition nodes, each the only way into the
 * next, becomes one chain node of up to FST_CHAIN_MAX labels coded with a
 * prefix code built for this image; every other node is re-encoded as it
 * was, with the (shorter) distances of the new image.  Keys, ordinals and
 * the shape of the automaton are unchanged.
 *
 *	map					where nodes end, which are pointed to by the "next"
 *						transition of the node right above and which by
 *						anything else, and the labels of single-transition
 *						nodes counted: the builder records this as it
 *						writes (the pack map, fst_node.h); for an image
 *						without one, pass 1 walks the image top down
 *	code				a length-limited prefix code of those labels
 *						(fst_code.c)
 *	pass 2 (bottom up)	write every node that is not inside a run, a run
 *						as chain nodes where that is shorter; remember the
 *						new address of every node something points to
 *
 * An image with a top region (version 3) keeps it: nodes are written in
 * the order of their input addresses, so the leaf units and the top
 * region stay where they were, each only shrinking (the image keeps the
 * builder's common labels, so no single-transition node grows), and a
 * run never reaches from a top node into the leaf region (the node just
 * below the top start is never an inner node).  The new top start is
 * where the first top node is written.
 *
 * Memory: five bits per byte of the input image (the pack map) and 8 bytes
 * per node that is pointed to.  The format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#include <string.h>

#define OUT_CHUNK	65536

typedef struct Packer
{
	FstAllocator a;
	FstReader  *r;				/* over the input image */
	const uint8_t *image;
	FstWindow	win;
	uint64_t	size;			/* input image size */
	uint64_t	nwords;			/* 64-byte groups of the input image */
	FstPackMap *map;

	/*
	 * For each 64 bytes of the input image: a bitmap of the nodes whose new
	 * address is kept, and the number of them before these 64 bytes (their
	 * rank in newaddr).  Interleaved: one cache line to look a node up.
	 */
	uint64_t   *mapped;			/* 2 * nwords words */
	uint64_t   *newaddr;		/* by rank among the mapped nodes */
	uint64_t	last_old;		/* the input node written last, */
	uint64_t	last_new;		/* and its new address */
	uint64_t	nmapped;
	uint64_t	newaddr_cap;
	uint8_t		lens[256];		/* code length of each label, 0: none */
	uint16_t	codes[256];
	uint8_t		code_of[256];	/* label -> single-node common code */
	uint8_t		single_len[256];	/* bytes of a single-transition node
									 * of the label, without its target */
	uint16_t	masked[256];	/* codes[] cut to lens[] bits */
	uint8_t		preamble[FST_PREAMBLE_SIZE];

	FstSinkFn	sink;
	void	   *sink_arg;
	uint8_t    *out;			/* OUT_CHUNK bytes not yet handed over */
	size_t		outlen;
	uint64_t	written;		/* bytes of the new image so far */
	uint64_t	nodes;
	uint64_t	top_old;		/* input top start (nodes_end: none) */
	uint64_t	top_new;		/* output top start, once known */
	bool		top_seen;		/* a top node has been written */
	char	   *errmsg;
} Packer;

/* Bits set in w (without a popcount instruction, which is not baseline). */
static inline uint64_t
popcount64(uint64_t w)
{
	w = w - ((w >> 1) & UINT64_C(0x5555555555555555));
	w = (w & UINT64_C(0x3333333333333333)) +
		((w >> 2) & UINT64_C(0x3333333333333333));
	w = (w + (w >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (w * UINT64_C(0x0101010101010101)) >> 56;
}

/* Append bytes to the new image.  Returns 0, or -1 if the sink failed. */
static int
out_bytes(Packer *pk, const uint8_t *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = OUT_CHUNK - pk->outlen;

		if (n > len)
			n = len;
		memcpy(pk->out + pk->outlen, data, n);
		pk->outlen += n;
		pk->written += n;
		data += n;
		len -= n;
		if (pk->outlen == OUT_CHUNK)
		{
			if (pk->sink(pk->sink_arg, pk->out, pk->outlen) != 0)
				return set_error(pk->errmsg, "fst sink failed");
			pk->outlen = 0;
		}
	}
	return 0;
}

/*
 * Append the encoded node L[0..len) (logical order), last byte first, as
 * the builder does.  Returns its address, or 0 if the sink failed.
 */
static uint64_t
out_node(Packer *pk, const uint8_t *L, size_t len)
{
	uint8_t		rev[FST_MAX_NODE_BYTES];
	size_t		i;

	if (pk->outlen + len <= OUT_CHUNK)
	{
		/* the usual case: straight into the output buffer */
		uint8_t    *p = pk->out + pk->outlen;

		for (i = 0; i < len; i++)
			p[i] = L[len - 1 - i];
		pk->outlen += len;
		pk->written += len;
	}
	else
	{
		for (i = 0; i < len; i++)
			rev[i] = L[len - 1 - i];
		if (out_bytes(pk, rev, len) != 0)
			return 0;
	}
	pk->nodes++;
	return pk->written - 1;
}

/*
 * Note a way into `target` other than the "next" transition of a
 * single-transition node right above it.  (Only one node is right above
 * another, so that way needs no bit: the walk of pass 1 meets the target
 * next.)
 */
static int
note_far_ref(Packer *pk, uint64_t target)
{
	if (target < FST_PREAMBLE_SIZE || target >= pk->r->nodes_end)
		return set_error(pk->errmsg, "fst transition target out of range");
	pm_set(pk->map, PM_FAR, target);
	return 0;
}

/*
 * Decode the input node at addr if it is a single-transition node: its
 * label and target.  Returns false for other nodes (and for damaged ones,
 * which fst_node_read then reports).
 */
static inline bool
read_single(const Packer *pk, uint64_t addr, uint8_t *label, uint64_t *target,
			uint64_t *start)
{
	uint64_t	delta;
	uint32_t	len;

	if (!fst_decode_single(pk->image + addr, addr - FST_PREAMBLE_SIZE + 1,
						   pk->r->common, false, label, &delta, &len))
		return false;
	*start = addr - len + 1;
	return target_below(*start, delta, target);
}

/*
 * Pass 1, for an image without a pack map: make one by walking the nodes
 * from the top of the node area down, marking boundaries and references
 * and counting the labels of single-transition nodes, as the builder
 * does when it records a map.
 */
static int
scan_nodes(Packer *pk)
{
	uint64_t   *counts = pk->map->counts;
	FstReader  *r = pk->r;
	uint64_t	addr;
	bool		from_above = false;	/* the node above leads here by "next" */
	Node		nd;

	if (r->nkeys == 0)
		return 0;
	if (note_far_ref(pk, r->root) != 0)
		return -1;
	addr = r->nodes_end - 1;
	for (;;)
	{
		uint32_t	i;
		uint8_t		label = 0;
		uint64_t	target = 0;
		uint64_t	start = 0;
		bool		single = read_single(pk, addr, &label, &target, &start);

		pm_set(pk->map, PM_END, addr);
		if (from_above)
			pm_set(pk->map, PM_NEXT, addr);
		if (single)
		{
			counts[label]++;
			from_above = (target == start - 1);
			if (!from_above && note_far_ref(pk, target) != 0)
				return -1;
		}
		else
		{
			if (fst_node_read(r, &pk->win, addr, &nd, r->buf, pk->errmsg) != 0)
				return -1;
			if (nd.single)		/* read_single refused it: cannot be */
				return set_error(pk->errmsg, "fst pack: bad node");
			for (i = 0; i < nd.n; i++)
			{
				uint64_t	out;

				if (fst_node_trans(&nd, i, &target, &out, pk->errmsg) != 0 ||
					note_far_ref(pk, target) != 0)
					return -1;
			}
			start = nd.start;
			from_above = false;
		}
		if (start == FST_PREAMBLE_SIZE)
			break;
		addr = start - 1;
	}
	return 0;
}

/*
 * Keep the new address of input node `old`, the highest so far: pass 2
 * writes nodes in address order, so the kept addresses are in that order
 * too, and a node's index among them is its rank in pk->mapped.
 */
static void
keep_address(Packer *pk, uint64_t old, uint64_t naddr)
{
	if (pk->nmapped == pk->newaddr_cap)
	{
		uint64_t	cap = pk->newaddr_cap ? pk->newaddr_cap * 2 : 1024;

		pk->newaddr = pk->newaddr ?
			pk->a.realloc(pk->a.arg, pk->newaddr,
						  sizeof(uint64_t) * pk->newaddr_cap,
						  sizeof(uint64_t) * cap) :
			pk->a.alloc(pk->a.arg, sizeof(uint64_t) * cap);
		pk->newaddr_cap = cap;
	}
	pk->mapped[2 * (old >> 6)] |= (uint64_t) 1 << (old & 63);
	pk->newaddr[pk->nmapped++] = naddr;
}

/*
 * New address of input node `old`, which must already be written (its
 * group's rank word is set when pass 2 enters the group).  The node
 * written last (often the target: what a "next" transition leads to) is
 * known without looking it up.
 */
static inline int
new_address(Packer *pk, uint64_t old, uint64_t *addr)
{
	const uint64_t *g;
	uint64_t	bit;

	if (old == pk->last_old)
	{
		*addr = pk->last_new;
		return 0;
	}
	if (old >= pk->size)
		return set_error(pk->errmsg, "fst pack: target not written yet");
	g = pk->mapped + 2 * (old >> 6);
	bit = (uint64_t) 1 << (old & 63);
	if ((g[0] & bit) == 0)
		return set_error(pk->errmsg, "fst pack: target not written yet");
	*addr = pk->newaddr[g[1] + popcount64(g[0] & (bit - 1))];
	return 0;
}

/* Encode a single-transition node of the packed format at the end. */
static uint64_t
write_single(Packer *pk, uint8_t label, uint64_t target)
{
	uint8_t		L[11];
	size_t		len = fst_encode_single(L, pk->code_of[label], label,
										pk->written - 1 - target);

	return out_node(pk, L, len);
}

/*
 * Append the codes of labels[0..k) to L at byte len, LSB first (as
 * put_bits and flush_bits would, a byte at a time), four whole bytes at a
 * time; returns the new length.  Every label must have a code.
 */
static inline size_t
put_label_codes(const Packer *pk, uint8_t *L, size_t len,
				const uint8_t *labels, uint32_t k)
{
	uint64_t	acc = 0;
	int			nacc = 0;
	uint32_t	i;

	for (i = 0; i < k; i++)
	{
		acc |= (uint64_t) pk->masked[labels[i]] << nacc;
		nacc += pk->lens[labels[i]];
		if (nacc >= 32)
		{
			L[len] = (uint8_t) acc;
			L[len + 1] = (uint8_t) (acc >> 8);
			L[len + 2] = (uint8_t) (acc >> 16);
			L[len + 3] = (uint8_t) (acc >> 24);
			len += 4;
			acc >>= 32;
			nacc -= 32;
		}
	}
	while (nacc > 0)
	{
		L[len++] = (uint8_t) acc;
		acc >>= 8;
		nacc -= 8;
	}
	return len;
}

/*
 * Write labels[0..k) as one run leading to `target` (already written):
 * as one chain node if all the labels have codes and that is shorter,
 * else as k single-transition nodes.  Returns the address of the node
 * for labels[0], or 0 on failure.
 */
static uint64_t
write_run(Packer *pk, const uint8_t *labels, uint32_t k, uint64_t target)
{
	uint64_t	delta = pk->written - 1 - target;
	uint8_t		vbuf[10];
	size_t		vlen = delta ? put_varint(vbuf, delta - 1) : 0;
	size_t		singles = vlen;
	uint32_t	bits = 0;
	bool		codable = k >= 2;
	uint32_t	i;
	uint64_t	addr = 0;

	for (i = 0; i < k; i++)
	{
		uint8_t		len = pk->lens[labels[i]];

		singles += pk->single_len[labels[i]];
		codable &= len != 0;
		bits += len;
	}
	if (codable && 1 + vlen + (bits + 7) / 8 < singles)
	{
		/* room for put_label_codes' last 4-byte store */
		uint8_t		L[1 + 10 + (FST_CHAIN_MAX * FST_CODE_MAX_BITS + 7) / 8 + 4];
		size_t		len = 1;

		L[0] = (uint8_t) (0x80 | (delta == 0 ? 0x40 : 0) |
						  (FST_CHAIN_CODE0 + k - 2));
		memcpy(L + len, vbuf, vlen);
		len += vlen;
		len = put_label_codes(pk, L, len, labels, k);
		return out_node(pk, L, len);
	}
	for (i = k; i > 0; i--)
	{
		addr = write_single(pk, labels[i - 1], target);
		if (addr == 0)
			return 0;
		target = addr;
	}
	return addr;
}

/*
 * Is the input node at addr inside a run: a single-transition node (its
 * label, target and start then set) pointed to only by the "next"
 * transition of the single-transition node right above?
 */
static inline bool
is_inner(const Packer *pk, uint64_t addr, uint8_t *label, uint64_t *target,
		 uint64_t *start)
{
	return pm_get(pk->map, PM_NEXT, addr) && !pm_get(pk->map, PM_FAR, addr) &&
		read_single(pk, addr, label, target, start);
}

/*
 * Write the run of single-transition nodes that starts with the node of
 * `label`, `target` and `start`: it and the inner nodes below it.  Long
 * runs become several chain nodes, the lowest written first.  Returns the
 * new address of the run's first node, or 0 on failure.
 */
static uint64_t
write_chain(Packer *pk, uint8_t label, uint64_t target, uint64_t start,
			uint8_t **labels, uint32_t *labels_cap)
{
	uint32_t	m = 0;
	uint32_t	end;
	uint64_t	addr = 0;

	for (;;)
	{
		if (m == *labels_cap)
		{
			uint32_t	newcap = *labels_cap * 2;

			*labels = pk->a.realloc(pk->a.arg, *labels, *labels_cap, newcap);
			*labels_cap = newcap;
		}
		(*labels)[m++] = label;
		/*
		 * a far target is never inner: no need to look at it; nor is the
		 * last node of the leaf region when a top node leads to it
		 */
		if (target != start - 1 || start == pk->top_old ||
			!is_inner(pk, target, &label, &target, &start))
			break;
		if (m > pk->r->max_key_len)
		{
			set_error(pk->errmsg, "fst run longer than the max key length");
			return 0;
		}
	}
	if (new_address(pk, target, &target) != 0)
		return 0;
	/* segments of FST_CHAIN_MAX labels from the bottom, the rest on top */
	end = m;
	while (end > 0)
	{
		uint32_t	begin = end > FST_CHAIN_MAX ? end - FST_CHAIN_MAX : 0;

		addr = write_run(pk, *labels + begin, end - begin, target);
		if (addr == 0)
			return 0;
		target = addr;
		end = begin;
	}
	return addr;
}

/* Reads the bit area of a decoded node in order. */
typedef struct NodeBitReader
{
	const Node *nd;
	uint32_t	pos;			/* logical byte of the next byte to load */
	uint64_t	acc;
	int			nacc;
} NodeBitReader;

/* The next `width` (<= 40) bits. */
static inline uint64_t
next_bits(NodeBitReader *br, int width)
{
	uint64_t	v;

	while (br->nacc < width)
	{
		br->acc |= (uint64_t) NODE_BYTE(br->nd, br->pos) << br->nacc;
		br->pos++;
		br->nacc += 8;
	}
	v = br->acc & (((uint64_t) 1 << width) - 1);
	br->acc >>= width;
	br->nacc -= width;
	return v;
}

/*
 * The targets and outputs of all transitions of the decoded plain multi
 * node nd, read in one sweep over its bit area (fst_node_trans would seek
 * each field).  Returns 0, or -1 if a target lies outside the node area.
 */
static int
multi_transitions(const Node *nd, uint64_t *targets, uint64_t *outs,
				  char *errmsg)
{
	NodeBitReader br;
	uint32_t	i;

	br.nd = nd;
	br.pos = nd->hdr + nd->n + nd->code_bits / 8;
	br.acc = 0;
	br.nacc = 0;
	if (nd->code_bits % 8 != 0)
		(void) next_bits(&br, (int) (nd->code_bits % 8));
	for (i = 0; i < nd->n; i++)
	{
		uint64_t	d = i < nd->ndeltas ? next_bits(&br, nd->dbits) : 0;

		if (d > nd->start - 1 - FST_PREAMBLE_SIZE)
			return set_error(errmsg, "fst transition target out of range");
		targets[i] = nd->start - 1 - d;
	}
	outs[0] = nd->final ? 1 : 0;
	for (i = 1; i < nd->n; i++)
		outs[i] = next_bits(&br, nd->obits);
	return 0;
}

/* Pass 2: write the new node area bottom up. */
static int
write_nodes(Packer *pk, uint64_t *root)
{
	FstReader  *r = pk->r;
	uint32_t	labels_cap = 64;
	uint8_t    *labels = pk->a.alloc(pk->a.arg, labels_cap);
	uint64_t	w;
	int			result = -1;

	*root = 0;
	for (w = FST_PREAMBLE_SIZE >> 6; w < pk->nwords; w++)
	{
		uint64_t	ends = pk->map->bits[PM_END][w];
		uint64_t	next = pk->map->bits[PM_NEXT][w];
		uint64_t	far = pk->map->bits[PM_FAR][w];
		uint64_t	inner = ends & next & ~far;
		uint64_t	bits = ends & ~inner;

		pk->mapped[2 * w + 1] = pk->nmapped;

		/*
		 * Inner nodes (single-transition nodes reached only by the "next"
		 * of the node right above: bit 7) are written with their run.
		 * Sort them out of this word's nodes first, in a tight loop: in
		 * images of long keys most nodes are inner.
		 */
		while (inner)
		{
			uint64_t	addr = (w << 6) + (uint64_t) __builtin_ctzll(inner);
			uint64_t	bit = inner & -inner;

			inner &= inner - 1;
			if (addr >= r->nodes_end || (pk->image[addr] & 0x80) == 0 ||
				addr + 1 == pk->top_old)
				bits |= bit;
		}
		while (bits)
		{
			uint64_t	addr = (w << 6) + (uint64_t) __builtin_ctzll(bits);
			uint64_t	bit = bits & -bits;
			uint64_t	naddr;
			uint8_t		label;
			uint64_t	target;
			uint64_t	start;
			Node		nd;

			bits &= bits - 1;
			if (addr >= r->nodes_end)
			{
				set_error(pk->errmsg, "fst pack: map does not fit the image");
				goto done;
			}
			if (addr >= pk->top_old && !pk->top_seen)
			{
				/* the first top node: the top region starts here */
				pk->top_seen = true;
				pk->top_new = pk->written;
			}
			if (read_single(pk, addr, &label, &target, &start))
				naddr = write_chain(pk, label, target, start, &labels,
									&labels_cap);
			else if (fst_node_read(r, &pk->win, addr, &nd, r->buf,
								   pk->errmsg) != 0)
				goto done;
			else if (nd.n == 0)
			{
				uint8_t		leaf = 0x40;

				naddr = out_node(pk, &leaf, 1);
			}
			else
			{
				uint8_t		lab[256];
				uint64_t	deltas[256];
				uint64_t	outs[256];
				uint8_t		L[FST_MAX_NODE_BYTES];
				size_t		len;
				uint32_t	i;

				if (multi_transitions(&nd, deltas, outs, pk->errmsg) != 0)
					goto done;
				for (i = 0; i < nd.n; i++)
				{
					uint64_t	t;

					lab[i] = fst_node_label(&nd, i);
					if (new_address(pk, deltas[i], &t) != 0)
						goto done;
					deltas[i] = pk->written - 1 - t;
				}
				len = fst_encode_multi(L, nd.final, nd.n, lab, deltas, outs);
				if (len == 0)
				{
					set_error(pk->errmsg, "fst pack: node too large");
					goto done;
				}
				naddr = out_node(pk, L, len);
			}
			if (naddr == 0)
			{
				if (pk->errmsg[0] == '\0')
					set_error(pk->errmsg, "fst pack failed");
				goto done;
			}
			if (((next | far) & bit) != 0)
				keep_address(pk, addr, naddr);
			pk->last_old = addr;
			pk->last_new = naddr;
			if (addr == r->root)
				*root = naddr;
		}
	}
	result = 0;
done:
	pk->a.free(pk->a.arg, labels);
	return result;
}

/* Re-encode an image in the packed format; see fst.h. */
int
fst_pack(const uint8_t *image, uint64_t size, FstPackMap *map,
		 const FstAllocator *alloc, FstSinkFn sink, void *sink_arg,
		 FstInfo *info, char *errmsg)
{
	Packer		pk;
	FstSource	src;
	FstPackMap *own_map = NULL;
	uint64_t   *counts;
	uint8_t		table[FST_CODE_TABLE_SIZE];
	uint8_t		t[FST_TRAILER_SIZE];
	uint8_t		topfield[FST_TOP_FIELD_SIZE];
	bool		top;
	uint64_t	root = 0;
	int			result = -1;
	int			i;

	memset(&pk, 0, sizeof(pk));
	errmsg[0] = '\0';
	pk.a = *alloc;
	pk.errmsg = errmsg;
	pk.sink = sink;
	pk.sink_arg = sink_arg;
	pk.size = size;
	pk.image = image;
	pk.r = alloc->alloc(alloc->arg, sizeof(FstReader));
	src.read = fst_memory_read;
	src.arg = (void *) image;
	src.size = size;
	if (fst_reader_open(pk.r, &src) != 0)
	{
		set_error(errmsg, pk.r->errmsg);
		goto done;
	}
	if (pk.r->packed)
	{
		set_error(errmsg, "fst image is already packed");
		goto done;
	}
	pk.top_old = pk.r->top_start;
	pk.nwords = (size + 63) / 64;
	/* the image is in memory: one window over all of it */
	pk.win.lo = 0;
	pk.win.hi = size;
	pk.win.p = image;
	pk.out = alloc->alloc(alloc->arg, OUT_CHUNK);
	pk.last_old = UINT64_MAX;	/* no node written yet */

	if (map == NULL)
	{
		own_map = fst_pack_map_new(alloc, pk.nwords);
		pk.map = own_map;
		if (scan_nodes(&pk) != 0)
			goto done;
	}
	else if (map->nwords < pk.nwords)
	{
		set_error(errmsg, "fst pack: map does not fit the image");
		goto done;
	}
	else
		pk.map = map;
	counts = pk.map->counts;
	pk.mapped = alloc->alloc(alloc->arg, sizeof(uint64_t) * 2 * pk.nwords);
	memset(pk.mapped, 0, sizeof(uint64_t) * 2 * pk.nwords);
	fst_make_code_lengths(counts, pk.lens);
	if (fst_code_assign(pk.lens, pk.codes) != 0)
	{
		set_error(errmsg, "fst pack: no prefix code");
		goto done;
	}
	memset(table, 0, sizeof(table));
	for (i = 0; i < 256; i++)
		table[i / 2] |= (uint8_t) (pk.lens[i] << (4 * (i % 2)));
	/* the preamble: the input's, but packed, with its own common labels */
	memcpy(pk.preamble, image, FST_PREAMBLE_SIZE);
	if (pk.r->version == FST_VERSION_TOP)
		put_u16(pk.preamble + 6, FST_FLAG_PACKED);	/* and the builder's
													 * common labels */
	else
	{
		put_u16(pk.preamble + 4, FST_VERSION_PACKED);
		fst_choose_common(counts, pk.preamble + 8);
	}
	memset(pk.code_of, 0, sizeof(pk.code_of));
	for (i = FST_CHAIN_CODE0 - 2; i >= 0; i--)
		pk.code_of[pk.preamble[8 + i]] = (uint8_t) (i + 1);
	for (i = 0; i < 256; i++)
	{
		pk.single_len[i] = pk.code_of[i] ? 1 : 2;
		pk.masked[i] = (uint16_t) (pk.codes[i] & ((1u << pk.lens[i]) - 1));
	}

	if (out_bytes(&pk, pk.preamble, FST_PREAMBLE_SIZE) != 0)
		goto done;
	if (write_nodes(&pk, &root) != 0)
		goto done;
	if (pk.r->nkeys > 0 && root == 0)
	{
		set_error(errmsg, "fst pack: root not written");
		goto done;
	}
	if (!pk.top_seen)
		pk.top_new = pk.written;	/* an empty top region */
	if (out_bytes(&pk, table, sizeof(table)) != 0)
		goto done;
	top = pk.r->version == FST_VERSION_TOP;
	put_u64(topfield, pk.top_new);
	put_u32(t, FST_TRAILER_MAGIC);
	put_u16(t + 4, top ? FST_VERSION_TOP : FST_VERSION_PACKED);
	put_u16(t + 6, top ? FST_FLAG_PACKED : 0);
	put_u64(t + 8, root);
	put_u64(t + 16, pk.r->nkeys);
	put_u64(t + 24, pk.written + FST_TRAILER_SIZE +
			(top ? FST_TOP_FIELD_SIZE : 0));
	put_u32(t + 32, pk.r->max_key_len);
	put_u32(t + 36, fst_image_checksum(t, pk.preamble, table,
									   top ? topfield : NULL));
	if ((top && out_bytes(&pk, topfield, sizeof(topfield)) != 0) ||
		out_bytes(&pk, t, sizeof(t)) != 0)
		goto done;
	if (pk.outlen > 0 && sink(sink_arg, pk.out, pk.outlen) != 0)
	{
		set_error(errmsg, "fst sink failed");
		goto done;
	}
	if (info)
	{
		info->nkeys = pk.r->nkeys;
		info->size = pk.written;
		info->root = root;
		info->max_key_len = pk.r->max_key_len;
		info->nodes = pk.nodes;
		info->registry_hits = 0;
		info->top_start = pk.top_new;
		info->top_nodes = 0;
	}
	result = 0;
done:
	fst_pack_map_free(alloc, own_map);
	if (pk.mapped)
		alloc->free(alloc->arg, pk.mapped);
	if (pk.newaddr)
		alloc->free(alloc->arg, pk.newaddr);
	if (pk.out)
		alloc->free(alloc->arg, pk.out);
	alloc->free(alloc->arg, pk.r);
	return result;
}

