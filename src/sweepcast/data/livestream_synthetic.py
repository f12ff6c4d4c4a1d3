"""A deterministic synthetic livestream in :func:`~sweepcast.data.livestream.read_livestream_csv`'s
flattened layout, so the pipeline and tests run without the real data (which may not be shipped).

:func:`~sweepcast.data.livestream.to_raw_layout` renders it back to the raw CSV layout, so a
synthetic file exercises the same reader as a real one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sweepcast.checks import integer
from sweepcast.data.livestream import (
    INDEX_NAME,
    LIVESTREAM_COLUMNS,
    NATURAL_PREFIX,
    NATURAL_SOURCES,
    PAID_PREFIX,
    PAID_SOURCES,
    TIME_FORMAT,
)
from sweepcast.errors import ConfigError

__all__ = ["generate_livestream"]

# Share of each natural sub-source in ``natural_all`` (order of NATURAL_SOURCES without
# ``all``), taken from the real file's means: followers and live recommendation dominate.
_NATURAL_SHARES: dict[str, float] = {
    "short_video": 0.0056,
    "mall_recommend": 0.0002,
    "live_recommend": 0.296,
    "search": 0.052,
    "profile_shop": 0.011,
    "other": 0.064,
    "toutiao_xigua": 0.0029,
    "activity_page": 0.0075,
    "follow": 0.561,
}
# Baseline paid rate per natural viewer, per paid sub-source (the real day averages 0.35 paid
# viewers/min, almost all Qianchuan PC); promotion bursts come on top.
_PAID_BASE: dict[str, float] = {
    "qianchuan_pc": 0.012,
    "other_ads": 0.0008,
    "qianchuan_brand": 0.0004,
    "brand_ads": 0.0004,
    "xiaodian_suixintui": 0.002,
}
# Which paid source a promotion push uses, and how often.
_BURST_SOURCE_P = np.array([0.65, 0.05, 0.03, 0.02, 0.25])
# Day-part multiplier knots (hour of day -> multiplier): quiet morning, noon bump, afternoon
# dip, evening peak, night tail.
_DAYPART_HOURS = np.array([0, 6, 9, 11, 12.5, 14, 16, 18, 20, 21.5, 23, 24], dtype=float)
_DAYPART_MULT = np.array(
    [0.9, 0.7, 0.8, 1.0, 1.05, 0.85, 0.85, 1.15, 1.4, 1.35, 1.1, 1.0], dtype=float
)
# Order prices in the file's GMV units (the real file's single-order GMVs).
_PRICES = np.array([8200, 9500, 12100, 12900, 16400, 25300, 25800, 34700, 35700, 36700.0])
_RETENTION = 0.6  # chance a viewer is still watching a minute later (mean stay 2.5 min)
_KERNEL_LEN = 48  # 0.6**48 ~ 2e-11: the retention kernel is exact to rounding


def generate_livestream(days: int = 62, seed: int = 0, start: str = "2019-10-01") -> pd.DataFrame:
    """A synthetic livestream in exactly :func:`read_livestream_csv`'s flattened layout.

    Why: the real data is one day and may not be shipped, yet the pipeline (cleaning,
    reindexing, windowing, sweeps) needs a realistic two-month stream to run and be tested.
    The structure mimics the real file so the cleaning step has real work to do:

    * one or two broadcast sessions a day (morning-to-noon, usually; afternoon-to-night,
      always) with jittered start/end, and *no rows* overnight or between sessions;
    * ~0.3% of minutes inside sessions missing (logging dropouts);
    * day level with weekend uplift and a slow trend, day-part multipliers (morning, noon,
      afternoon, evening peak, night), a warm-up at session start and wind-down at the end,
      and a per-session random walk;
    * paid promotion pushes: a few minutes to half an hour of raised paid traffic;
    * 2-4 "dead" days (never more than ``days // 7``, so none in a stream under a week)
      with one short session whose daily ``natural_all + paid_all`` is below 10;
    * Poisson counts per sub-source, summed into ``natural_all`` / ``paid_all``;
      ``WATCH_UCNT`` ~ ``natural_all + paid_all`` plus small noise; ``ONLINE_USER_CNT`` the
      watchers still in the room (geometric stay); ``LEAVE_UCNT`` the expected leavers of
      the previous minute's audience; comments, follows, fan-club joins and orders scale
      with the audience; ``PAY_UCNT <= PAY_CNT``; ``PAY_ORDER_GMV = PAY_CNT * price``;
      ``UV_VALUE = round(GMV / WATCH_UCNT)`` (0 without watchers), whole numbers as in the
      real file.

    The default 62 days give ~38,000 rows (~610 broadcast minutes a day, like the real
    file's 696) spanning ~88,000 minutes once reindexed. Deterministic for a ``seed``
    (``np.random.default_rng``) and vectorised: 62 days take a few tens of milliseconds. Raises ``ConfigError`` for ``days < 1`` or a bad ``start``.
    """
    n_days = integer("data.synthetic.days", days, 1)  # a bool or float is a config mistake, not a count
    try:
        first_day = pd.Timestamp(start).normalize()
    except (ValueError, TypeError):
        raise ConfigError("data.synthetic.start", "a date like '2019-10-01'", start) from None
    if pd.isna(first_day):
        raise ConfigError("data.synthetic.start", "a date like '2019-10-01'", start)
    rng = np.random.default_rng(seed)

    day_numbers = np.arange(n_days)
    weekday = ((first_day.day_of_week + day_numbers) % 7).astype(int)
    weekend = weekday >= 5

    n_dead = min(int(rng.integers(2, 5)), n_days // 7)
    dead = np.zeros(n_days, dtype=bool)
    dead[rng.choice(n_days, size=n_dead, replace=False)] = True

    # --- sessions: (day, start minute, end minute), two slots per day --------------------
    has_morning = (rng.random(n_days) < 0.75) & ~dead
    m_start = np.clip(480 + rng.normal(0, 25, n_days), 390, 600).round()
    m_end = np.clip(720 + rng.normal(0, 20, n_days), m_start + 60, 810).round()
    e_start = np.clip(960 + rng.normal(0, 40, n_days), 840, 1140).round()
    e_start = np.maximum(e_start, np.where(has_morning, m_end + 30, 0))
    e_end = np.clip(1425 + rng.normal(0, 10, n_days), e_start + 120, 1439).round()
    # A dead day: one short session somewhere in the day.
    d_start = rng.integers(600, 1200, n_days).astype(float)
    d_end = d_start + rng.integers(20, 91, n_days)
    e_start = np.where(dead, d_start, e_start)
    e_end = np.where(dead, d_end, e_end)

    s_day = np.concatenate([day_numbers[has_morning], day_numbers])
    s_start = np.concatenate([m_start[has_morning], e_start]).astype(np.int64)
    s_end = np.concatenate([m_end[has_morning], e_end]).astype(np.int64)
    by_time = np.lexsort((s_start, s_day))
    s_day, s_start, s_end = s_day[by_time], s_start[by_time], s_end[by_time]
    s_len = s_end - s_start
    n_sessions = len(s_len)

    # --- one row per session minute ------------------------------------------------------
    n = int(s_len.sum())
    first_row = np.concatenate([[0], np.cumsum(s_len)[:-1]])
    session = np.repeat(np.arange(n_sessions), s_len)
    pos = np.arange(n) - first_row[session]  # minute within session
    left = s_len[session] - pos  # minutes to session end (>= 1)
    day = s_day[session]
    minute_of_day = s_start[session] + pos

    # --- natural traffic rate -------------------------------------------------------------
    level = 12.5 * rng.lognormal(0.0, 0.15, n_days) * np.where(weekend, 1.25, 1.0)
    level *= 1.0 + 0.004 * day_numbers
    level = np.where(dead, 0.01, level)
    daypart = np.interp(minute_of_day / 60.0, _DAYPART_HOURS, _DAYPART_MULT)
    warm = (1.0 - np.exp(-(pos + 0.3) / 6.0)) * (1.0 - 0.5 * np.exp(-(left - 1) / 4.0))
    walk = np.cumsum(rng.normal(0.0, 0.03, n))
    walk = np.clip(walk - walk[first_row][session], -0.6, 0.6)  # restart each session
    rate = level[day] * daypart * warm * np.exp(walk + rng.normal(0.0, 0.08, n))

    shares = np.array(list(_NATURAL_SHARES.values()))
    natural_sub = rng.poisson(rate[:, None] * shares[None, :] / shares.sum())

    # --- paid traffic: baseline plus promotion pushes ------------------------------------
    live_days = np.flatnonzero(~dead)
    pushes = rng.poisson(1.3, len(live_days))
    b_day = np.repeat(live_days, pushes)
    day_first = np.searchsorted(day, np.arange(n_days))
    day_rows = np.searchsorted(day, np.arange(n_days), side="right") - day_first
    b_start = day_first[b_day] + (rng.random(len(b_day)) * day_rows[b_day]).astype(np.int64)
    b_end = np.minimum(
        b_start + rng.integers(5, 31, len(b_day)),
        first_row[session[b_start]] + s_len[session[b_start]],  # stop at the session end
    )
    b_source = rng.choice(len(_PAID_BASE), size=len(b_day), p=_BURST_SOURCE_P)
    b_height = rng.uniform(2.0, 10.0, len(b_day))
    steps = np.zeros((n + 1, len(_PAID_BASE)))
    np.add.at(steps, (b_start, b_source), b_height)
    np.add.at(steps, (b_end, b_source), -b_height)
    boost = np.cumsum(steps, axis=0)[:n].clip(min=0.0) * warm[:, None]
    paid_base = np.array(list(_PAID_BASE.values()))
    paid_sub = rng.poisson(rate[:, None] * paid_base[None, :] + boost)

    # A push also lifts the platform's live recommendation a little.
    natural_sub[:, 2] += rng.poisson(0.3 * boost.sum(axis=1))

    natural_all = natural_sub.sum(axis=1)
    paid_all = paid_sub.sum(axis=1)

    # Dead days must stay dead (< 10 visitors over the day) whatever the draws were.
    day_total = np.bincount(day, weights=natural_all + paid_all, minlength=n_days)
    silence = (dead & (day_total >= 10))[day]
    natural_sub[silence] = 0
    paid_sub[silence] = 0
    natural_all[silence] = 0
    paid_all[silence] = 0

    # --- audience -----------------------------------------------------------------------
    traffic = (natural_all + paid_all).astype(float)
    watch = np.maximum(traffic + np.round(rng.normal(0.0, 0.12 * traffic + 0.3)), 0.0)
    # Viewers still in the room: watchers of the last minutes, geometrically decaying. The
    # convolution runs over sessions padded apart by the kernel length so none leaks into
    # the next session.
    padded_at = np.arange(n) + session * _KERNEL_LEN
    padded = np.zeros(n + n_sessions * _KERNEL_LEN)
    padded[padded_at] = watch
    kernel = _RETENTION ** np.arange(_KERNEL_LEN)
    audience = np.convolve(padded, kernel)[: len(padded)][padded_at]
    online = np.round(audience * rng.lognormal(0.0, 0.05, n))
    previous = np.where(pos > 0, np.roll(audience, 1), 0.0)
    leave = rng.poisson((1.0 - _RETENTION) * previous).astype(float)
    comments = rng.poisson(0.09 * online).astype(float)
    fans = np.minimum(rng.poisson(0.008 * watch), watch)
    club = np.minimum(rng.poisson(0.0127 * watch), watch)
    pay_cnt = np.minimum(rng.poisson(0.0024 * watch * (1.0 + 0.05 * boost.sum(axis=1))), online)
    extra_buyers = rng.binomial(np.maximum(pay_cnt - 1, 0).astype(np.int64), 0.4)
    pay_ucnt = np.where(pay_cnt > 0, 1 + extra_buyers, 0).astype(float)
    gmv = pay_cnt * rng.choice(_PRICES, size=n)
    uv_value = np.round(np.divide(gmv, watch, out=np.zeros(n), where=watch > 0))

    # --- assemble, drop a few logging dropouts ------------------------------------------
    columns: dict[str, np.ndarray] = {
        "UV_VALUE": uv_value,
        "COMMENT_CNT": comments,
        "INCR_FANS_CNT": fans,
        "LEAVE_UCNT": leave,
        "FANS_CLUB_UCNT": club,
        "PAY_ORDER_GMV": gmv,
        "ONLINE_USER_CNT": online,
        "WATCH_UCNT": watch,
        "PAY_CNT": pay_cnt,
        "PAY_UCNT": pay_ucnt,
    }
    natural_slugs = list(_NATURAL_SHARES)
    for name in NATURAL_SOURCES.values():
        column = NATURAL_PREFIX + name
        columns[column] = (
            natural_all if name == "all" else natural_sub[:, natural_slugs.index(name)]
        )
    paid_slugs = list(_PAID_BASE)
    for name in PAID_SOURCES.values():
        column = PAID_PREFIX + name
        columns[column] = paid_all if name == "all" else paid_sub[:, paid_slugs.index(name)]

    keep = (rng.random(n) >= 0.003) | (pos == 0)
    minutes = day * 1440 + minute_of_day
    stamps = first_day + pd.to_timedelta(minutes[keep], unit="min")
    index = pd.DatetimeIndex(stamps, name=INDEX_NAME).as_unit(_time_unit())
    frame = pd.DataFrame(
        {name: np.asarray(values, dtype=np.float64)[keep] for name, values in columns.items()},
        index=index,
    )
    return frame[list(LIVESTREAM_COLUMNS)]


def _time_unit() -> str:
    """The resolution ``pd.to_datetime`` gives the raw timestamps, so both sources agree."""
    return pd.to_datetime(pd.Series(["2019-12-02 08:12:00"]), format=TIME_FORMAT).dt.unit
