/*-------------------------------------------------------------------------
 *
 * fst_cursor.c
 *	  Ordered cursors over an FST image: seeks, steps forward and backward.
 *
 * A cursor keeps the path from the root to its key as a stack of frames
 * and reads nodes through the reader's source like fst_read.c does, with
 * the same checks (fst_node_read).  It also checks that ordinals advance by
 * exactly one per step, which bounds iteration by the key count.
 *
 * The byte format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#include <string.h>

/* Set up an unpositioned cursor; the stack is allocated on first use. */
void
fst_cursor_init(FstCursor *c, FstReader *r, const FstAllocator *alloc)
{
	c->r = r;
	c->alloc = *alloc;
	c->stack = NULL;
	c->key = NULL;
	c->cap = 0;
	c->depth = 0;
	c->keylen = 0;
	c->ordinal = 0;
	c->positioned = false;
	window_start(c->r, &c->win);
	c->errmsg[0] = '\0';
}

/* Free the cursor's memory. */
void
fst_cursor_free(FstCursor *c)
{
	if (c->stack)
		c->alloc.free(c->alloc.arg, c->stack);
	if (c->key)
		c->alloc.free(c->alloc.arg, c->key);
	c->stack = NULL;
	c->key = NULL;
	c->cap = 0;
	c->positioned = false;
}

/* Make room for frames 0..need-1 (need <= max_key_len + 1). */
static void
ensure_frames(FstCursor *c, uint32_t need)
{
	uint32_t	newcap;

	if (need <= c->cap)
		return;
	newcap = c->cap ? c->cap : 64;
	while (newcap < need)
		newcap *= 2;
	if (newcap > c->r->max_key_len + 1)
		newcap = c->r->max_key_len + 1;
	if (c->stack == NULL)
	{
		c->stack = c->alloc.alloc(c->alloc.arg, sizeof(FstFrame) * newcap);
		c->key = c->alloc.alloc(c->alloc.arg, newcap);
	}
	else
	{
		c->stack = c->alloc.realloc(c->alloc.arg, c->stack,
									sizeof(FstFrame) * c->cap,
									sizeof(FstFrame) * newcap);
		c->key = c->alloc.realloc(c->alloc.arg, c->key, c->cap, newcap);
	}
	c->cap = newcap;
}

/* Read the node of the top frame. */
static int
top_node(FstCursor *c, Node *nd)
{
	return fst_node_read(c->r, &c->win, c->stack[c->depth].addr, nd, c->buf,
					 c->errmsg);
}

/* Follow transition i of nd (the top frame's node): push a frame. */
static int
take(FstCursor *c, const Node *nd, uint32_t i)
{
	uint64_t	target;
	uint64_t	out;
	FstFrame   *f;

	if (c->depth >= c->r->max_key_len)
		return set_error(c->errmsg, "fst path longer than the max key length");
	if (fst_node_trans(nd, i, &target, &out, c->errmsg) != 0)
		return -1;
	ensure_frames(c, c->depth + 2);
	f = &c->stack[c->depth];
	if (out >= c->r->nkeys - f->ord)
		return set_error(c->errmsg, "fst output out of range");
	f->ti = i;
	f->n = nd->n;
	f->final = nd->final;
	c->key[c->depth] = fst_node_label(nd, i);
	c->depth++;
	c->stack[c->depth].addr = target;
	c->stack[c->depth].ord = f->ord + out;
	return 0;
}

/* The top frame is a final node: make it the current key. */
static int
position_here(FstCursor *c)
{
	c->keylen = c->depth;
	c->ordinal = c->stack[c->depth].ord;
	c->positioned = true;
	return 1;
}

/*
 * nd being the top frame's node, a chain: follow its labels as long as
 * they equal the bound's next bytes (all of them if bound is NULL),
 * pushing a frame for each.  Returns the number followed (0 if the first
 * differs or the bound is used up), or -1 on a path longer than the max
 * key length.
 */
static int
take_chain_matching(FstCursor *c, const Node *nd, const uint8_t *bound,
					size_t len)
{
	uint32_t	i;
	uint64_t	ord = c->stack[c->depth].ord;

	for (i = 0; i < nd->chain_n &&
		 (bound == NULL ||
		  (c->depth < len && bound[c->depth] == nd->chain_labels[i])); i++)
	{
		FstFrame   *f;

		if (c->depth >= c->r->max_key_len)
			return set_error(c->errmsg,
							 "fst path longer than the max key length");
		ensure_frames(c, c->depth + 2);
		f = &c->stack[c->depth];
		f->ti = 0;
		f->n = 1;
		f->final = false;
		c->key[c->depth] = nd->chain_labels[i];
		c->depth++;
		c->stack[c->depth].addr = nd->chain_next[i];
		c->stack[c->depth].ord = ord;
	}
	return (int) i;
}

