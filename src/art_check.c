/*-------------------------------------------------------------------------
 *
 * art_check.c
 *	  Adaptive Radix Tree: art_free_all, which frees a whole tree, and
 *	  art_check, which verifies a tree's invariants (test/unit's tests and
 *	  fuzz target run it).  The layout is described in art_int.h.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "art_int.h"

/* ------------------------------------------------------------------ free */

/* Free the subtree h. */
static void
free_rec(ArtTree *tree, const ArtAllocator *a, ArenaPtr h)
{
	uint8_t    *n = addr(a, h);
	int			pos,
				npos;

	if (IS_LEAF(n))
	{
		tree_free(tree, a, h, leaf_size(n));
		return;
	}
	npos = node_npos(n);
	for (pos = 0; pos < npos; pos++)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot != NULL && *slot != ARENA_NULL)
			free_rec(tree, a, *slot);
	}
	tree_free(tree, a, h, node_size(n));
}

/* Free every node and leaf; the tree is empty afterwards. */
void
art_free_all(ArtTree *tree, const ArtAllocator *a)
{
	if (tree->root != ARENA_NULL)
		free_rec(tree, a, tree->root);
	tree->root = ARENA_NULL;
	tree->nkeys = 0;
	tree->ntids = 0;
	tree->bytes = 0;
}

/* ----------------------------------------------------------------- check */

typedef struct CheckState
{
	const ArtAllocator *a;
	size_t		arena_units;
	uint64_t	nkeys;
	uint64_t	ntids;
	uint64_t	bytes;
	char	   *errbuf;
	size_t		errlen;
	bool		failed;
} CheckState;

