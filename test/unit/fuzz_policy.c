/*-------------------------------------------------------------------------
 *
 * fuzz_policy.c
 *	  libFuzzer target for the merge policy (src/policy.c): any parameters
 *	  and run sizes.
 *
 * The input gives T, K, B and the space percentage, a run list (sizes,
 * keys, bytes, BUSY and REWRITE flags, up to 48 runs), then a stream of
 * freeze sizes.  Checked: on the list as given, a pick stays inside it,
 * holds no BUSY run, holds two runs or more unless it is a REWRITE of a
 * REWRITE run, and the space rule fires only with no merge in progress.
 * Then, the merges in progress done (BUSY cleared), each freeze adds a
 * run and the policy is asked until it has nothing to do, applying each
 * merge: that loop must end within a bound (each merge removes a run or
 * a REWRITE flag) and leave at most K runs.  A failure is a trap.
 *
 *-------------------------------------------------------------------------
 */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

#define MAX_RUNS	256

typedef struct Input
{
	const uint8_t *p;
	size_t		left;
} Input;

static uint64_t
take(Input *in, int nbytes)
{
	uint64_t	v = 0;
	int			i;

	for (i = 0; i < nbytes; i++)
	{
		v <<= 8;
		if (in->left > 0)
		{
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

/* A size: a few random bits shifted anywhere in 64 bits. */
static uint64_t
take_size(Input *in)
{
	uint64_t	mant = take(in, 2);
	uint8_t		shift = (uint8_t) (take(in, 1) % 64);

	return mant << shift;
}

/* Check one pick against the list it was made from. */
static void
check_pick(const PolicyRun *runs, uint32_t n, PolicyRule rule,
		   const PolicyPick *pick)
{
	uint32_t	i;

	if (rule == POLICY_NONE || rule == POLICY_BAD_PARAMS)
		return;
	REQUIRE(rule >= POLICY_FULL_CLASS && rule <= POLICY_REWRITE);
	REQUIRE(pick->count >= 1 && pick->first < n &&
			pick->count <= n - pick->first);
	for (i = pick->first; i < pick->first + pick->count; i++)
		REQUIRE(!(runs[i].flags & POLICY_RUN_BUSY));
	if (rule == POLICY_REWRITE)
		REQUIRE(pick->count == 1 &&
				(runs[pick->first].flags & POLICY_RUN_REWRITE));
	else
		REQUIRE(pick->count >= 2);
	if (rule == POLICY_SIZE_AMP)
		for (i = 0; i < n; i++)
			REQUIRE(!(runs[i].flags & POLICY_RUN_BUSY));
}

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Replace the picked window by one merged run, REWRITE cleared. */
static uint32_t
apply(PolicyRun *runs, uint32_t n, const PolicyPick *pick)
{
	PolicyRun	out = {0, 0, 0, 0};
	uint32_t	i;

	for (i = pick->first; i < pick->first + pick->count; i++)
	{
		out.ntids = sat_add(out.ntids, runs[i].ntids);
		out.nkeys = sat_add(out.nkeys, runs[i].nkeys);
		out.nbytes = sat_add(out.nbytes, runs[i].nbytes);
	}
	runs[pick->first] = out;
	memmove(&runs[pick->first + 1], &runs[pick->first + pick->count],
			(n - pick->first - pick->count) * sizeof(PolicyRun));
	return n - (pick->count - 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static PolicyRun runs[MAX_RUNS];
	Input		in = {data, size};
	PolicyParams params;
	PolicyPick	pick;
	PolicyRule	rule;
	uint32_t	n;
	uint32_t	i;
	int			freezes;

	params.merge_factor = (uint32_t) take(&in, 1) % 17;	/* 0, 1: refused */
	params.run_budget = (uint32_t) take(&in, 1) % 31;	/* 0: refused */
	params.batch = take(&in, 2);	/* 0: refused */
	params.size_amp_percent = (uint32_t) take(&in, 1);
	if (params.size_amp_percent)
		params.size_amp_percent += 100;
	n = (uint32_t) take(&in, 1) % 49;
	for (i = 0; i < n; i++)
	{
		uint8_t		flags = (uint8_t) take(&in, 1);

		runs[i].ntids = take_size(&in);
		runs[i].nkeys = take_size(&in);
		runs[i].nbytes = take_size(&in);
		runs[i].flags = flags & (POLICY_RUN_BUSY | POLICY_RUN_REWRITE);
	}

	rule = policy_pick(runs, n, &params, &pick);
	if (params.merge_factor < 2 || params.run_budget < 1 || params.batch < 1)
	{
		REQUIRE(rule == POLICY_BAD_PARAMS);
		return 0;
	}
	check_pick(runs, n, rule, &pick);

	/* the merges in progress finish; then a stream of freezes */
	for (i = 0; i < n; i++)
		runs[i].flags &= ~POLICY_RUN_BUSY;
	for (freezes = 0; freezes < 200; freezes++)
	{
		uint32_t	rewrites = 0;
		uint32_t	steps = 0;
		uint32_t	n0;

		if (n > 0 || freezes > 0)
		{
			if (n == MAX_RUNS)
				break;
			memmove(&runs[1], &runs[0], n * sizeof(PolicyRun));
			runs[0].ntids = in.left ? take_size(&in) : params.batch;
			runs[0].nkeys = runs[0].ntids;
			runs[0].nbytes = runs[0].ntids;
			runs[0].flags = 0;
			n++;
		}
		for (i = 0; i < n; i++)
			if (runs[i].flags & POLICY_RUN_REWRITE)
				rewrites++;
		n0 = n;
		while ((rule = policy_pick(runs, n, &params, &pick)) != POLICY_NONE)
		{
			check_pick(runs, n, rule, &pick);
			n = apply(runs, n, &pick);
			/* each step removes a run or a REWRITE flag */
			REQUIRE(++steps <= n0 + rewrites);
		}
		REQUIRE(n <= params.run_budget);
	}
	return 0;
}
