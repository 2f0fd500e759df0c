/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  Plain C: the size-tiered merge policy with a run budget (see
 *	  policy.h and src/README, "Merge policy").
 *
 * The rules, tried in this order; the first that fires is the merge:
 *
 *	1. Full class.  The smallest size class holding T runs: its T oldest
 *	   runs are merged (into one run of the next class).
 *	2. Budget.  With more than K runs, the smallest class holding at least
 *	   two runs is merged whole.  If every class holds one run (sizes no
 *	   stream of freezes produces below T^K batches, but VACUUM rewrites
 *	   and odd parameters can), the adjacent pair with the fewest TIDs is
 *	   merged instead, so that the budget holds for any sizes.
 *	3. Space.  With no merge in progress, if the runs' bytes exceed
 *	   size_amp_percent of what their keys would take in one run
 *	   (estimated at the largest run's bytes per key), all runs are merged.
 *	4. Rewrite.  A run that VACUUM marked REWRITE is rewritten before any
 *	   of the above: on its own, unless the merge picked already includes
 *	   it.
 *
 * Rules 1 and 2 reproduce bench/merge_sim.py, whose picks are the same
 * multisets of sizes (merge_sim never lets a class grow past T runs, so
 * "T oldest" and its "T smallest" coincide).
 *
 * Contiguity.  A pick is a window of the list.  The merge worker keeps
 * the list ordered by class (policy.h), where a class's runs are
 * adjacent and the window holds exactly them.  Where the order is broken
 * (a rewrite shrank a run), the window runs from the first to the last
 * run picked and takes along the runs between them.  BUSY runs (inputs
 * and outputs of a merge in progress) split the list into segments; a
 * window never leaves its segment.
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

#include "policy.h"

/* The size class of ntids (policy.h). */
uint32_t
policy_size_class(uint64_t ntids, const PolicyParams *params)
{
	uint64_t	limit = params->batch;
	uint32_t	c = 0;

	if (params->batch == 0 || params->merge_factor < 2 || ntids < limit)
		return 0;
	/* limit * T <= ntids, without overflow */
	while (limit <= ntids / params->merge_factor)
	{
		limit *= params->merge_factor;
		c++;
	}
	return c;
}

static bool
is_busy(const PolicyRun *run)
{
	return (run->flags & POLICY_RUN_BUSY) != 0;
}

/*
 * Look for runs of class c within the busy-free segments of the list,
 * oldest segment first.  need_full: the first segment holding at least
 * T of them gives a window over its T oldest (rule 1); otherwise the
 * segment holding the most of them, at least two, gives a window over
 * all of them (rule 2).  Returns whether a window was found.
 */
static bool
class_window(const PolicyRun *runs, uint32_t nruns,
			 const PolicyParams *params, uint32_t c, bool need_full,
			 PolicyPick *pick)
{
	uint32_t	best = 0;
	uint32_t	end = nruns;	/* segment [start, end) */

	while (end > 0)
	{
		uint32_t	start = end;
		uint32_t	members = 0;
		uint32_t	first = 0;
		uint32_t	last = 0;
		uint32_t	i;

		/* the segment ending at end, and its members of class c */
		while (start > 0 && !is_busy(&runs[start - 1]))
			start--;
		for (i = end; i > start; i--)
		{
			if (policy_size_class(runs[i - 1].ntids, params) != c)
				continue;
			if (need_full && members == params->merge_factor)
				break;
			if (members == 0)
				last = i - 1;
			first = i - 1;
			members++;
		}

		if (need_full ? members >= params->merge_factor :
			(members >= 2 && members > best))
		{
			pick->first = first;
			pick->count = last - first + 1;
			if (need_full)
				return true;
			best = members;
		}

		/* skip the busy runs before this segment */
		end = start;
		while (end > 0 && is_busy(&runs[end - 1]))
			end--;
	}
	return best > 0;
}

/* Over the budget and no class of two: the cheapest adjacent pair. */
static bool
budget_pair(const PolicyRun *runs, uint32_t nruns, PolicyPick *pick)
{
	uint64_t	best = UINT64_MAX;
	bool		found = false;
	uint32_t	i;

	for (i = nruns - 1; i > 0; i--)
	{
		uint64_t	sum;

		if (is_busy(&runs[i]) || is_busy(&runs[i - 1]))
			continue;
		sum = runs[i].ntids + runs[i - 1].ntids;
		if (sum < runs[i].ntids)
			sum = UINT64_MAX;	/* saturate */
		if (!found || sum < best)
		{
			best = sum;
			pick->first = i - 1;
			pick->count = 2;
			found = true;
		}
	}
	return found;
}

/*
 * Rule 3: do the runs' bytes exceed size_amp_percent of one run's
 * estimated bytes?  Only with no merge in progress (the merge shrinks
 * them anyway).  Doubles: the products overflow 64 bits at large sizes.
 */
static bool
space_exceeded(const PolicyRun *runs, uint32_t nruns,
			   const PolicyParams *params)
{
	const PolicyRun *largest = NULL;
	double		keys = 0;
	double		bytes = 0;
	uint32_t	i;

	if (params->size_amp_percent == 0 || nruns < 2)
		return false;
	for (i = 0; i < nruns; i++)
	{
		if (is_busy(&runs[i]))
			return false;
		if (largest == NULL || runs[i].ntids >= largest->ntids)
			largest = &runs[i];
		keys += (double) runs[i].nkeys;
		bytes += (double) runs[i].nbytes;
	}
	if (largest->nkeys == 0 || largest->nbytes == 0)
		return false;
	return bytes * 100.0 > (double) params->size_amp_percent * keys *
		((double) largest->nbytes / (double) largest->nkeys);
}

/*
 * The smallest size class above `above` that a run not BUSY has (all
 * classes if above is -1), or -1 if none: the rules try only classes
 * present, at most nruns of them.
 */
static int64_t
next_class(const PolicyRun *runs, uint32_t nruns, const PolicyParams *params,
		   int64_t above)
{
	int64_t		best = -1;
	uint32_t	i;

	for (i = 0; i < nruns; i++)
	{
		int64_t		rc;

		if (is_busy(&runs[i]))
			continue;
		rc = policy_size_class(runs[i].ntids, params);
		if (rc > above && (best < 0 || rc < best))
			best = rc;
	}
	return best;
}

/* Rules 1 to 3 (see the file header). */
static PolicyRule
pick_by_size(const PolicyRun *runs, uint32_t nruns,
			 const PolicyParams *params, PolicyPick *pick)
{
	int64_t		c;

	for (c = next_class(runs, nruns, params, -1); c >= 0;
		 c = next_class(runs, nruns, params, c))
		if (class_window(runs, nruns, params, (uint32_t) c, true, pick))
			return POLICY_FULL_CLASS;

	if (nruns > params->run_budget)
	{
		for (c = next_class(runs, nruns, params, -1); c >= 0;
			 c = next_class(runs, nruns, params, c))
			if (class_window(runs, nruns, params, (uint32_t) c, false, pick))
				return POLICY_BUDGET_CLASS;
		if (budget_pair(runs, nruns, pick))
			return POLICY_BUDGET_PAIR;
	}

	if (space_exceeded(runs, nruns, params))
	{
		pick->first = 0;
		pick->count = nruns;
		return POLICY_SIZE_AMP;
	}
	return POLICY_NONE;
}

/*
 * The next merge (policy.h): rules 1 to 3, then rule 4 over them.
 */
PolicyRule
policy_pick(const PolicyRun *runs, uint32_t nruns,
			const PolicyParams *params, PolicyPick *pick)
{
	PolicyPick	found = {0, 0, POLICY_NONE};
	uint32_t	rewrite = nruns;
	uint32_t	i;

	if (params->merge_factor < 2 || params->run_budget < 1 ||
		params->batch < 1)
		return POLICY_BAD_PARAMS;

	found.rule = pick_by_size(runs, nruns, params, &found);

	/* the oldest run waiting for a rewrite, if any */
	for (i = nruns; i > 0; i--)
		if ((runs[i - 1].flags & POLICY_RUN_REWRITE) && !is_busy(&runs[i - 1]))
		{
			rewrite = i - 1;
			break;
		}

	if (rewrite < nruns &&
		(found.rule == POLICY_NONE || rewrite < found.first ||
		 rewrite >= found.first + found.count))
	{
		found.first = rewrite;
		found.count = 1;
		found.rule = POLICY_REWRITE;
	}

	if (found.rule != POLICY_NONE)
		*pick = found;
	return found.rule;
}
