"""Realistic synthetic customers with known duplicates, for demos, tests and benchmarks.

`generate_customers(n, seed)` returns ``n`` source records of people spread over several silos
(crm, accounting, webshop, support). Every row has the ground-truth ``entity_id`` of the person it
describes, so matching quality can be measured. The data is hard in the ways real data is hard:
typos, nicknames (Bill/William), accents dropped by ASCII-only systems, swapped first/last names,
per-silo formats for phones, dates and case, missing values, people who moved or use another
e-mail, and hard negatives: family members sharing a last name, address and landline, and
namesakes.

Speed comes from sampling with numpy: Faker is called only to fill small pools (street names,
cities, companies); names come from Faker's weighted name tables; all per-row work is array
indexing or vectorised string concatenation, except typos, which touch a few per cent of rows.
The output depends only on (n, seed, sources).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
from faker import Faker
from faker.providers.person.de_DE import Provider as GermanNames
from faker.providers.person.en_US import Provider as UsNames
from faker.providers.person.es_ES import Provider as SpanishNames
from faker.providers.person.fr_FR import Provider as FrenchNames

from crmhub.matching.normalize import NICKNAMES, normalize_email

SOURCES: tuple[str, ...] = ("crm", "accounting", "webshop", "support")
COLUMNS: tuple[str, ...] = (
    "source", "source_id", "entity_id", "first_name", "last_name", "email", "phone",
    "birth_date", "street", "city", "postal_code", "country", "company", "tax_id",
)  # fmt: skip

_RECORDS_PER_ENTITY = (np.array([1, 2, 3, 4]), np.array([0.5, 0.27, 0.15, 0.08]))
# fmt: off
_AREA_CODES = np.array([
    201, 202, 206, 212, 213, 214, 215, 303, 305, 310, 312, 313, 404, 407, 415, 503, 512, 602, 609,
    612, 614, 617, 646, 702, 703, 704, 713, 718, 720, 773, 818, 832, 858, 904, 917, 919, 949, 971,
    978,
])
# fmt: on
_EMAIL_DOMAINS = (
    np.array(
        [
            "gmail.com",
            "yahoo.com",
            "hotmail.com",
            "outlook.com",
            "aol.com",
            "icloud.com",
            "comcast.net",
            "protonmail.com",
        ],
        dtype=object,
    ),
    np.array([0.42, 0.14, 0.1, 0.1, 0.06, 0.08, 0.05, 0.05]),
)  # fmt: skip
_STREET_SHORT = {"Street": "St", "Avenue": "Ave", "Road": "Rd", "Drive": "Dr", "Lane": "Ln",
                 "Court": "Ct", "Place": "Pl", "Boulevard": "Blvd"}  # fmt: skip
_DATE_STYLE = {"crm": "iso", "accounting": "dmy", "webshop": "compact", "support": "dotted"}
_CASE_STYLE = {"crm": "title", "accounting": "upper", "webshop": "lower", "support": "title"}
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)
_PAD2 = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_PAD3 = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
_PAD4 = np.array([f"{i:04d}" for i in range(10000)], dtype=object)
_NUMBERS = np.array([str(i) for i in range(10000)], dtype=object)


def generate_customers(
    n: int,
    seed: int = 0,
    *,
    sources: Sequence[str] = SOURCES,
    family_rate: float = 0.12,
    namesake_rate: float = 0.03,
) -> pd.DataFrame:
    """`n` customer records with ground truth in ``entity_id`` (columns `COLUMNS`).

    Args:
        n: number of rows (source records) to return.
        seed: the same seed always gives the same rows.
        sources: silo names; the four defaults each have their own formats and gaps.
        family_rate: share of people who live with another person (same last name, address,
            landline): the main source of false merges.
        namesake_rate: share of people who share first and last name with someone else.
    """
    if n <= 0:
        return pd.DataFrame({column: pd.Series([], dtype=object) for column in COLUMNS})
    rng = np.random.default_rng(seed)
    pools = _pools(seed)
    entity_count = int(1.1 * n / float(_RECORDS_PER_ENTITY[0] @ _RECORDS_PER_ENTITY[1])) + 20
    people = _people(entity_count, rng, pools, family_rate, namesake_rate)
    entity = _assign_records(n, entity_count, rng)
    rows = {key: values[entity] for key, values in people.items()}
    rows["source"] = _assign_sources(entity, rng, tuple(sources))
    frame = _render(rows, entity, rng, pools)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    return _with_ids(frame)


class _Pools:
    """Value pools drawn once with a seeded Faker: names from its weighted tables."""

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.male = _weighted(UsNames.first_names_male)
        self.female = _weighted(UsNames.first_names_female)
        self.last = _weighted(UsNames.last_names)
        foreign = (SpanishNames, FrenchNames, GermanNames)
        self.foreign_first = np.array(sorted({n for p in foreign for n in p.first_names}), object)
        self.foreign_last = np.array(sorted({n for p in foreign for n in p.last_names}), object)
        self.streets = np.array([fake.street_name() for _ in range(2000)], dtype=object)
        self.streets_short = _abbreviated(self.streets)
        places = [(fake.city(), fake.postcode()) for _ in range(2000)]
        self.cities = np.array([city for city, _ in places], dtype=object)
        self.postcodes = np.array([code for _, code in places], dtype=object)
        self.companies = np.array([fake.company() for _ in range(1000)], dtype=object)
        nick: dict[str, list[str]] = {}
        for short, formal in NICKNAMES.items():
            nick.setdefault(formal.title(), []).append(short.title())
        self.nicknames = nick


@lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    """Pools are read-only after creation, so repeated calls with one seed share them."""
    return _Pools(seed)


def _abbreviated(streets: np.ndarray) -> np.ndarray:
    """The same street names the way a hurried clerk writes them: "Oak Street" -> "Oak St"."""
    out = pd.Series(streets, dtype=object)
    for i, (long, abbr) in enumerate(_STREET_SHORT.items()):
        out = out.str.replace(rf"\b{long}$", abbr + "." * (i % 2), regex=True)
    return out.to_numpy(dtype=object)


def _map_unique(values: np.ndarray, func: Callable[[pd.Series], pd.Series]) -> np.ndarray:
    """`func` applied once per distinct value (None stays None)."""
    codes, uniques = pd.factorize(values)
    done = func(pd.Series(np.asarray(uniques, dtype=object), dtype=object)).to_numpy(dtype=object)
    return np.append(done, None)[codes]


def _weighted(table: object) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(list(table), dtype=object)  # type: ignore[call-overload]
    weights = np.array(list(table.values()), dtype=float)  # type: ignore[attr-defined]
    return names, weights / weights.sum()


def _pick(rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray], size: int) -> np.ndarray:
    return rng.choice(pool[0], size=size, p=pool[1])


def _people(
    count: int, rng: np.random.Generator, pools: _Pools, family_rate: float, namesake_rate: float
) -> dict[str, np.ndarray]:
    """One row per real person (the truth) before any silo touches it."""
    male = rng.random(count) < 0.5
    first = np.where(male, _pick(rng, pools.male, count), _pick(rng, pools.female, count))
    last = _pick(rng, pools.last, count)
    foreign = rng.random(count) < 0.08
    first[foreign] = rng.choice(pools.foreign_first, foreign.sum())
    last[foreign] = rng.choice(pools.foreign_last, foreign.sum())
    weights = 1.0 / (np.arange(len(pools.cities)) + 20.0)  # a few big towns, many small
    locality = rng.choice(len(pools.cities), count, p=weights / weights.sum())
    people = {
        "first_name": first, "last_name": last, "locality": locality,
        "birth": (np.datetime64("1940-01-01") + rng.integers(0, 65 * 365, count)).astype("M8[D]"),
        "house": rng.integers(1, 9999, count),
        "street": rng.integers(0, len(pools.streets), count),
        "landline": _phone_numbers(count, rng), "mobile": _phone_numbers(count, rng),
        "has_company": rng.random(count) < 0.25,
        "company": rng.choice(pools.companies, count),
        "tax_id": _PAD2[rng.integers(10, 99, count)] + "-" + _PAD3[rng.integers(0, 999, count)]
        + _PAD4[rng.integers(0, 9999, count)],
    }  # fmt: skip
    _make_families(people, rng, family_rate)
    _make_namesakes(people, rng, namesake_rate)
    people["email"] = _emails(people, rng)
    return people


def _phone_numbers(count: int, rng: np.random.Generator) -> np.ndarray:
    """Valid US numbers as 10-digit ints: real area codes, exchanges 200-999 without N11, 555."""
    exchange = rng.integers(200, 1000, count)
    bad = (exchange % 100 == 11) | (exchange == 555)
    exchange[bad] += 1
    area = rng.choice(_AREA_CODES, count).astype(np.int64)
    return area * 10_000_000 + exchange * 10_000 + rng.integers(0, 10000, count)


def _make_families(people: dict[str, np.ndarray], rng: np.random.Generator, rate: float) -> None:
    """Some people live with an earlier person: same last name, address and landline."""
    count = len(people["last_name"])
    member = np.flatnonzero(rng.random(count) < rate)
    member = member[member > 0]
    head = (rng.random(len(member)) * member).astype(np.int64)  # someone created earlier
    for key in ("last_name", "locality", "house", "street", "landline"):
        people[key][member] = people[key][head]


def _make_namesakes(people: dict[str, np.ndarray], rng: np.random.Generator, rate: float) -> None:
    count = len(people["last_name"])
    copy = np.flatnonzero(rng.random(count) < rate)
    copy = copy[copy > 0]
    other = (rng.random(len(copy)) * copy).astype(np.int64)
    people["first_name"][copy] = people["first_name"][other]
    people["last_name"][copy] = people["last_name"][other]
    nearby = rng.random(len(copy)) < 0.5
    people["locality"][copy[nearby]] = people["locality"][other[nearby]]


def _ascii(values: pd.Series) -> pd.Series:
    return values.str.normalize("NFKD").str.encode("ascii", "ignore").str.decode("ascii")


def _ascii_lower(values: pd.Series) -> pd.Series:
    return _ascii(values).str.lower().str.replace(r"[^a-z]", "", regex=True)


def _emails(people: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Unique personal e-mail addresses built from the name in one of several styles."""
    first = _map_unique(people["first_name"], _ascii_lower)
    last = _map_unique(people["last_name"], _ascii_lower)
    count = len(first)
    style = rng.integers(0, 5, count)
    initial = pd.Series(first, dtype=object).str[:1].to_numpy(dtype=object)
    user = np.select(
        [style == 0, style == 1, style == 2, style == 3],
        [first + "." + last, first + last, initial + last, first + "_" + last],
        default=last + "." + first,
    ).astype(object)
    numbered = rng.random(count) < 0.4
    user[numbered] = user[numbered] + rng.integers(1, 99, numbered.sum()).astype(str).astype(object)
    email = user + "@" + _pick(rng, _EMAIL_DOMAINS, count)
    # unique as mailboxes, not as text: john.smith@ and johnsmith@gmail.com are one inbox
    clash = normalize_email(pd.Series(email, dtype=object)).duplicated().to_numpy()
    email[clash] = (
        user[clash] + np.arange(count)[clash].astype(str).astype(object) + "@" + "mail.com"
    )
    return email


