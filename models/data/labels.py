"""The logistics label vocabulary: canonical (Chinese) names, English aliases, and the
priority an operator applies when one message carries cues of two labels."""

from __future__ import annotations

from models.errors import DataError

# Canonical label names in output order; 拦截 only appears from drift phase 2 on.
LOGISTICS_LABELS: tuple[str, ...] = (
    "运输中",
    "已签收",
    "延误",
    "异常",
    "紧急",
    "清关",
    "退货",
    "地址变更",
    "拦截",
)

ENGLISH: dict[str, str] = {
    "运输中": "in_transit",  # moving through the network
    "已签收": "delivered",  # signed for / proof of delivery
    "延误": "delayed",  # late against the promised time
    "异常": "exception",  # damaged, lost, mis-sorted, failed delivery
    "紧急": "urgent",  # urgent stock alert (low stock, out of stock)
    "清关": "customs",  # customs clearance, duties, documents
    "退货": "return",  # return or refund
    "地址变更": "address_change",  # new address, recipient or re-routing
    "拦截": "intercept",  # stop / hold a parcel in transit
}
CANONICAL: dict[str, str] = {english: name for name, english in ENGLISH.items()}

# When a message has cues of two labels, the gold label is the one listed first here: the
# action an operator must take first (a damaged parcel outranks its delay, a new address
# outranks "in transit").
PRIORITY: tuple[str, ...] = (
    "拦截",
    "异常",
    "紧急",
    "地址变更",
    "退货",
    "清关",
    "延误",
    "已签收",
    "运输中",
)


def canonical_label(name: str) -> str:
    """The canonical name of a label given in Chinese or by its English alias."""
    if name in ENGLISH:
        return name
    if name in CANONICAL:
        return CANONICAL[name]
    valid = [f"{n} ({e})" for n, e in ENGLISH.items()]
    raise DataError(f"unknown logistics label {name!r}; valid: {', '.join(valid)}")


def resolve(first: str, second: str) -> str:
    """The gold label of a message with cues of both labels."""
    return first if PRIORITY.index(first) <= PRIORITY.index(second) else second
