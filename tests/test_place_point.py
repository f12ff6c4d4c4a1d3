"""The km answer beside a next-place ranking (sweepcast.models.place_point), on hand-made windows."""

from __future__ import annotations

import numpy as np
import pytest

from sweepcast.models.place_point import Places, PointRule, calibrate, miss_km, probabilities

KM_LAT = 1 / 111.2  # degrees of latitude per km


def places(probability, lat, last_lat) -> Places:
    probability, lat = np.atleast_2d(probability).astype(float), np.atleast_2d(lat).astype(float)
    last = np.atleast_1d(last_lat).astype(float)
    return Places(probability, lat, np.zeros_like(lat), last, np.zeros_like(last))


def test_the_point_most_likely_within_the_radius_wins_over_the_most_probable_place() -> None:
    # 0.4 on a place 5 km away; 0.35 + 0.25 on two places 0.2 km apart, 3 km away: the pair's side wins
    window = places([0.4, 0.35, 0.25], [5 * KM_LAT, 3 * KM_LAT, 3.2 * KM_LAT], 0.0)
    lat, _, stays = PointRule(radius_km=0.5, stay_mass=0.0).choose(window)
    assert np.isclose(lat[0], 3 * KM_LAT) and not stays[0]
    assert np.isclose(PointRule(0.0, 0.0).choose(window)[0][0], 5 * KM_LAT)  # radius 0: the top place
    # enough mass on "a place the model does not know, near where the user is": stay
    lat, _, stays = PointRule(radius_km=0.5, stay_mass=0.7).choose(window)
    assert lat[0] == 0.0 and stays[0]


def test_padding_is_never_chosen_and_chunks_agree() -> None:
    rng = np.random.default_rng(0)
    probability = probabilities(rng.normal(size=(9000, 4)), np.array([True, True, True, False]))
    assert np.allclose(probability.sum(axis=1), 1) and (probability[:, 3] == 0).all()
    lat = np.where(np.arange(4) < 3, rng.normal(size=(9000, 4)) * 0.01, np.nan)
    window = places(probability, lat, rng.normal(size=9000) * 0.01)
    chosen, _, stays = PointRule(1.0, 0.3).choose(window)
    assert np.isfinite(chosen).all()
    options = np.column_stack([lat[:, :3], window.last_lat])
    assert (np.isclose(options, chosen[:, None]).any(axis=1)).all()
    assert np.isclose(chosen[stays], window.last_lat[stays]).all()


def test_calibration_never_does_worse_on_validation_than_the_top_place() -> None:
    rng = np.random.default_rng(1)
    n = 500
    lat = rng.normal(size=(n, 5)) * 0.02
    truth = np.where(rng.random(n) < 0.5, lat[:, 1], rng.normal(size=n) * 0.003)  # often the 2nd place, or near 0
    probability = probabilities(rng.normal(size=(n, 5)), np.ones((n, 5), dtype=bool))
    window = places(probability, lat, np.zeros(n))
    outside = rng.random(n) < 0.5
    rule = calibrate(window, truth, np.zeros(n), outside=outside)
    moved = np.abs(truth) * 111.2  # km from the last check-in at (0, 0)
    expected = np.mean(outside & (moved < rule.radius_km)) / np.mean(~outside) if rule.radius_km else 0.0
    assert rule.stay_mass == pytest.approx(expected, rel=1e-3)  # measured: outside targets near the last check-in
    top = np.nanmedian(miss_km(PointRule(0.0, 0.5), window, truth, np.zeros(n)))
    assert np.nanmedian(miss_km(rule, window, truth, np.zeros(n))) <= top
    assert PointRule.from_json(rule.to_json()) == rule