/*
 * If the top frame's node is (inside) a chain node, follow all its
 * remaining labels and return true; otherwise, or if it cannot be read,
 * return false for the general path, which also reports any corruption.
 */
static inline bool
take_chain_fast(FstCursor *c)
{
	uint64_t	vaddr = c->stack[c->depth].addr;
	uint64_t	addr = vaddr & FST_ADDR_MASK;
	Node		nd;

	/* a cheap look at the header byte first, when it is in the window */
	if (vaddr == addr && c->win.p != NULL && addr < c->win.hi &&
		addr >= c->win.lo)
	{
		uint8_t		h = c->win.p[addr - c->win.lo];

		if (!(h & 0x80) || (h & 0x3f) < FST_CHAIN_CODE0)
			return false;
	}
	if (fst_node_read(c->r, &c->win, vaddr, &nd, c->buf, c->errmsg) != 0 ||
		!nd.chain)
		return false;
	return take_chain_matching(c, &nd, NULL, 0) > 0;
}

/*
 * If the top frame's node is a single-transition node lying wholly in the
 * cursor's window, follow its transition (as take would) and return true.
 * Otherwise change nothing and return false: the caller decodes the node
 * the general way, which also reports any corruption.  Suffix chains are
 * mostly such nodes, so this is the common step of a descent.
 */
static inline bool
take_single_fast(FstCursor *c)
{
	FstFrame   *f = &c->stack[c->depth];
	uint64_t	addr = f->addr;
	const uint8_t *e;
	uint8_t		label;
	uint32_t	len;
	uint64_t	delta;
	uint64_t	start;
	uint64_t	target;

	if (c->r->packed && take_chain_fast(c))
		return true;
	/* read_node's window rule; a single node is at most 11 bytes */
	if (c->win.p == NULL || addr >= c->win.hi || addr < c->win.lo + 15 ||
		addr >= c->r->nodes_end)
		return false;
	e = c->win.p + (addr - c->win.lo);
	/* the window holds at least 16 bytes at and below addr */
	if (!fst_decode_single(e, 16, c->r->common,
						   c->r->packed, &label,
						   &delta, &len))
		return false;
	start = addr - len + 1;
	if (!target_below(start, delta, &target) ||
		c->depth >= c->r->max_key_len || f->ord >= c->r->nkeys ||
		c->depth + 2 > c->cap)
		return false;
	f->ti = 0;
	f->n = 1;
	f->final = false;
	c->key[c->depth] = label;
	c->depth++;
	c->stack[c->depth].addr = target;
	c->stack[c->depth].ord = f->ord;
	return true;
}

/* Descend to the smallest key at or under the top node. */
static int
descend_first(FstCursor *c)
{
	Node		nd;

	for (;;)
	{
		if (take_single_fast(c))
			continue;
		if (top_node(c, &nd) != 0)
			return -1;
		if (nd.final)
			return position_here(c);
		if (take(c, &nd, 0) != 0)
			return -1;
	}
}

/* Descend to the largest key at or under the top node. */
static int
descend_last(FstCursor *c)
{
	Node		nd;

	for (;;)
	{
		if (take_single_fast(c))
			continue;			/* its only transition is also its last */
		if (top_node(c, &nd) != 0)
			return -1;
		if (nd.n == 0)
			return position_here(c);
		if (take(c, &nd, nd.n - 1) != 0)
			return -1;
	}
}

/*
 * Leave the top node's subtree upwards and find the first key after it.
 * Returns 1, or 0 if there is none.
 */
static int
ascend_next(FstCursor *c)
{
	Node		nd;

	while (c->depth > 0)
	{
		uint32_t	ti;

		c->depth--;
		ti = c->stack[c->depth].ti;
		if (ti + 1 >= c->stack[c->depth].n)
			continue;			/* no later transition: no need to read it */
		if (top_node(c, &nd) != 0)
			return -1;
		if (nd.n != c->stack[c->depth].n)
			return set_error(c->errmsg, "fst node changed under cursor");
		if (ti + 1 < nd.n)
		{
			if (fst_node_label(&nd, ti + 1) <= c->key[c->depth])
				return set_error(c->errmsg, "fst labels out of order");
			if (take(c, &nd, ti + 1) != 0)
				return -1;
			return descend_first(c);
		}
	}
	return 0;
}

/*
 * Leave the top node (its own key included) upwards and find the last key
 * before it.  Returns 1, or 0 if there is none.
 */
