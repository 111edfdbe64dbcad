"""The linear-chain CRF against brute force over every tag path."""

from __future__ import annotations

import itertools

import pytest
import torch

from models.crf import LinearChainCRF


def random_crf(k: int, seed: int) -> LinearChainCRF:
    torch.manual_seed(seed)
    crf = LinearChainCRF(k)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    return crf


def brute_force(crf: LinearChainCRF, emissions: torch.Tensor, n: int):
    """(log Z, best path, score of each path) by enumerating all K^n paths."""
    em = emissions.detach().tolist()
    trans, start, end = (p.detach().tolist() for p in (crf.transitions, crf.start, crf.end))
    scores = {}
    for path in itertools.product(range(crf.num_tags), repeat=n):
        s = start[path[0]] + end[path[-1]] + sum(em[t][path[t]] for t in range(n))
        s += sum(trans[path[t - 1]][path[t]] for t in range(1, n))
        scores[path] = s
    best = max(scores.values())
    first_best = min(p for p, v in scores.items() if v == best)  # lexicographically lowest
    log_z = torch.logsumexp(torch.tensor(list(scores.values())), 0)
    return float(log_z), list(first_best), scores


@pytest.mark.parametrize("seed", range(4))
def test_nll_and_viterbi_match_brute_force_with_padding(seed):
    crf = random_crf(3, seed)
    emissions = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(seed))
    lengths = torch.tensor([5, 3, 1])
    tags = torch.randint(0, 3, (3, 5), generator=torch.Generator().manual_seed(seed + 9))
    nll = crf.nll(emissions, tags, lengths)
    paths = crf.decode(emissions, lengths)
    for b, n in enumerate(lengths.tolist()):
        log_z, best, scores = brute_force(crf, emissions[b], n)
        gold = tuple(tags[b, :n].tolist())
        assert nll[b].item() == pytest.approx(log_z - scores[gold], abs=1e-4)
        assert scores[tuple(paths[b])] == pytest.approx(scores[tuple(best)], abs=1e-5)


def test_empty_rows_cost_nothing_and_decode_to_nothing():
    crf = random_crf(4, 0)
    emissions = torch.randn(2, 3, 4)
    lengths = torch.tensor([0, 2])
    nll = crf.nll(emissions, torch.zeros(2, 3, dtype=torch.long), lengths)
    assert nll[0].item() == 0.0 and nll[1].item() > 0
    assert crf.decode(emissions, lengths)[0] == []
    assert crf.decode(torch.zeros(1, 0, 4), torch.tensor([0])) == [[]]


def test_ties_go_to_the_lowest_tag():
    crf = LinearChainCRF(5)  # all scores zero: every path ties
    assert crf.decode(torch.zeros(1, 4, 5), torch.tensor([4])) == [[0, 0, 0, 0]]


def test_training_the_crf_learns_a_transition_rule():
    """Tag 2 always follows tag 1: the CRF learns it from transitions alone."""
    crf = LinearChainCRF(3)
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    emissions = torch.zeros(1, 4, 3)
    emissions[0, 0, 1] = 1.0  # only the first position carries evidence
    gold = torch.tensor([[1, 2, 2, 2]])
    for _ in range(60):
        opt.zero_grad()
        loss = crf.nll(emissions, gold, torch.tensor([4])).sum()
        loss.backward()
        opt.step()
    assert crf.decode(emissions, torch.tensor([4])) == [[1, 2, 2, 2]]
