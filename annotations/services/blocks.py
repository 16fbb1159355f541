"""Screens of k of a study's n arms: which arms each case shows (its block) and the order
of each screen's responses. Pure functions over arm indices (0..n-1, the study's arm
order) and a seeded ``random.Random``: the planner (``services/planner.py``) reads and
writes the database around them.

Blocks are dealt in cycles: each cycle takes every k-subset of the arms once, so at the
end of each cycle every arm has been shown equally often and every pair of arms has met
equally often (a balanced incomplete block design). Within a cycle the next block is the
one that keeps the arms' counts, then the pairs' counts, most even so far (ties drawn at
random), so a plan that ends within a cycle stays close to balanced. Blocks already
planned (kept through a re-plan) count, so a re-plan continues their cycle. Where the
subsets are too many to list (``MAX_LISTED_BLOCKS``) each block is the most even of
``SAMPLED_BLOCKS`` drawn at random.

Orders: each screen's arms are put in positions so that each arm sits in each position
equally often, within one, over each rater's screens and over all of them together. That
is an equitable edge colouring of the (screen, arm) graph with a second, nested set of
counts (a rater's within the plan's); it is built one position at a time, each position
a feasible integral flow in which every screen gives one arm, every (rater, arm) and every
arm the floor or the ceiling of its remaining share (the even fractional split is such a
flow, so an integral one exists; taking floor or ceiling each time ends within one)."""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Mapping, Sequence
from itertools import combinations
from math import comb

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow

# Above this many k-subsets a cycle is not listed; blocks are then chosen among a sample.
MAX_LISTED_BLOCKS = 3000
SAMPLED_BLOCKS = 500


def _pair_index(n_arms: int) -> np.ndarray:
    """``index[a, b]``: the column of the pair {a, b} (a != b) among the n(n-1)/2 pairs."""
    index = np.full((n_arms, n_arms), -1, dtype=np.int64)
    for column, (a, b) in enumerate(combinations(range(n_arms), 2)):
        index[a, b] = index[b, a] = column
    return index


def _pairs_of(block: Sequence[int], pair_index: np.ndarray) -> list[int]:
    return [int(pair_index[a, b]) for a, b in combinations(block, 2)]


def incomplete_blocks(n_arms: int, k: int, count: int, rng: random.Random,
                      planned: Iterable[Sequence[int]] = ()) -> list[tuple[int, ...]]:
    """The next ``count`` blocks (k arm indices each, ascending) after the blocks
    ``planned`` already, dealt in cycles of every k-subset (see the module's docstring).
    Planned blocks of another size count towards the arms' and pairs' balance only."""
    if not 1 <= k <= n_arms:
        raise ValueError(f"a block takes 1 to {n_arms} arms, not {k}")
    pair_index = _pair_index(n_arms)
    arm_counts = np.zeros(n_arms, dtype=np.int64)
    pair_counts = np.zeros(max(1, comb(n_arms, 2)), dtype=np.int64)
    planned = [tuple(sorted(block)) for block in planned]
    for block in planned:
        arm_counts[list(block)] += 1
        pair_counts[_pairs_of(block, pair_index)] += 1
    if comb(n_arms, k) <= MAX_LISTED_BLOCKS:
        return _dealt_in_cycles(n_arms, k, count, rng, planned, arm_counts, pair_counts, pair_index)
    return _dealt_from_samples(n_arms, k, count, rng, arm_counts, pair_counts, pair_index)


def _dealt_in_cycles(n_arms, k, count, rng, planned, arm_counts, pair_counts, pair_index) -> list[tuple[int, ...]]:
    subsets = list(combinations(range(n_arms), k))
    position = {block: i for i, block in enumerate(subsets)}
    arms = np.array(subsets, dtype=np.int64).reshape(len(subsets), k)
    pairs = np.array([_pairs_of(block, pair_index) for block in subsets], dtype=np.int64).reshape(len(subsets), -1)
    uses = np.zeros(len(subsets), dtype=np.int64)
    for block in planned:
        if block in position:
            uses[position[block]] += 1
    dealt = []
    for _ in range(count):
        # The blocks this cycle has not dealt yet; among them the most even choice.
        candidates = np.flatnonzero(uses == uses.min())
        chosen = _most_even(candidates, arms, pairs, arm_counts, pair_counts, rng)
        uses[chosen] += 1
        arm_counts[arms[chosen]] += 1
        pair_counts[pairs[chosen]] += 1
        dealt.append(subsets[chosen])
    return dealt


def _dealt_from_samples(n_arms, k, count, rng, arm_counts, pair_counts, pair_index) -> list[tuple[int, ...]]:
    draw = np.random.default_rng(rng.getrandbits(64))
    first, second = np.triu_indices(k, 1)
    dealt = []
    for _ in range(count):
        arms = np.sort(draw.random((SAMPLED_BLOCKS, n_arms)).argsort(axis=1)[:, :k], axis=1)
        pairs = pair_index[arms[:, first], arms[:, second]]
        chosen = _most_even(np.arange(SAMPLED_BLOCKS), arms, pairs, arm_counts, pair_counts, rng)
        arm_counts[arms[chosen]] += 1
        pair_counts[pairs[chosen]] += 1
        dealt.append(tuple(int(a) for a in arms[chosen]))
    return dealt