static int
ascend_prev(FstCursor *c)
{
	Node		nd;

	while (c->depth > 0)
	{
		uint32_t	ti;

		c->depth--;
		ti = c->stack[c->depth].ti;
		if (ti == 0)
		{
			/* no earlier transition: no need to read the node */
			if (c->stack[c->depth].final)
				return position_here(c);
			continue;
		}
		if (top_node(c, &nd) != 0)
			return -1;
		if (ti >= nd.n || nd.n != c->stack[c->depth].n)
			return set_error(c->errmsg, "fst node changed under cursor");
		if (fst_node_label(&nd, ti - 1) >= c->key[c->depth])
			return set_error(c->errmsg, "fst labels out of order");
		if (take(c, &nd, ti - 1) != 0)
			return -1;
		return descend_last(c);
	}
	return 0;
}

/* Finish a step: unposition on 0/-1. */
static int
step_result(FstCursor *c, int rc)
{
	if (rc != 1)
		c->positioned = false;
	return rc;
}

/* Position on the key chosen by op; see fst.h. */
int
fst_cursor_seek(FstCursor *c, FstSeekOp op, const uint8_t *bound, size_t len)
{
	bool		inclusive = (op == FST_SEEK_GE || op == FST_SEEK_LE);
	Node		nd;
	int			rc;

	c->positioned = false;
	c->depth = 0;
	window_start(c->r, &c->win);
	if (c->r->nkeys == 0)
		return 0;
	ensure_frames(c, 1);
	c->stack[0].addr = c->r->root;
	c->stack[0].ord = 0;

	switch (op)
	{
		case FST_SEEK_FIRST:
			return step_result(c, descend_first(c));
		case FST_SEEK_LAST:
			return step_result(c, descend_last(c));
		case FST_SEEK_GE:
		case FST_SEEK_GT:
			for (;;)
			{
				uint32_t	i;
				uint8_t		lab;

				if (top_node(c, &nd) != 0)
					return step_result(c, -1);
				if (c->depth == len)
				{
					if (nd.final && inclusive)
						return step_result(c, position_here(c));
					if (nd.n > 0)
					{
						if (take(c, &nd, 0) != 0)
							return step_result(c, -1);
						return step_result(c, descend_first(c));
					}
					return step_result(c, ascend_next(c));
				}
				if (nd.chain && (rc = take_chain_matching(c, &nd, bound,
														  len)) != 0)
				{
					if (rc < 0)
						return step_result(c, -1);
					continue;
				}
				i = node_lower_bound(&nd, bound[c->depth]);
				if (i == nd.n)
					return step_result(c, ascend_next(c));
				lab = fst_node_label(&nd, i);
				if (take(c, &nd, i) != 0)
					return step_result(c, -1);
				if (lab != bound[c->depth - 1])
					return step_result(c, descend_first(c));
			}
		case FST_SEEK_LE:
		case FST_SEEK_LT:
			for (;;)
			{
				uint32_t	i;

				if (top_node(c, &nd) != 0)
					return step_result(c, -1);
				if (c->depth == len)
				{
					if (nd.final && inclusive)
						return step_result(c, position_here(c));
					return step_result(c, ascend_prev(c));
				}
				if (nd.chain && (rc = take_chain_matching(c, &nd, bound,
														  len)) != 0)
				{
					if (rc < 0)
						return step_result(c, -1);
					continue;
				}
				i = node_lower_bound(&nd, bound[c->depth]);
				if (i < nd.n && fst_node_label(&nd, i) == bound[c->depth])
				{
					if (take(c, &nd, i) != 0)
						return step_result(c, -1);
					continue;
				}
				if (i > 0)
				{
					if (take(c, &nd, i - 1) != 0)
						return step_result(c, -1);
					return step_result(c, descend_last(c));
				}
				if (nd.final)
					return step_result(c, position_here(c));
				return step_result(c, ascend_prev(c));
			}
	}
	rc = set_error(c->errmsg, "fst bad seek operation");
	return step_result(c, rc);
}

/* Step forward; see fst.h. */
int
fst_cursor_next(FstCursor *c)
{
	Node		nd;
	uint64_t	prev = c->ordinal;
	int			rc;

	if (!c->positioned)
		return 0;
	window_start(c->r, &c->win);
	if (top_node(c, &nd) != 0)
		return step_result(c, -1);
	if (nd.n > 0)
	{
		if (take(c, &nd, 0) != 0)
			return step_result(c, -1);
		rc = descend_first(c);
	}
	else
		rc = ascend_next(c);
	if (rc == 1 && c->ordinal != prev + 1)
		rc = set_error(c->errmsg, "fst ordinals out of sequence");
	return step_result(c, rc);
}

/* Step backward; see fst.h. */
int
fst_cursor_prev(FstCursor *c)
{
	uint64_t	prev = c->ordinal;
	int			rc;

	if (!c->positioned)
		return 0;
	window_start(c->r, &c->win);
	rc = ascend_prev(c);
	if (rc == 1 && c->ordinal + 1 != prev)
		rc = set_error(c->errmsg, "fst ordinals out of sequence");
	return step_result(c, rc);
}