/* Record the first problem found: msg followed by the handle. */
static void
check_fail(CheckState *cs, const char *msg, ArenaPtr h)
{
	char		num[16];
	int			nd = 0;
	size_t		len = 0;
	uint32_t	v = h;

	if (cs->failed)
		return;
	cs->failed = true;
	if (cs->errbuf == NULL || cs->errlen == 0)
		return;
	do
	{
		num[nd++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (*msg && len + 1 < cs->errlen)
		cs->errbuf[len++] = *msg++;
	msg = " at handle ";
	while (*msg && len + 1 < cs->errlen)
		cs->errbuf[len++] = *msg++;
	while (nd > 0 && len + 1 < cs->errlen)
		cs->errbuf[len++] = num[--nd];
	cs->errbuf[len] = '\0';
}

/* Whether [h, h + size) lies inside the arena. */
static bool
check_range(CheckState *cs, ArenaPtr h, size_t size)
{
	if (h == ARENA_NULL || (size_t) h >= cs->arena_units ||
		size > (cs->arena_units - h) * ARENA_UNIT)
	{
		check_fail(cs, "handle or object outside the arena", h);
		return false;
	}
	return true;
}

/*
 * Check the subtree h reached with `depth` key bytes consumed.  If
 * terminal, h hangs under byte 0 and must be a leaf with an empty suffix.
 */
static void
check_rec(CheckState *cs, ArenaPtr h, size_t depth, bool terminal)
{
	uint8_t    *n;
	size_t		plen,
				size;
	int			pos,
				npos,
				cnt = 0,
				prev = -1;

	if (!check_range(cs, h, NODE_HDR))
		return;
	n = addr(cs->a, h);
	if (IS_LEAF(n))
	{
		size_t		slen;

		if (n[0] == 0 || n[0] == 1)
		{
			check_fail(cs, "bad type byte", h);
			return;
		}
		if (!check_range(cs, h, IS_LEAF1S(n) ? LEAF1S_HDR :
						 n[0] == T_LEAF1L ? LEAF1L_HDR : LEAFN_HDR))
			return;
		slen = leaf_suffix_len(n);
		if (n[0] == T_LEAFN && (rd32(n + 4) == 0 || rd32(n + 4) > rd32(n + 8)))
		{
			check_fail(cs, "leaf TID count 0 or above capacity", h);
			return;
		}
		if (n[0] == T_LEAF1L && slen < LEAF1S_MAXLEN)
		{
			check_fail(cs, "long-suffix leaf with a short suffix", h);
			return;
		}
		size = leaf_size(n);
		if (!check_range(cs, h, size))
			return;
		if (terminal && slen != 0)
		{
			check_fail(cs, "leaf under byte 0 with a non-empty suffix", h);
			return;
		}
		if (depth + slen > ART_MAX_KEY_LEN)
		{
			check_fail(cs, "key longer than ART_MAX_KEY_LEN", h);
			return;
		}
		if (slen > 0 && memchr(leaf_suffix(n), 0, slen) != NULL)
		{
			check_fail(cs, "zero byte in a leaf suffix", h);
			return;
		}
		cs->nkeys++;
		cs->ntids += leaf_ntids(n);
		cs->bytes += arena_class_size(size);
		return;
	}

	if (terminal)
	{
		check_fail(cs, "inner node under byte 0", h);
		return;
	}
	if (n[0] != T_N48 && n[0] != T_N256 && !(n[0] > T_NS && n[0] <= T_NS + NS_MAX))
	{
		check_fail(cs, "bad type byte", h);
		return;
	}
	size = node_size(n);
	if (!check_range(cs, h, size))
		return;
	plen = node_plen(n);
	if (depth + plen > ART_MAX_KEY_LEN)
	{
		check_fail(cs, "path longer than ART_MAX_KEY_LEN", h);
		return;
	}
	if (plen > 0 && memchr(node_prefix(n), 0, plen) != NULL)
	{
		check_fail(cs, "zero byte in a node prefix", h);
		return;
	}
	if (IS_NS(n) && n[1] > NS_CAP(n))
	{
		check_fail(cs, "sorted node count above capacity", h);
		return;
	}
	if (n[0] == T_N48)
	{
		bool		used[48];
		int			k,
					refs = 0;

		memset(used, 0, sizeof(used));
		for (pos = 0; pos < 256; pos++)
		{
			uint8_t		idx = n[N48_INDEX + pos];

			if (idx == 0)
				continue;
			if (idx > 48 || used[idx - 1] || node_kids(n)[idx - 1] == ARENA_NULL)
			{
				check_fail(cs, "node48 index entry bad, shared or empty", h);
				return;
			}
			used[idx - 1] = true;
			refs++;
		}
		for (k = 0; k < 48; k++)
			if (!used[k] && node_kids(n)[k] != ARENA_NULL)
			{
				check_fail(cs, "node48 child not in the index", h);
				return;
			}
		if (refs != n[1])
		{
			check_fail(cs, "node48 count wrong", h);
			return;
		}
	}
	cs->bytes += arena_class_size(size);

	npos = node_npos(n);
	for (pos = 0; pos < npos && !cs->failed; pos++)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot == NULL)
			continue;
		if (*slot == ARENA_NULL)
		{
			check_fail(cs, "empty child slot in a sorted node", h);
			return;
		}
		if ((int) c <= prev)
		{
			check_fail(cs, "children not in strictly ascending order", h);
			return;
		}
		prev = c;
		cnt++;
		check_rec(cs, *slot, depth + plen + (c != 0 ? 1 : 0), c == 0);
	}
	if (cnt == 0)
		check_fail(cs, "inner node without children", h);
}

/*
 * Verify the tree's invariants.  Keys are in strictly ascending order when
 * every node's children are strictly ascending by byte, the only child
 * under byte 0 is a leaf with an empty suffix and no prefix or suffix holds
 * a zero byte; those are what is checked.
 */
bool
art_check(const ArtTree *tree, const ArtAllocator *a, size_t arena_size,
		  char *errbuf, size_t errlen)
{
	CheckState	cs;

	cs.a = a;
	cs.arena_units = arena_size / ARENA_UNIT;
	cs.nkeys = 0;
	cs.ntids = 0;
	cs.bytes = 0;
	cs.errbuf = errbuf;
	cs.errlen = errlen;
	cs.failed = false;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if (tree->root != ARENA_NULL)
		check_rec(&cs, tree->root, 0, false);
	if (cs.failed)
		return false;
	if (cs.nkeys != tree->nkeys)
		check_fail(&cs, "nkeys differs from the keys in the tree", tree->root);
	else if (cs.ntids != tree->ntids)
		check_fail(&cs, "ntids differs from the TIDs in the tree", tree->root);
	else if (cs.bytes != tree->bytes)
		check_fail(&cs, "bytes differs from the memory the tree holds", tree->root);
	return !cs.failed;
}
