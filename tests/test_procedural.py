"""Procedural shoe types: determinism, fine-grained siblings, views and exact keypoints."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from shoekit.data.procedural import (
    FAMILIES, SIBLINGS_PER_DESIGN, VIEWS, ShoeType, make_shoe_types, render_cutout,
)

SIZE = 64
DESIGN_FIELDS = [f.name for f in dataclasses.fields(ShoeType) if f.name not in ("name", "changed")]


@pytest.fixture(scope="module")
def types() -> list[ShoeType]:
    return make_shoe_types(len(FAMILIES) * SIBLINGS_PER_DESIGN, seed=0)


def _views(shoe: ShoeType) -> np.ndarray:
    """All views of `shoe`, stacked: (len(VIEWS), SIZE, SIZE, 4) as int."""
    return np.stack([render_cutout(shoe, view, SIZE).rgba for view in VIEWS]).astype(int)


def test_types_are_deterministic_unique_and_cover_every_family(types):
    assert make_shoe_types(len(types), seed=0) == types
    assert make_shoe_types(len(types), seed=1) != types
    assert len(types) == len(FAMILIES) * SIBLINGS_PER_DESIGN
    assert len({t.name for t in types}) == len(types)
    assert {t.family for t in types} == set(FAMILIES)
    assert all(t.name.startswith(f"{t.family}_") for t in types)
    assert make_shoe_types(5, seed=0) == types[:5]


def test_siblings_change_exactly_one_detail_of_their_design(types):
    bases = {t.design: t for t in types if t.changed == ""}
    for shoe in types:
        base = bases[shoe.design]
        differing = [f for f in DESIGN_FIELDS if getattr(shoe, f) != getattr(base, f)]
        assert differing == ([] if shoe.changed == "" else [shoe.changed]), shoe


def test_siblings_look_slightly_different_designs_look_very_different(types):
    views = {shoe.name: _views(shoe) for shoe in types}
    bases = {shoe.design: shoe.name for shoe in types if shoe.changed == ""}
    sibling_differences = []
    for shoe in types:
        if shoe.changed:
            difference = np.abs(views[shoe.name] - views[bases[shoe.design]]).mean()
            assert difference > 0.02, (shoe.name, shoe.changed)  # the detail is visible
            sibling_differences.append(difference)
    base_names = list(bases.values())
    design_differences = [np.abs(views[a] - views[b]).mean()
                          for i, a in enumerate(base_names) for b in base_names[i + 1:]]
    assert np.median(sibling_differences) < 0.25 * np.median(design_differences)
    assert max(sibling_differences) < np.median(design_differences)


def test_rendering_is_deterministic(types):
    a = render_cutout(types[1], "three_quarter", SIZE)
    b = render_cutout(types[1], "three_quarter", SIZE)
    assert a.rgba.tobytes() == b.rgba.tobytes() and (a.toe, a.heel) == (b.toe, b.heel)


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_is_an_rgba_cutout_with_keypoints_on_the_shoe(types, view):
    for shoe in types[::SIBLINGS_PER_DESIGN]:
        cutout = render_cutout(shoe, view, SIZE)
        assert cutout.rgba.shape == (SIZE, SIZE, 4) and cutout.rgba.dtype == np.uint8
        alpha = cutout.rgba[..., 3]
        assert alpha[0].max() == 0 and alpha[-1].max() == 0  # a margin around the shoe
        assert (alpha >= 128).mean() > 0.08
        for x, y in (cutout.toe, cutout.heel):
            assert alpha[int(round(y)), int(round(x))] >= 128, (shoe.name, view, x, y)


def test_views_put_the_toe_where_their_names_say(types):
    shoe = types[0]
    left, right, front, back, three_quarter = (render_cutout(shoe, v, SIZE) for v in VIEWS)
    assert left.toe[0] < left.heel[0] and right.toe[0] > right.heel[0]
    assert three_quarter.toe[0] > three_quarter.heel[0]
    assert front.toe[1] > front.heel[1] and back.toe[1] < back.heel[1]
    np.testing.assert_array_equal(left.rgba, right.rgba[:, ::-1])


def test_side_views_are_long_and_end_on_views_narrow(types):
    def aspect(cutout) -> float:
        ys, xs = np.nonzero(cutout.rgba[..., 3] >= 128)
        return (np.ptp(xs) + 1) / (np.ptp(ys) + 1)

    shoe = types[0]
    assert aspect(render_cutout(shoe, "left", SIZE)) > 2.0
    assert aspect(render_cutout(shoe, "front", SIZE)) < 0.8
    assert 1.0 < aspect(render_cutout(shoe, "three_quarter", SIZE)) < aspect(render_cutout(shoe, "left", SIZE))


def test_bad_arguments_are_rejected(types):
    with pytest.raises(ValueError, match="unknown view 'top'"):
        render_cutout(types[0], "top")
    with pytest.raises(ValueError, match="at least 16 px"):
        render_cutout(types[0], "left", size=8)
    with pytest.raises(ValueError, match="count"):
        make_shoe_types(-1)