def _assign_records(n: int, entity_count: int, rng: np.random.Generator) -> np.ndarray:
    """Entity index of each of the `n` rows: each person has 1-4 records."""
    sizes = rng.choice(_RECORDS_PER_ENTITY[0], size=entity_count, p=_RECORDS_PER_ENTITY[1])
    entity = np.repeat(np.arange(entity_count), sizes)[:n]
    if len(entity) < n:  # pragma: no cover - the 10% margin makes this practically impossible
        raise RuntimeError("not enough people generated")
    return entity


def _assign_sources(
    entity: np.ndarray, rng: np.random.Generator, sources: tuple[str, ...]
) -> np.ndarray:
    """Records of one person go to different silos; a few land twice in the same one."""
    rank = np.arange(len(entity)) - np.searchsorted(entity, entity)
    offset = rng.integers(0, len(sources), entity.max() + 1)[entity]
    choice = (offset + rank) % len(sources)
    again = rng.random(len(entity)) < 0.05
    choice[again] = rng.integers(0, len(sources), again.sum())
    return np.asarray(sources, dtype=object)[choice]


# --- what each silo makes of a person ----------------------------------------------------------


def _render(
    rows: dict[str, np.ndarray], entity: np.ndarray, rng: np.random.Generator, pools: _Pools
) -> pd.DataFrame:
    """Turn true values into what each silo stores: formats, typos, gaps, stale data."""
    count = len(entity)
    source = rows["source"]
    first, last = _first_names(rows["first_name"].copy(), rng, pools), rows["last_name"].copy()
    first, last = _with_typos(first, rng, 0.05), _with_typos(last, rng, 0.04)
    swap = rng.random(count) < 0.02
    first[swap], last[swap] = last[swap], first[swap].copy()
    moved = rng.random(count) < 0.05
    locality = np.where(moved, rng.integers(0, len(pools.cities), count), rows["locality"])
    street = _streets(rows, moved, rng, pools)
    city, postcode = pools.cities[locality], pools.postcodes[locality]
    phone = _phones(np.where(rng.random(count) < 0.5, rows["landline"], rows["mobile"]), rng)
    frame = pd.DataFrame(dtype=object, data={
        "source": source, "entity_id": entity,
        "first_name": first, "last_name": last,
        "email": _emails_seen(rows["email"], rng),
        "phone": phone,
        "birth_date": _dates(rows["birth"], source, rng),
        "street": street, "city": _with_typos(city, rng, 0.02), "postal_code": postcode,
        "country": rng.choice(np.array(["US", "USA", "United States", None], dtype=object), count,
                              p=[0.5, 0.2, 0.1, 0.2]),
        "company": np.where(rows["has_company"], rows["company"], None),
        "tax_id": np.where(rows["has_company"] & (source == "accounting"), rows["tax_id"], None),
    })  # fmt: skip
    _apply_case(frame, rng)
    _blank_out(frame, rng)
    return frame


