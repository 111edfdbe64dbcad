"""Entities that fill the synthetic templates: carriers, places, ids, dates, quantities.

Every pool is tagged with the drift phase it appears in; phase ``k`` draws from everything up
to ``k`` and favours what is new in ``k`` (new carriers and place names are part of drift).
A template names slots like ``{waybill}``; ``SlotFiller`` draws each slot once per message, so
``{carrier}`` and ``{waybill}`` agree, in the message's language.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
NEW_WEIGHT = 3.0  # how much more often an entity new in the current phase is drawn


@dataclass(frozen=True)
class Carrier:
    zh: str  # Chinese name
    en: str  # English name
    prefix: str  # waybill number prefix
    digits: int  # waybill digits after the prefix
    phase: int  # first drift phase it appears in


CARRIERS: tuple[Carrier, ...] = (
    Carrier("顺丰", "SF Express", "SF", 10, 0),
    Carrier("中通", "ZTO Express", "ZT", 12, 0),
    Carrier("圆通", "YTO Express", "YT", 13, 0),
    Carrier("韵达", "Yunda", "YD", 13, 0),
    Carrier("京东物流", "JD Logistics", "JDV", 12, 0),
    Carrier("邮政EMS", "China Post EMS", "EM", 9, 0),
    Carrier("DHL", "DHL", "", 10, 0),
    Carrier("联邦快递", "FedEx", "FX", 12, 0),
    Carrier("极兔速递", "J&T Express", "JT", 13, 1),
    Carrier("德邦快递", "Deppon", "DPK", 12, 1),
    Carrier("UPS", "UPS", "1Z", 16, 1),
    Carrier("菜鸟", "Cainiao", "LP", 14, 1),
    Carrier("货拉拉", "Lalamove", "HLL", 11, 2),
    Carrier("马士基", "Maersk", "MAEU", 7, 2),
    Carrier("丹鸟", "Danniao", "DN", 12, 2),
    Carrier("申通", "STO Express", "77", 12, 2),
    Carrier("闪送", "Shansong", "SS", 10, 3),
    Carrier("亚马逊物流", "Amazon Shipping", "TBA", 12, 3),
    Carrier("安能物流", "ANE Logistics", "AN", 11, 3),
)

# (Chinese, English, phase)
CITIES: tuple[tuple[str, str, int], ...] = (
    ("上海", "Shanghai", 0),
    ("北京", "Beijing", 0),
    ("广州", "Guangzhou", 0),
    ("深圳", "Shenzhen", 0),
    ("杭州", "Hangzhou", 0),
    ("南京", "Nanjing", 0),
    ("武汉", "Wuhan", 0),
    ("天津", "Tianjin", 0),
    ("苏州", "Suzhou", 0),
    ("洛杉矶", "Los Angeles", 0),
    ("汉堡", "Hamburg", 0),
    ("成都", "Chengdu", 1),
    ("重庆", "Chongqing", 1),
    ("西安", "Xi'an", 1),
    ("郑州", "Zhengzhou", 1),
    ("胡志明市", "Ho Chi Minh City", 1),
    ("雅加达", "Jakarta", 1),
    ("乌鲁木齐", "Urumqi", 2),
    ("昆明", "Kunming", 2),
    ("哈尔滨", "Harbin", 2),
    ("义乌", "Yiwu", 2),
    ("迪拜", "Dubai", 2),
    ("布达佩斯", "Budapest", 2),
    ("墨西哥城", "Mexico City", 2),
    ("合肥", "Hefei", 3),
    ("长沙", "Changsha", 3),
    ("曼谷", "Bangkok", 3),
    ("利雅得", "Riyadh", 3),
    ("圣保罗", "São Paulo", 3),
)

FOREIGN = frozenset(
    (
        "Los Angeles", "Hamburg", "Ho Chi Minh City", "Jakarta", "Dubai", "Budapest",
        "Mexico City", "Bangkok", "Riyadh", "São Paulo",
    )
)  # fmt: skip  # no Chinese street addresses in these
WAREHOUSE_KINDS = {
    "zh": ("仓", "中心仓", "分拨中心", "转运中心", "一号仓", "保税仓", "前置仓"),
    "en": (" DC", " warehouse", " hub", " sorting center", " fulfillment center", " FC"),
}
PORTS: tuple[tuple[str, str, int], ...] = (
    ("上海浦东机场口岸", "Shanghai Pudong customs", 0),
    ("深圳前海", "Shenzhen Qianhai", 0),
    ("天津港", "Port of Tianjin", 0),
    ("广州白云机场", "Guangzhou Baiyun customs", 0),
    ("郑州新郑综保区", "Zhengzhou bonded zone", 1),
    ("重庆西永", "Chongqing Xiyong", 1),
    ("霍尔果斯口岸", "Khorgos border crossing", 2),
    ("钦州港", "Port of Qinzhou", 2),
    ("二连浩特口岸", "Erenhot border crossing", 3),
    ("深圳湾口岸", "Shenzhen Bay port", 3),
)
ITEMS: tuple[tuple[str, str, int], ...] = (
    ("手机壳", "phone case", 0),
    ("蓝牙耳机", "wireless earbuds", 0),
    ("奶粉", "baby formula", 0),
    ("口红", "lipstick", 0),
    ("羽绒服", "down jacket", 0),
    ("笔记本电脑", "laptop", 0),
    ("运动鞋", "sneakers", 0),
    ("电饭煲", "rice cooker", 0),
    ("年货礼盒", "New Year gift box", 1),
    ("暖手宝", "hand warmer", 1),
    ("车厘子", "cherries", 1),
    ("储能电池", "battery pack", 2),
    ("光伏板", "solar panel", 2),
    ("冻品海鲜", "frozen seafood", 2),
    ("无人机", "drone", 3),
    ("电动牙刷", "electric toothbrush", 3),
    ("宠物粮", "pet food", 3),
)
SURNAMES = ("张", "李", "王", "刘", "陈", "杨", "赵", "黄", "周", "吴")
EN_NAMES = ("Smith", "Chen", "Garcia", "Nguyen", "Müller", "Wang", "Brown", "Kim", "Lopez")
ROADS = {
    "zh": ("文三路", "南京西路", "中山大道", "建国路", "科技园南路", "人民路", "解放路"),
    "en": ("Main St", "Harbor Rd", "Park Ave", "Nanjing W Rd", "Keyuan Rd", "Station St"),
}
DISTRICTS = ("西湖区", "浦东新区", "朝阳区", "南山区", "天河区", "江北区", "高新区")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# (year, month) range of dates per phase: autumn 2023, peak season 2023/24, spring 2024,
# the mid-year sale 2024.
PHASE_MONTHS = {
    0: ((2023, 10), (2023, 11)),
    1: ((2023, 12), (2024, 1)),
    2: ((2024, 3), (2024, 4)),
    3: ((2024, 6), (2024, 7)),
}
# order numbers: DH<date>[4 digits]; PO-<year>-<6 digits> (purchase orders, phase 2 on);
# LS<12 digits> (live-stream shop orders, phase 3)
PHASE_ORDER_PREFIX = {0: ("DH",), 1: ("DH", "DH"), 2: ("DH", "PO"), 3: ("DH", "PO", "LS")}


def pick_phased(rng: random.Random, pool: tuple[T, ...], phase: int) -> T:
    """Draw from the entries of ``pool`` up to ``phase``; new-in-phase entries weigh more."""
    items = [p for p in pool if _phase_of(p) <= phase]
    weights = [NEW_WEIGHT if _phase_of(p) == phase and phase > 0 else 1.0 for p in items]
    return rng.choices(items, weights=weights)[0]


def _phase_of(entry: object) -> int:
    if isinstance(entry, Carrier):
        return entry.phase
    assert isinstance(entry, tuple), "phased pool entries are Carrier or (zh, en, phase)"
    phase = entry[-1]
    assert isinstance(phase, int), "the last field of a pool entry is its phase"
    return phase


class SlotFiller(dict[str, str]):
    """A ``str.format_map`` mapping that draws each slot on first use, once per message."""

    def __init__(self, rng: random.Random, phase: int, lang: str) -> None:
        super().__init__()
        self.rng, self.phase, self.lang = rng, phase, lang
        self._carrier: Carrier | None = None

    def _lang(self) -> str:
        """The language of one slot: mixed messages draw it per slot."""
        if self.lang == "mix":
            return self.rng.choice(("zh", "en"))
        return self.lang

    def __missing__(self, slot: str) -> str:
        value = getattr(self, f"_slot_{slot}")()
        assert isinstance(value, str), f"slot {slot} must render to a str"
        self[slot] = value
        return value

    def carrier(self) -> Carrier:
        if self._carrier is None:
            self._carrier = pick_phased(self.rng, CARRIERS, self.phase)
        return self._carrier

    def _digits(self, n: int) -> str:
        return "".join(str(self.rng.randrange(10)) for _ in range(n))

    def _slot_carrier(self) -> str:
        return self.carrier().zh if self._lang() == "zh" else self.carrier().en

    def _slot_waybill(self) -> str:
        carrier = self.carrier()
        return carrier.prefix + self._digits(carrier.digits)

    def _place(self, pool: tuple[tuple[str, str, int], ...]) -> str:
        zh, en, _ = pick_phased(self.rng, pool, self.phase)
        return zh if self._lang() == "zh" else en

    def _distinct_city(self, other: str) -> str:
        """A city other than slot ``other`` (from and to differ in one message)."""
        for _ in range(20):
            city = self._place(CITIES)
            if city != self.get(other):
                return city
        return city

    def _slot_city(self) -> str:
        return self._distinct_city("city2")

    def _slot_city2(self) -> str:
        return self._distinct_city("city")

    def _slot_port(self) -> str:
        return self._place(PORTS)

    def _slot_item(self) -> str:
        return self._place(ITEMS)

    def _slot_wh(self) -> str:
        lang = self._lang()
        zh, en, _ = pick_phased(self.rng, CITIES, self.phase)
        return (zh if lang == "zh" else en) + self.rng.choice(WAREHOUSE_KINDS[lang])

    def _date(self) -> tuple[int, int, int]:
        (y0, m0), (y1, m1) = PHASE_MONTHS[self.phase]
        year, month = self.rng.choice(((y0, m0), (y1, m1)))
        return year, month, self.rng.randrange(1, 29)

    def _slot_order(self) -> str:
        year, month, day = self._date()
        prefix = self.rng.choice(PHASE_ORDER_PREFIX[self.phase])
        if prefix == "PO":
            return f"PO-{year}-{self._digits(6)}"
        if prefix == "LS":
            return f"LS{self._digits(12)}"
        return f"DH{year}{month:02d}{day:02d}" + (
            "" if self.rng.random() < 0.7 else self._digits(4)
        )

    def _slot_date(self) -> str:
        year, month, day = self._date()
        style = self.rng.randrange(3)
        if style == 0:
            return f"{year}-{month:02d}-{day:02d}"
        if self._lang() == "zh":
            return f"{month}月{day}日"
        return f"{MONTHS[month - 1]} {day}" if style == 1 else f"{day}/{month}"

    def _slot_time(self) -> str:
        return f"{self.rng.randrange(7, 23):02d}:{self.rng.randrange(60):02d}"

    def _slot_qty(self) -> str:
        return str(self.rng.choice((0, 1, 2, 3, 5, 8, 10, 12, 20, 36, 50, 120, 300)))

    def _slot_days(self) -> str:
        return str(self.rng.randrange(1, 8))

    def _slot_hours(self) -> str:
        return str(self.rng.choice((2, 4, 6, 12, 24, 48)))

    def _slot_code(self) -> str:
        return f"{self.rng.randrange(1, 30)}-{self.rng.randrange(1, 9)}-{self._digits(4)}"

    def _slot_sku(self) -> str:
        letters = "".join(self.rng.choice("ABCDHKMPX") for _ in range(self.rng.randrange(1, 3)))
        sep = self.rng.choice(("-", "", "-"))
        return f"{self.rng.choice(('SKU-', '', ''))}{letters}{sep}{self._digits(4)}"

    def _slot_amount(self) -> str:
        value = f"{self.rng.randrange(5, 2000)}.{self.rng.randrange(100):02d}"
        if self._lang() == "zh":
            return self.rng.choice((f"¥{value}", f"{value}元"))
        return self.rng.choice((f"${value}", f"USD {value}", f"¥{value}"))

    def _slot_phone(self) -> str:
        return f"1{self.rng.choice('3589')}{self._digits(1)}****{self._digits(4)}"

    def _slot_name(self) -> str:
        if self._lang() == "zh":
            return self.rng.choice(SURNAMES) + self.rng.choice(("先生", "女士", "某"))
        return self.rng.choice(("Mr. ", "Ms. ", "")) + self.rng.choice(EN_NAMES)

    def _slot_addr(self) -> str:
        lang = self._lang()
        pool = CITIES if lang == "en" else tuple(c for c in CITIES if c[1] not in FOREIGN)
        zh, en, _ = pick_phased(self.rng, pool, self.phase)
        number = self.rng.randrange(1, 999)
        if lang == "zh":
            return f"{zh}{self.rng.choice(DISTRICTS)}{self.rng.choice(ROADS['zh'])}{number}号"
        return f"{number} {self.rng.choice(ROADS['en'])}, {en}"