def _most_even(candidates: np.ndarray, arms: np.ndarray, pairs: np.ndarray, arm_counts: np.ndarray,
               pair_counts: np.ndarray, rng: random.Random) -> int:
    """The candidate whose arms have been shown least (summed), then whose pairs have met
    least; ties drawn at random."""
    arm_load = arm_counts[arms[candidates]].sum(axis=1)
    candidates = candidates[arm_load == arm_load.min()]
    pair_load = pair_counts[pairs[candidates]].sum(axis=1)
    candidates = candidates[pair_load == pair_load.min()]
    return int(candidates[rng.randrange(len(candidates))])


def block_orders(queues: Mapping[Hashable, Sequence[Sequence[int]]], k: int,
                 rng: random.Random) -> dict[Hashable, list[list[int]]]:
    """For each rater (``queues``: rater -> the blocks of their new screens, in queue
    order), each screen's arms in the order shown: a permutation of its block, with each
    arm in each of the k positions equally often, within one, over each rater's screens
    and over all screens (see the module's docstring)."""
    screens = [(rater, tuple(block)) for rater, blocks in queues.items() for block in blocks]
    if any(len(block) != k for _, block in screens):
        raise ValueError(f"every block must have {k} arms")
    groups: dict[tuple, int] = {}
    arm_ids: dict[int, int] = {}
    edges = []  # (screen, group, arm node) of each arm still to place
    for s, (rater, block) in enumerate(screens):
        for arm in block:
            edges.append((s, groups.setdefault((rater, arm), len(groups)), arm_ids.setdefault(arm, len(arm_ids))))
    orders: dict[Hashable, list[list[int]]] = {rater: [] for rater in queues}
    if not screens:
        return orders
    placed: list[dict[int, int]] = [{} for _ in screens]  # position -> arm
    remaining = edges
    arm_of_id = {node: arm for arm, node in arm_ids.items()}
    positions = list(range(k))
    rng.shuffle(positions)  # which position each round of the flow fills
    for round_ in range(k):
        taken = _one_per_screen(remaining, len(screens), len(groups), len(arm_ids), k - round_, rng)
        for edge in taken:
            placed[edge[0]][positions[round_]] = arm_of_id[edge[2]]
        chosen = set(taken)
        remaining = [edge for edge in remaining if edge not in chosen]
    for (rater, _), by_position in zip(screens, placed):
        orders[rater].append([by_position[p] for p in range(k)])
    return orders


def _one_per_screen(edges: list[tuple[int, int, int]], n_screens: int, n_groups: int, n_arms: int,
                    rounds_left: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """One edge per screen such that every group and every arm takes the floor or the
    ceiling of its remaining edges over ``rounds_left``: a flow with lower bounds, found
    as a maximum flow from a super source (the lower bounds moved into supplies and
    demands; the source and sink are one node, closing the circulation)."""
    group_edges = np.bincount([g for _, g, _ in edges], minlength=n_groups)
    arm_edges = np.bincount([a for _, _, a in edges], minlength=n_arms)
    group_arm = {g: a for _, g, a in edges}
    # Node numbers drawn afresh each round, so the flow found is not tied to the order
    # the screens were listed in.
    order = list(range(n_screens + n_groups + n_arms))
    rng.shuffle(order)
    hub, super_source, super_sink = 0, 1, 2
    screen_node = [3 + order[s] for s in range(n_screens)]
    group_node = [3 + order[n_screens + g] for g in range(n_groups)]
    arm_node = [3 + order[n_screens + n_groups + a] for a in range(n_arms)]
    n_nodes = 3 + len(order)
    excess = np.zeros(n_nodes, dtype=np.int64)
    capacity: dict[tuple[int, int], int] = {}

    def arc(u: int, v: int, low: int, high: int) -> None:
        if high > low:
            capacity[(u, v)] = capacity.get((u, v), 0) + high - low
        excess[v] += low
        excess[u] -= low

    for s in range(n_screens):
        arc(hub, screen_node[s], 1, 1)
    for s, g, _ in edges:
        arc(screen_node[s], group_node[g], 0, 1)
    for g in group_arm:
        share = group_edges[g] / rounds_left
        arc(group_node[g], arm_node[group_arm[g]], int(np.floor(share)), int(np.ceil(share)))
    for a in range(n_arms):
        share = arm_edges[a] / rounds_left
        arc(arm_node[a], hub, int(np.floor(share)), int(np.ceil(share)))
    for node in range(n_nodes):
        if excess[node] > 0:
            capacity[(super_source, node)] = int(excess[node])
        elif excess[node] < 0:
            capacity[(node, super_sink)] = int(-excess[node])
    arcs = np.array(list(capacity), dtype=np.int64).reshape(-1, 2)
    values = np.array(list(capacity.values()), dtype=np.int32)
    graph = csr_array((values, (arcs[:, 0], arcs[:, 1])), shape=(n_nodes, n_nodes))
    result = maximum_flow(graph, super_source, super_sink)
    if result.flow_value != int(excess[excess > 0].sum()):
        raise RuntimeError("no balanced placement found")  # cannot happen: the even split is a flow
    flow = result.flow.tocsr()
    used = np.asarray(flow[[screen_node[s] for s, _, _ in edges], [group_node[g] for _, g, _ in edges]]).ravel()
    return [edge for edge, amount in zip(edges, used) if amount > 0]