def _first_names(first: np.ndarray, rng: np.random.Generator, pools: _Pools) -> np.ndarray:
    """Nicknames (William -> Bill) on some records, and ASCII-only systems dropping accents."""
    nickname = np.flatnonzero(rng.random(len(first)) < 0.2)
    picks = rng.random(len(nickname))
    for row, r in zip(nickname, picks, strict=True):
        options = pools.nicknames.get(first[row])
        if options:
            first[row] = options[int(r * len(options))]
    return first


def _with_typos(values: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    """One random edit (substitute, delete, insert, transpose) in `rate` of the values."""
    out = values.copy()
    chosen = np.flatnonzero((rng.random(len(values)) < rate) & ~pd.isna(values))
    kinds, places = rng.integers(0, 4, len(chosen)), rng.random(len(chosen))
    letters = rng.choice(_LETTERS, len(chosen))
    out[chosen] = [
        _edit(str(values[i]), k, p, c)
        for i, k, p, c in zip(chosen, kinds, places, letters, strict=True)
    ]
    return out


def _edit(text: str, kind: int, place: float, letter: str) -> str:
    if len(text) < 3:
        return text
    i = 1 + int(place * (len(text) - 2))  # never the first letter: typos rarely hit it
    if kind == 0:
        return text[:i] + letter + text[i + 1 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    if kind == 2:
        return text[:i] + letter + text[i:]
    return text[: i - 1] + text[i] + text[i - 1] + text[i + 1 :]


def _streets(
    rows: dict[str, np.ndarray], moved: np.ndarray, rng: np.random.Generator, pools: _Pools
) -> np.ndarray:
    count = len(moved)
    house = np.where(moved, rng.integers(1, 9999, count), rows["house"])
    name = np.where(moved, rng.integers(0, len(pools.streets), count), rows["street"])
    short = rng.random(count) < 0.4
    street = _NUMBERS[house] + " " + np.where(short, pools.streets_short[name], pools.streets[name])
    apartment = rng.random(count) < 0.04
    street[apartment] = street[apartment] + " Apt " + _NUMBERS[rng.integers(1, 40, apartment.sum())]
    return _with_typos(street, rng, 0.03)


def _phones(number: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ten-digit numbers written the many ways people and systems write them, a few mistyped."""
    area, exchange = _PAD3[number // 10_000_000], _PAD3[(number // 10_000) % 1000]
    line = _PAD4[number % 10_000]
    style = rng.integers(0, 6, len(number))
    out = np.empty(len(number), dtype=object)
    formats = (
        lambda a, e, n: "(" + a + ") " + e + "-" + n,
        lambda a, e, n: a + "-" + e + "-" + n,
        lambda a, e, n: a + "." + e + "." + n,
        lambda a, e, n: "+1 " + a + " " + e + " " + n,
        lambda a, e, n: "1-" + a + "-" + e + "-" + n,
        lambda a, e, n: a + e + n,
    )
    for index, render in enumerate(formats):
        chosen = style == index
        out[chosen] = render(area[chosen], exchange[chosen], line[chosen])
    return _with_typos(out, rng, 0.02)


def _emails_seen(email: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Case noise, typos, and some people giving a second address."""
    out = _with_typos(email, rng, 0.02)
    other = rng.random(len(email)) < 0.08
    user = pd.Series(out[other], dtype=object).str.split("@").str[0].to_numpy(dtype=object)
    out[other] = (
        user + rng.integers(100, 999, other.sum()).astype(str).astype(object) + "@work.example.com"
    )
    upper = rng.random(len(email)) < 0.05
    out[upper] = pd.Series(out[upper], dtype=object).str.title().to_numpy(dtype=object)
    return out


def _dates(birth: np.ndarray, source: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each silo's own date format; a few typos and day/month swaps."""
    days = birth.astype("M8[D]")
    year = days.astype("M8[Y]").astype(int) + 1970
    month = (days.astype("M8[M]").astype(int) % 12) + 1
    day = (days - days.astype("M8[M]")).astype(int) + 1
    swap = (rng.random(len(days)) < 0.01) & (day <= 12)
    month, day = np.where(swap, day, month), np.where(swap, month, day)
    day = day + ((rng.random(len(days)) < 0.01) & (day < 28))
    y, m, d = _NUMBERS[year], _PAD2[month], _PAD2[day]
    style = pd.Series(source).map(_DATE_STYLE).fillna("iso").to_numpy()
    out = y + "-" + m + "-" + d
    for name, render in (
        ("dmy", lambda y, m, d: d + "/" + m + "/" + y),
        ("compact", lambda y, m, d: y + m + d),
        ("dotted", lambda y, m, d: d + "." + m + "." + y),
    ):
        chosen = style == name
        out[chosen] = render(y[chosen], m[chosen], d[chosen])
    return out


def _apply_case(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    """Each silo's habit of case (and accents: the accounting system is ASCII-only)."""
    style = frame["source"].map(_CASE_STYLE).fillna("title").to_numpy()
    shout = rng.random(len(frame)) < 0.03
    ascii_only = (frame["source"] == "accounting").to_numpy()
    for column in ("first_name", "last_name", "street", "city"):
        values = frame[column].to_numpy(dtype=object, copy=True)
        upper = (style == "upper") | shout
        lower = (style == "lower") & ~shout & (rng.random(len(frame)) < 0.5)
        values[upper] = _map_unique(values[upper], lambda v: v.str.upper())
        values[lower] = _map_unique(values[lower], lambda v: v.str.lower())
        values[ascii_only] = _map_unique(values[ascii_only], _ascii)
        frame[column] = pd.Series(values, index=frame.index, dtype=object)


_MISSING = {  # share of empty values per column and silo
    "email": {"accounting": 0.25, "default": 0.08},
    "phone": {"webshop": 0.3, "default": 0.1},
    "birth_date": {"webshop": 0.5, "support": 0.4, "default": 0.15},
    "street": {"support": 0.5, "default": 0.05},
    "city": {"support": 0.5, "default": 0.05},
    "postal_code": {"support": 0.5, "default": 0.05},
    "first_name": {"default": 0.01},
}


def _blank_out(frame: pd.DataFrame, rng: np.random.Generator) -> None:
    for column, rates in _MISSING.items():
        rate = frame["source"].map(rates).fillna(rates["default"]).to_numpy(dtype=float)
        frame.loc[rng.random(len(frame)) < rate, column] = None


def _with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-silo sequential source ids and readable entity ids, columns in `COLUMNS` order."""
    number = frame.groupby("source").cumcount() + 1
    prefix = _map_unique(frame["source"].to_numpy(dtype=object), lambda v: v.str[:3].str.upper())
    frame["source_id"] = prefix + "-" + _zero_padded(number.to_numpy())
    frame["entity_id"] = "E" + _zero_padded(frame["entity_id"].to_numpy())
    return frame.loc[:, list(COLUMNS)]


def _zero_padded(values: np.ndarray) -> np.ndarray:
    """Seven-digit zero-padded text of non-negative ints below 10**7."""
    values = np.asarray(values, dtype=np.int64)
    return _PAD3[values // 10_000 % 1000] + _PAD4[values % 10_000]
