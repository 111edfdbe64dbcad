"""Linear-chain CRF over per-token emissions: the student's entity tagger (float side).

Score of a tag path ``y`` over ``T`` tokens with emissions ``e[t, k]``::

    s(y) = start[y_0] + e[0, y_0] + sum_{t>=1} (trans[y_{t-1}, y_t] + e[t, y_t]) + end[y_{T-1}]

The loss is the negative log-likelihood ``log Z - s(y_gold)`` (forward algorithm), decoding is
Viterbi with ties going to the lowest tag index, the rule of the integer decoder in
``docs/integer-lstm.md`` (section 8) and ``tl_crf_viterbi_s32.c``.

Written here rather than taken from pytorch-crf (unmaintained since 2019): the parameter names
and the tie rule are part of the contract with the integer converter and the C decoder.
"""

from __future__ import annotations

import torch
from torch import nn


class LinearChainCRF(nn.Module):
    """Transition, start and end scores of ``num_tags`` tags (parameters zero at init)."""

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        assert num_tags >= 2, f"a CRF needs at least 2 tags, got {num_tags}"
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def _check(self, emissions: torch.Tensor, lengths: torch.Tensor) -> None:
        assert emissions.dim() == 3 and emissions.shape[2] == self.num_tags, (
            f"emissions must be [B, T, {self.num_tags}], got {tuple(emissions.shape)}"
        )
        assert lengths.shape == (emissions.shape[0],), "lengths must be [B]"
        assert not len(lengths) or int(lengths.max()) <= emissions.shape[1], "a length exceeds T"

    def log_partition(self, emissions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``log Z`` per row ``[B]``; 0 for empty rows."""
        self._check(emissions, lengths)
        B, T, _ = emissions.shape
        if T == 0:
            return emissions.new_zeros(B)
        lengths = lengths.to(emissions.device)
        score = self.start + emissions[:, 0]  # [B, K]
        for t in range(1, T):
            step = torch.logsumexp(
                score.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1
            )  # [B, K]
            score = torch.where((t < lengths).unsqueeze(1), step, score)
        log_z = torch.logsumexp(score + self.end, dim=1)  # [B]
        return torch.where(lengths > 0, log_z, torch.zeros_like(log_z))

    def path_score(
        self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """``s(tags)`` per row ``[B]`` (``tags`` [B, T] with any value past each length)."""
        self._check(emissions, lengths)
        B, T, _ = emissions.shape
        if T == 0:
            return emissions.new_zeros(B)
        lengths = lengths.to(emissions.device)
        tags = tags.clamp(min=0)  # padding may hold an ignore value
        mask = torch.arange(T, device=emissions.device).unsqueeze(0) < lengths.unsqueeze(1)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # [B, T]
        score = (emit * mask).sum(dim=1)
        trans = self.transitions[tags[:, :-1], tags[:, 1:]]  # [B, T-1]
        score = score + (trans * mask[:, 1:]).sum(dim=1)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # [B]
        score = score + self.start[tags[:, 0]] + self.end[last]
        return torch.where(lengths > 0, score, torch.zeros_like(score))

    def nll(
        self, emissions: torch.Tensor, tags: torch.Tensor, lengths: torch.Tensor
    ) -> torch.Tensor:
        """Negative log-likelihood of the gold ``tags`` per row ``[B]`` (>= 0)."""
        return self.log_partition(emissions, lengths) - self.path_score(emissions, tags, lengths)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """The best tag path of each row (Viterbi; ties to the lowest tag index)."""
        self._check(emissions, lengths)
        out: list[list[int]] = []
        trans, start, end = self.transitions.detach(), self.start.detach(), self.end.detach()
        for row, n in zip(emissions.detach(), lengths.tolist(), strict=True):
            if n == 0:
                out.append([])
                continue
            score = start + row[0]  # [K]
            back = []
            for t in range(1, n):
                best, idx = (score.unsqueeze(1) + trans).max(dim=0)  # over the previous tag
                back.append(idx)
                score = best + row[t]
            last = int((score + end).argmax())
            path = [last]
            for idx in reversed(back):
                path.append(int(idx[path[-1]]))
            out.append(path[::-1])
        return out
