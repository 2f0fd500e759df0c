/*-------------------------------------------------------------------------
 *
 * cost.c
 *	  amcostestimate for memkv.
 *
 * A memkv scan reads no index pages: it walks a tree in shared memory.
 * The estimate is genericcostestimate's selectivity and tuple count, with
 * the page I/O replaced by the CPU cost of a descent whose depth grows
 * with the logarithm of the index's size, as a btree's does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "optimizer/optimizer.h"
#include "utils/selfuncs.h"

#include "memkv.h"

/* amcostestimate */
void
memkv_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				   Cost *indexStartupCost, Cost *indexTotalCost,
				   Selectivity *indexSelectivity, double *indexCorrelation,
				   double *indexPages)
{
	IndexOptInfo *index = path->indexinfo;
	GenericCosts costs;
	double		ntuples = Max(index->tuples, 1.0);
	Cost		descent;

	MemSet(&costs, 0, sizeof(costs));
	genericcostestimate(root, path, loop_count, &costs);

	/* a batch of results costs one descent, like a btree probe */
	descent = (ceil(log(ntuples) / log(2.0)) + 1) * cpu_operator_cost;

	/* keep generic's CPU charges, drop its page fetches */
	*indexStartupCost = descent;
	*indexTotalCost = descent * Max(costs.num_sa_scans, 1.0) +
		Max(costs.indexTotalCost -
			costs.numIndexPages * costs.spc_random_page_cost, 0.0);
	*indexSelectivity = costs.indexSelectivity;
	*indexCorrelation = 0.0;
	*indexPages = costs.numIndexPages;
}
